"""build-corpus at growing input sizes: is the cost linear and the memory flat?

Synthesises WARC sets of about 50, 200 and 800 MB (gzipped) from the five shared sites: each
page as it is and in mirrored copies on other hosts, each copy either an
exact copy, a near-duplicate (one paragraph dropped, a revision line added) or a mixed-language
page (an English paragraph added), and every page of a copy carrying the mirrors' navigation
line (boilerplate).  Then runs ``swelm build-corpus`` (the relaxed per-site filters of
bench/pipeline.py, so pages are kept and dedup has work) with 1 and 2 local workers and prints,
per run: documents/s, MB/s of WARC per core, the peak RSS of the driver and of each worker
process (VmHWM, sampled from /proc), and the largest band group compared on one worker
(``stats.json`` ``largest_band_group``; the cap is ``--max-bucket``, 1000), and the bytes
through the shuffles per MB of WARC, in all and per shuffle (each element's pickled size on its
way into a GroupByKey, counted with SWELM_SHUFFLE_METRICS: pipelines/beam_util.shuffle).  Each page appears
in ``--versions`` versions (30), taken page by page in a site-interleaved order, so every set
has the same mix of sites and of duplicates.

Targets: MB/s per core at the largest size within 15% of the smallest (linear cost); worker
peak RSS flat with input size; no band group over the cap.  Run
``python -m bench.scale [--sizes 50,200,800] [--workers 1,2]``.
"""
from __future__ import annotations

import argparse
import glob
import io
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time

from bench._common import ROOT, SITES, emit, site_pages

ENGLISH = (b"<p>This section has not been translated yet. The options below are described in "
           b"the English manual; please refer to it for the full list of settings and their "
           b"default values, which may change between releases.</p>")
_PARA = re.compile(rb"<p[ >].*?</p>", re.S | re.I)
_BODY = re.compile(rb"<body[^>]*>", re.I)


#: the kinds of mirrored copy perturbed() makes
COPY_KINDS = ("exact", "near", "mixed")


def perturbed(html: bytes, copy: int, rng: random.Random) -> tuple[str, bytes]:
    """``(kind, page)``: page ``html`` as mirror ``copy`` serves it (encoding-safe byte edits:
    ``<`` is never a trail byte of Shift_JIS), ``kind`` one of COPY_KINDS."""
    nav = b'<div class="mirror-nav">Mirror site: Home | Download | Contact | Sitemap</div>'

    draw = rng.random()
    kind = COPY_KINDS[0 if draw < 0.4 else 1 if draw < 0.8 else 2]
    if kind == "exact":
        body = html                                 # an exact copy on another host
    elif kind == "near":                            # a near-duplicate
        paras = list(_PARA.finditer(html))
        body = html
        if len(paras) > 3:
            m = paras[rng.randrange(len(paras))]
            body = html[:m.start()] + html[m.end():]
        body = body.replace(b"</body>", f"<p>Revision {copy}.{rng.randrange(1000)}</p>"
                            .encode() + b"</body>", 1)
    else:                                           # a mixed-language page
        body = html.replace(b"</body>", ENGLISH + b"</body>", 1)
    m = _BODY.search(body)
    return kind, body[:m.end()] + nav + body[m.end():] if m else nav + body


def synthesise(folder: str, target_mb: float, pages: list, versions: int,
               file_mb: float = 64.0) -> tuple[int, float]:
    """Write WARC files of about ``target_mb`` MB into ``folder``; (records, MB).  ``pages``
    (site-interleaved) are taken in order, each with ``versions`` versions (the page and its
    mirrored copies), so every set has the same mix of sites and duplicates, whatever its
    size."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter
    os.makedirs(folder, exist_ok=True)
    done, records, n_file, f, w = 0, 0, 0, None, None
    for i, (name, html) in enumerate(pages):
        if done + (f.tell() if f else 0) >= target_mb * 1e6:
            break
        if f is None or f.tell() >= file_mb * 1e6:
            if f is not None:
                done += f.tell()
                f.close()
            f = open(os.path.join(folder, f"mirror-{n_file:05d}.warc.gz"), "wb")
            w = WARCWriter(f, gzip=True)
            n_file += 1
        rng = random.Random(i)
        for copy in range(versions):
            host = "127.0.0.1" if copy == 0 else f"mirror{copy}.example"
            body = html if copy == 0 else perturbed(html, copy, rng)[1]
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html"),
                                               ("Content-Length", str(len(body)))],
                                    protocol="HTTP/1.1")
            w.write_record(w.create_warc_record(f"http://{host}/{name}", "response",
                                                payload=io.BytesIO(body), http_headers=http))
            records += 1
    if f is not None:
        done += f.tell()
        f.close()
    return records, done / 1e6


def rules(path: str) -> None:
    """The five sites on any host, with bench/pipeline.py's relaxed filters (scilab keeps the
    defaults)."""
    from swelm.corpus_tools.filter import TEXT_RULES
    open_ = {k: (0 if k.startswith("min_") else 1e9) for k in TEXT_RULES}
    docs = dict(open_, min_japanese_ratio=0.3, min_length=100, min_hiragana_ratio=0.05)
    relaxed = "filters = { " + ", ".join(f"{k} = {v}" for k, v in docs.items()) + " }\n"
    with open(path, "w", encoding="utf-8") as f:
        for n in SITES:
            f.write(f'[[sites]]\nname = "{n}"\nseeds = ["http://127.0.0.1/{n}/"]\n'
                    f'allow = ["^http://[^/]+/{n}/"]\ngenre = "docs"\n')
            if not n.startswith("scilab"):
                f.write(relaxed)
            f.write("\n")


class PeakRss:
    """Samples the peak resident set (VmHWM) of a process and its descendants."""

    def __init__(self, pid: int, every: float = 0.2):
        self.pid, self.every, self.peak, self.cmd, self.cpu = pid, every, {}, {}, {}
        self.tick = os.sysconf("SC_CLK_TCK")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree(self) -> list[int]:
        children = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                children.setdefault(ppid, []).append(int(entry))
        out, todo = [], [self.pid]
        while todo:
            p = todo.pop()
            out.append(p)
            todo += children.get(p, [])
        return out

    def _run(self) -> None:
        while not self._stop.is_set():
            for p in self._tree():
                try:
                    with open(f"/proc/{p}/status") as f:
                        hwm = next(int(line.split()[1]) for line in f
                                   if line.startswith("VmHWM:"))
                    if p not in self.cmd:
                        with open(f"/proc/{p}/cmdline", "rb") as f:
                            self.cmd[p] = f.read().replace(b"\0", b" ").decode(errors="replace")
                    with open(f"/proc/{p}/stat") as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                    # utime + stime of the process itself (its children are sampled apart)
                    self.cpu[p] = (int(fields[11]) + int(fields[12])) / self.tick
                except (OSError, StopIteration, ValueError, IndexError):
                    continue
                self.peak[p] = max(self.peak.get(p, 0), hwm)
            self._stop.wait(self.every)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.cpu_seconds = sum(self.cpu.values())

    def split(self) -> tuple[float, list[float]]:
        """(driver MB, [worker MB, ...]): Python processes that run Beam's worker harness."""
        # Beam's worker harnesses (the small helper processes beside them are left out)
        workers = [self.peak[p] / 1024 for p in sorted(self.peak)
                   if p != self.pid and "worker" in self.cmd.get(p, "")
                   and self.peak[p] > 64 << 10]
        return self.peak.get(self.pid, 0) / 1024, workers


def measured_run(cmd: list[str], env: dict | None = None) -> tuple[float, "PeakRss"]:
    """Run ``cmd`` in the repository, sampling its process tree: ``(wall seconds, the
    stopped PeakRss)``; a failure ends the bench with the command's last stderr lines."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=env)
    rss = PeakRss(proc.pid)
    _, err = proc.communicate()
    seconds = time.perf_counter() - t0
    rss.stop()
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd[:4])} failed: {err.decode(errors='replace')[-3000:]}")
    return seconds, rss


def build(warcs: str, sites: str, out: str, workers: int, extra: list[str],
          stage_times: str | None = None) -> dict:
    swelm = (["-m", "bench.stage_times", stage_times] if stage_times else ["-m", "swelm"])
    cmd = [sys.executable, *swelm, "build-corpus", "--warc", warcs, "--sites", sites,
           "--out", out, "--workers", str(workers), *extra]
    shuffles = out.rstrip("/") + ".shuffles.json"
    seconds, rss = measured_run(cmd, dict(os.environ, SWELM_SHUFFLE_METRICS=shuffles))
    driver, worker = rss.split()
    with open(os.path.join(out, "stats.json"), encoding="utf-8") as f:
        stats = json.load(f)
    with open(shuffles, encoding="utf-8") as f:
        shuffled = json.load(f)
    return {"seconds": seconds, "cpu_seconds": rss.cpu_seconds, "stats": stats,
            "driver_mb": driver, "worker_mb": worker, "shuffles": shuffled}


def _stage_name(fused: str) -> str:
    """A short name of a fused stage: the transform that reads its input."""
    m = re.search(r"\(([\w-]+(?:/[\w-]+)*)/Read\)|ref_AppliedPTransform_([\w-]+?)_\d+", fused)
    return (m.group(1) or m.group(2)) if m else fused[:60]


def scale_pages() -> list:
    """The shared sites' pages, interleaved in proportion to the sites' sizes (so any prefix
    has the same mix), each site's in a seeded random order."""
    by_site = [[(f"{s}/{name.split('/', 1)[1] if '/' in name else name}", html)
                for name, html in site_pages(s)] for s in SITES]
    for i, items in enumerate(by_site):
        random.Random(i).shuffle(items)
    return [p for _, p in sorted(
        ((k / len(items), j), page) for j, items in enumerate(by_site)
        for k, page in enumerate(items))]


def warc_set(tmp: str, size: float, versions: int = 30) -> tuple[str, float]:
    """``(folder, MB)`` of the WARC set of about ``size`` MB in ``tmp/warc-SIZE``: the one
    synthesised there before with the same settings, or a new one."""
    folder = os.path.join(tmp, f"warc-{int(size)}")
    done = os.path.join(folder, "synthesised.json")
    made = {"target_mb": size, "versions": versions}
    kept = {}
    if os.path.exists(done):
        with open(done, encoding="utf-8") as f:
            kept = json.load(f)
    if kept.get("made") == made:
        return folder, kept["mb"]
    for old in glob.glob(os.path.join(folder, "*.warc.gz")):
        os.remove(old)
    t0 = time.perf_counter()
    records, mb = synthesise(folder, size, scale_pages(), versions)
    emit(bench="scale_synthesise", target_mb=size, records=records,
         warc_mb_gz=round(mb, 1), seconds=round(time.perf_counter() - t0, 1))
    with open(done, "w") as f:
        json.dump({"made": made, "records": records, "mb": mb}, f)
    return folder, mb


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="50,200,800", help="WARC set sizes in MB")
    ap.add_argument("--workers", default="1,2", help="local worker counts")
    ap.add_argument("--versions", type=int, default=30,
                    help="versions of each page: itself and its mirrored copies")
    ap.add_argument("--shard-mb", type=int, default=16,
                    help="MB of WARC input per Parquet shard (--shards grows with the input)")
    ap.add_argument("--extra", default="", help="extra build-corpus flags")
    ap.add_argument("--keep", default=None, help="keep the WARC sets and outputs here")
    ap.add_argument("--stage-times", action="store_true",
                    help="record the runner's seconds and the workers' memory per fused "
                         "stage (bench/stage_times.py) and print the six largest of each")
    ap.add_argument("--repeat", type=int, default=1,
                    help="rounds of every configuration, interleaved (the best counts)")
    args = ap.parse_args(argv)
    sizes = [float(s) for s in args.sizes.split(",")]
    counts = [int(w) for w in args.workers.split(",")]
    tmp = args.keep or tempfile.mkdtemp(prefix="swelm-scale-")
    os.makedirs(tmp, exist_ok=True)
    sites = os.path.join(tmp, "sites.toml")
    rules(sites)
    sets = {size: warc_set(tmp, size, args.versions) for size in sizes}
    # every size and worker count once per round, the rounds one after the other, so a drift
    # in the machine's speed touches every configuration alike; the best of the rounds counts
    best: dict = {}
    for rnd in range(args.repeat):
        for size in sizes:
            folder, mb = sets[size]
            # shards grow in number with the input: each is written by one worker
            shards = ["--shards", str(max(4, -(-int(mb) // args.shard_mb)))]
            for w in counts:
                times = (os.path.join(tmp, f"stages-{int(size)}-{w}-{rnd}.json")
                         if args.stage_times else None)
                r = build(os.path.join(folder, "*.warc.gz"), sites,
                          os.path.join(tmp, f"out-{int(size)}-{w}"), w,
                          shards + args.extra.split(), times)
                st = r["stats"]
                docs = sum(s["in_docs"] for s in st["sites"].values())
                row = dict(bench="scale_build_corpus", round=rnd, warc_mb_gz=round(mb, 1),
                           workers=w, documents=docs, kept=st["kept"]["docs"],
                           exact_dups=st["rules"].get("exact_duplicate", 0),
                           near_dups=st["rules"].get("near_duplicate", 0),
                           seconds=round(r["seconds"], 1),
                           cpu_seconds=round(r["cpu_seconds"], 1),
                           docs_per_s=round(docs / r["seconds"], 1),
                           mb_per_s_per_core=round(mb / r["seconds"] / w, 3),
                           mb_per_cpu_s=round(mb / r["cpu_seconds"], 3),
                           driver_peak_rss_mb=round(r["driver_mb"]),
                           worker_peak_rss_mb=[round(x) for x in r["worker_mb"]],
                           largest_band_group=st.get("largest_band_group"),
                           shuffle_mb_per_warc_mb=round(sum(
                               v["bytes"] for v in r["shuffles"].values()) / 1e6 / mb, 3),
                           shuffle_mb_per_warc_mb_by_shuffle=dict(sorted(
                               ((k, round(v["bytes"] / 1e6 / mb, 3))
                                for k, v in r["shuffles"].items()), key=lambda kv: -kv[1])))
                if times:
                    with open(times, encoding="utf-8") as f:
                        stages = json.load(f)
                    row["stage_seconds"] = dict(list(
                        (_stage_name(k), v[0]) for k, v in stages.items())[:6])
                    row["stage_worker_mb"] = dict(sorted(
                        ((_stage_name(k), v[2]) for k, v in stages.items() if len(v) > 2),
                        key=lambda kv: -kv[1])[:6])
                emit(**row)
                old = best.get((size, w))
                best[(size, w)] = row if old is None else {
                    **row, **{k: max(old[k], row[k])
                              for k in ("mb_per_s_per_core", "mb_per_cpu_s")},
                    **{k: min(old[k], row[k]) for k in ("seconds", "cpu_seconds")}}
    for w in counts:
        small, large = best[(sizes[0], w)], best[(sizes[-1], w)]
        emit(bench="scale_linearity", workers=w, small_mb=sizes[0], large_mb=sizes[-1],
             rounds=args.repeat,
             ratio=round(large["mb_per_s_per_core"] / small["mb_per_s_per_core"], 3),
             cpu_ratio=round(large["mb_per_cpu_s"] / small["mb_per_cpu_s"], 3),
             worker_rss_ratio=round(max(large["worker_peak_rss_mb"] or [0])
                                    / max(max(small["worker_peak_rss_mb"] or [1]), 1), 2),
             target="ratio ≥ 0.85")

if __name__ == "__main__":
    main()
