"""The Beam pipelines end to end: the demo site, determinism, restart after SIGKILL, resume,
a hostile server, and the shared sites (skipped when absent)."""
from __future__ import annotations

import glob
import hashlib
import json
import os
import signal
import subprocess
import sys
import tarfile
import time

import pyarrow.parquet as pq
import pytest

from conftest import ROOT, shared
from httpkit import ScriptedHandler, start, stop
from swelm.cli import main
from swelm.pipelines.demo_site import SITES_TOML, render, serve

pytest.importorskip("apache_beam")


def table(folder: str) -> list[dict]:
    rows = []
    for path in sorted(glob.glob(os.path.join(folder, "*.parquet"))):
        rows += pq.read_table(path).to_pylist()
    return sorted(rows, key=lambda r: r["id"])


def digest(folder: str) -> dict:
    out = {}
    for path in sorted(glob.glob(os.path.join(folder, "**", "*"), recursive=True)):
        if os.path.isfile(path) and not path.endswith(".png"):
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return out


def no_temporaries(folder: str) -> bool:
    return not [p for p in glob.glob(os.path.join(folder, "**", "*"), recursive=True)
                if ".tmp" in os.path.basename(p) or "beam-temp" in p]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["pipeline", "--demo", "--out", str(out), "--seq-len", "128"]) == 0
    return out


def test_demo_pipeline_end_to_end(demo):
    corpus = table(demo / "build" / "corpus")
    rows = table(demo / "build" / "rejected")
    # a page's row, and beside it the rows of the lines the classifier took out of it
    rejected = [r for r in rows if not r["rule"].startswith("paragraph_")]
    lines = [r for r in rows if r["rule"].startswith("paragraph_")]
    by_url = {r["url"].rsplit("/", 1)[1]: r for r in corpus + rejected}
    assert len(by_url) == len(corpus) + len(rejected)
    assert {r["url"] for r in lines} <= {r["url"] for r in corpus + rejected}
    assert any("ホーム" in r["text"] for r in lines)
    assert by_url["shogi.html"]["rule"] is None and "将棋は二人で対局する" in by_url["shogi.html"]["text"]
    assert by_url["english.html"]["rule"] == "min_japanese_ratio"
    dup = {by_url["tea.html"]["rule"], by_url["tea-copy.html"]["rule"]}
    assert dup == {None, "exact_duplicate"}
    for r in corpus:
        assert "ホーム" not in r["text"] and "無断転載" not in r["text"], r["url"]
        assert r["weight"] == 1.0 and "boilerplate_chars" in json.loads(r["metrics"])
    stats = json.loads((demo / "build" / "stats.json").read_text())
    site = stats["sites"]["demo"]
    assert site["in_docs"] == site["kept_docs"] + sum(v["docs"] for v in site["rejected"].values())
    assert site["kept_docs"] == len(corpus) and stats["rejected_docs"] == len(rejected)
    assert (demo / "build" / "stats.md").exists() and (demo / "build" / "plots" / "sites.png").exists()
    manifest = json.loads((demo / "shards" / "manifest.json").read_text())
    from swelm.tokenizer import SWEEncoder
    enc = SWEEncoder.load()
    assert manifest["vocabulary"]["sha256"] == enc.vocab.sha256
    assert manifest["tokens"] > 500 and manifest["tokens_per_genre"]["blog"] == manifest["tokens"]
    from swelm.tokenizer.shards import iter_rows
    rows = list(iter_rows(str(demo / "shards")))
    assert all(r.size <= 128 for r in rows) and sum(r.size for r in rows) == manifest["tokens"]
    assert "将棋" in enc.decode([int(t) for r in rows for t in r])
    assert no_temporaries(str(demo))
    log = [json.loads(l) for p in glob.glob(str(demo / "crawl" / "log" / "*.jsonl")) for l in open(p)]
    assert len(log) == 16 and all(r["outcome"] == "ok" for r in log)


def test_determinism_across_workers(demo, tmp_path):
    warc = str(demo / "crawl" / "warc" / "*.warc.gz")
    sites = str(demo / "sites.toml")
    for name, workers in (("a", "1"), ("b", "2")):
        assert main(["build-corpus", "--warc", warc, "--sites", sites, "--out",
                     str(tmp_path / name), "--workers", workers]) == 0
        assert main(["encode", "--corpus", str(tmp_path / name / "corpus" / "*.parquet"),
                     "--out", str(tmp_path / name / "shards"), "--seq-len", "64",
                     "--workers", workers]) == 0
    a, b = digest(str(tmp_path / "a")), digest(str(tmp_path / "b"))
    assert a == b and any(k.startswith("corpus/") for k in a) and "shards/manifest.json" in a


def test_shuffle_metrics_measure_every_shuffle_and_change_nothing(demo, tmp_path,
                                                                 monkeypatch):
    """With SWELM_SHUFFLE_METRICS (the benchmarks' switch) a build writes the bytes and
    elements each shuffle carried, and its outputs are the same bytes as without it."""
    warc = str(demo / "crawl" / "warc" / "*.warc.gz")
    sites = str(demo / "sites.toml")
    assert main(["build-corpus", "--warc", warc, "--sites", sites, "--out",
                 str(tmp_path / "plain"), "--workers", "2"]) == 0
    monkeypatch.setenv("SWELM_SHUFFLE_METRICS", str(tmp_path / "shuffles.json"))
    assert main(["build-corpus", "--warc", warc, "--sites", sites, "--out",
                 str(tmp_path / "metered"), "--workers", "2"]) == 0
    assert digest(str(tmp_path / "plain")) == digest(str(tmp_path / "metered"))
    counts = json.loads((tmp_path / "shuffles.json").read_text())
    for name in ("GroupUrl", "GroupChosen", "GroupBands", "JoinSignatures", "JoinDups",
                 "GroupDecisions"):
        assert counts[name]["elements"] > 0 and counts[name]["bytes"] > counts[name]["elements"]


def test_documents_cross_no_shuffle(tmp_path, monkeypatch):
    """Pages are staged, not shuffled: on long pages (about 60 kB of text each), everything
    the shuffles carry together is well under the texts' bytes (a document through one
    shuffle alone would carry them all).  What they carry is mostly line keys (about 20 and
    35 bytes per line of 61 characters, for the boilerplate and containment tables); every
    other shuffle carries a few hundred bytes per page at most."""
    import io
    import random

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter
    rng = random.Random(0)
    kana = "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわを"
    warc = tmp_path / "long.warc.gz"
    with open(warc, "wb") as f:
        w = WARCWriter(f, gzip=True)
        for i in range(12):
            paras = "".join("<p>" + "".join(rng.choice(kana) for _ in range(60)) + "。</p>"
                            for _ in range(330))
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                                    protocol="HTTP/1.1")
            w.write_record(w.create_warc_record(
                f"http://example.jp/{i}", "response", http_headers=http,
                payload=io.BytesIO(f"<html><body>{paras}</body></html>".encode())))
    sites = tmp_path / "sites.toml"
    sites.write_text('[[sites]]\nname = "s"\nseeds = ["http://example.jp/"]\ngenre = "novel"\n'
                     "filters = { min_mean_sentence_length = 0, max_mean_sentence_length = 1e9 }\n",
                     encoding="utf-8")
    monkeypatch.setenv("SWELM_SHUFFLE_METRICS", str(tmp_path / "shuffles.json"))
    assert main(["build-corpus", "--warc", str(warc), "--sites", str(sites), "--out",
                 str(tmp_path / "out"), "--workers", "2"]) == 0
    texts = sum(len((r["text"] or "").encode()) for part in ("corpus", "rejected")
                for r in table(tmp_path / "out" / part))
    counts = json.loads((tmp_path / "shuffles.json").read_text())
    shuffled = sum(c["bytes"] for c in counts.values())
    assert len(table(tmp_path / "out" / "corpus")) == 12
    assert shuffled < 0.4 * texts, (shuffled, texts, counts)
    pages = 12
    for name, c in counts.items():
        if name not in ("GroupLines", "GroupLineTables"):
            assert c["bytes"] < 1000 * pages, (name, c)


def test_other_runners_path_gives_the_same_corpus(demo, tmp_path):
    """With ``--runner`` the pipeline takes its other-runner path (one key per WARC file, the
    filter fed without the local runner's balancing shuffle): the same bytes as the default."""
    warc = str(demo / "crawl" / "warc" / "*.warc.gz")
    sites = str(demo / "sites.toml")
    assert main(["build-corpus", "--warc", warc, "--sites", sites, "--out",
                 str(tmp_path / "local")]) == 0
    assert main(["build-corpus", "--warc", warc, "--sites", sites, "--out",
                 str(tmp_path / "other"), "--runner", "BundleBasedDirectRunner"]) == 0
    a, b = digest(str(tmp_path / "local")), digest(str(tmp_path / "other"))
    assert a == b and any(k.startswith("corpus/") for k in a)


def _cmd(*args):
    return [sys.executable, "-c", "import sys; from swelm.cli import main; sys.exit(main())",
            *args]


def _kill_after(seconds: float, *args: str) -> None:
    """Start ``swelm ARGS`` and SIGKILL it (and its workers) after ``seconds``."""
    proc = subprocess.Popen(_cmd(*args), cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(seconds)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def test_restart_after_sigkill(demo, tmp_path):
    warc = str(demo / "crawl" / "warc" / "*.warc.gz")
    args = ["build-corpus", "--warc", warc, "--sites", str(demo / "sites.toml"), "--shards", "3"]
    ref = tmp_path / "ref"
    assert main([*args, "--out", str(ref)]) == 0
    out = tmp_path / "killed"
    _kill_after(2.5, *args, "--out", str(out))
    assert main([*args, "--out", str(out)]) == 0
    assert digest(str(out)) == digest(str(ref))
    assert no_temporaries(str(out))


def test_crawl_resume_skips_captured(tmp_path):
    site = tmp_path / "site"
    render(str(site))
    httpd, base = serve(str(site))
    try:
        rules = tmp_path / "sites.toml"
        rules.write_text(SITES_TOML.format(base=base).replace("max_pages = 100", "max_pages = 5"))
        out = tmp_path / "crawl"
        assert main(["crawl", "--sites", str(rules), "--out", str(out)]) == 0
        first = {json.loads(l)["url"] for p in glob.glob(str(out / "log" / "*.jsonl")) for l in open(p)}
        assert len(first) == 5
        rules.write_text(SITES_TOML.format(base=base))
        assert main(["crawl", "--sites", str(rules), "--out", str(out)]) == 0
        logs = sorted(glob.glob(str(out / "log" / "*.jsonl")))
        assert len(logs) == 2
        second = [json.loads(l)["url"] for l in open(logs[1])]
        assert not set(second) & first and len(first) + len(second) == 16
    finally:
        httpd.shutdown()
        httpd.server_close()


class Hostile(ScriptedHandler):
    def do_GET(self):
        p = self.path
        links = "".join(f'<a href="{x}">{x}</a> ' for x in (
            "/private/a", "/slow", "/err500", "/busy", "/loop1", "/huge", "/sjis", "/stall",
            "/cut", "/gen/0"))
        if p == "/robots.txt":
            self.send(200, b"User-agent: *\nDisallow: /private/\n", "text/plain")
        elif p == "/":
            self.send(200, f"<html><body><p>入口のページです。</p>{links}</body></html>".encode())
        elif p == "/slow":
            time.sleep(3)
            self.send(200, b"late")
        elif p == "/err500":
            self.send(500, b"error")
        elif p == "/busy":
            self.send(429, b"busy", headers=[("Retry-After", "1")])
        elif p.startswith("/loop"):
            self.send(302, headers=[("Location", "/loop2" if p == "/loop1" else "/loop1")])
        elif p == "/huge":
            self.send(200, b"<p>" + b"x" * (50 << 20))
        elif p == "/sjis":
            self.send(200, "<p>本文は日本語です。</p>".encode("cp932"), "text/html; charset=utf-8")
        elif p in ("/stall", "/cut"):
            # /stall: no Content-Length, half a page (cut inside a character), then silence
            # past the time limit; /cut: a Content-Length of 4000 and the connection closed
            # after 300 bytes
            body = ("<p>" + "途中で止まる本文です。" * 40).encode()[:301]
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Connection", "close")
            if p == "/cut":
                self.send_header("Content-Length", "4000")
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            if p == "/stall":
                time.sleep(3)
            self.close_connection = True
        elif p.startswith("/gen/"):
            n = int(p.rsplit("/", 1)[1])
            self.send(200, f'<p>生成 {n}</p><a href="/gen/{n + 1}">次</a><a href="/gen/{n + 2}">次の次</a>'.encode())
        else:
            self.send(404, b"")


def test_hostile_server_crawl_finishes_within_limits(tmp_path):
    httpd, base = start(Hostile)
    base += "/"
    rules = tmp_path / "sites.toml"
    rules.write_text(f"""[[sites]]
name = "hostile"
seeds = ["{base}"]
genre = "other"
politeness = {{ requests_per_second = 100, concurrency = 4, max_pages = 30, max_bytes = 1000000, timeout = 2, retries = 1 }}
""")
    out = tmp_path / "crawl"
    t = time.monotonic()
    try:
        assert main(["crawl", "--sites", str(rules), "--out", str(out)]) == 0
    finally:
        stop(httpd)
    assert time.monotonic() - t < 60
    log = {json.loads(l)["url"].replace(base, "/"): json.loads(l)
           for p in glob.glob(str(out / "log" / "*.jsonl")) for l in open(p)}
    assert len(log) == 30                                       # max_pages honoured
    assert "/private/a" not in log or log["/private/a"]["outcome"] == "robots_disallowed"
    assert log["/slow"]["outcome"] == "timeout"
    assert log["/err500"]["outcome"] == "http_error" and log["/busy"]["status"] == 429
    assert log["/loop1"]["outcome"] == "redirect_loop"
    assert log["/huge"]["outcome"] == "too_large"
    assert log["/sjis"]["outcome"] == "ok"
    assert log["/stall"]["outcome"] == "timeout" and log["/cut"]["outcome"] == "connection_error"
    # the cut pages' records say so (WARC 1.1's WARC-Truncated), as the size-capped one does
    from warcio.archiveiterator import ArchiveIterator
    cut = {}
    for path in glob.glob(str(out / "warc" / "*.warc.gz")):
        with open(path, "rb") as f:
            for rec in ArchiveIterator(f):
                if rec.rec_type == "response":
                    url = rec.rec_headers.get_header("WARC-Target-URI").replace(base, "/")
                    cut[url] = rec.rec_headers.get_header("WARC-Truncated")
    assert (cut["/huge"], cut["/stall"], cut["/cut"], cut["/sjis"]) == (
        "length", "time", "disconnect", None)
    summary = json.loads((out / "crawl-summary.json").read_text())[0]
    assert sum(summary["this_run"].values()) == 30 and summary["frontier_left"] > 0
    # the wrongly declared Shift_JIS page is decoded by content in the corpus
    rules.write_text(rules.read_text() + 'filters = { min_length = 1, min_hiragana_ratio = 0.0, '
                     'min_mean_sentence_length = 0 }\n')
    assert main(["build-corpus", "--warc", str(out / "warc" / "*.warc.gz"), "--sites",
                 str(rules), "--out", str(tmp_path / "build")]) == 0
    texts = {r["url"].replace(base, "/"): r["text"] for r in
             table(tmp_path / "build" / "corpus") + table(tmp_path / "build" / "rejected")
             if not (r["rule"] or "").startswith("paragraph_")}
    assert texts["/sjis"] == "本文は日本語です。"
    stats = json.loads((tmp_path / "build" / "stats.json").read_text())
    # /huge (cut at max_bytes), /stall and /cut: none is kept
    assert stats["events"]["truncated_record"] == 3
    assert not any(t.endswith("\ufffd") or "途中で止まる" in t for t in texts.values())


# -- the shared sites ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shared_sites(tmp_path_factory):
    root = tmp_path_factory.mktemp("sites")
    names = ("egov-laws-sjis", "lilypond-ja", "scilab-help-ja")
    for name in names:
        with tarfile.open(shared("sites", name + ".tar.gz")) as tar:
            tar.extractall(root, filter="data")
    httpd, base = serve(str(root))
    base = base.rstrip("/")
    rules = root / "sites.toml"
    polite = ("politeness = { requests_per_second = 1000, concurrency = 8, max_pages = 3000, "
              "max_bytes = 10000000 }")
    from swelm.corpus_tools.filter import TEXT_RULES
    # documentation and statutes: only the language, length and hiragana rules stay on
    open_ = {k: (0 if k.startswith("min_") else 1e9) for k in TEXT_RULES}
    docs = dict(open_, min_japanese_ratio=0.3, min_length=100, min_hiragana_ratio=0.05)
    relaxed = "filters = { " + ", ".join(f"{k} = {v}" for k, v in docs.items()) + " }"
    blocks = []
    for name, folder, seed, genre, filters in (
            ("egov", "egov-laws-sjis", "index.html", "legal", relaxed),
            ("lilypond", "lilypond-ja", "web/index.ja.html", "docs", relaxed),
            ("scilab", "scilab-help-ja", "index.html", "docs", "")):
        blocks.append(f"""[[sites]]
name = "{name}"
seeds = ["{base}/{folder}/{seed}"]
allow = ["^{base}/{folder}/"]
genre = "{genre}"
{polite}
{filters}
""")
    rules.write_text("\n".join(blocks))
    out = root / "out"
    assert main(["crawl", "--sites", str(rules), "--out", str(out / "crawl"), "--workers", "2"]) == 0
    assert main(["build-corpus", "--warc", str(out / "crawl" / "warc" / "*.warc.gz"), "--sites",
                 str(rules), "--out", str(out / "build"), "--workers", "2"]) == 0
    yield root, out
    stop(httpd)


def test_shared_sites_end_to_end(shared_sites):
    root, out = shared_sites
    log = [json.loads(l) for p in glob.glob(str(out / "crawl" / "log" / "*.jsonl")) for l in open(p)]
    ok = {r["final_url"] for r in log if r["outcome"] == "ok"}
    for site in ("egov-laws-sjis", "lilypond-ja", "scilab-help-ja"):
        on_disk = len(glob.glob(str(root / site / "**" / "*.html"), recursive=True))
        found = sum(1 for u in ok if f"/{site}/" in u and u.endswith(".html"))
        assert found >= 0.8 * on_disk, (site, found, on_disk)
    assert any(r["outcome"] == "http_error" and r["status"] == 404 for r in log)   # broken links
    corpus = table(out / "build" / "corpus")
    rows = table(out / "build" / "rejected")
    rejected = [r for r in rows if not r["rule"].startswith("paragraph_")]
    lines = [r for r in rows if r["rule"].startswith("paragraph_")]
    laws = [r for r in corpus if r["site"] == "egov"]
    assert len(laws) > 300 and all("\ufffd" not in r["text"] for r in laws)
    assert any("第一条" in r["text"] for r in laws)
    # scilab is mostly English and code with Japanese headings: with its minimal rules, the
    # English and code lines are taken out (into rejected/) and only the Japanese is kept
    stats = json.loads((out / "build" / "stats.json").read_text())
    sci = stats["sites"]["scilab"]
    taken = sum(v["chars"] for c, v in sci["dropped_lines"].items() if c in ("foreign", "code"))
    assert taken > 2 * sci["kept_chars"], (taken, sci["kept_chars"])
    assert any(r["site"] == "scilab" and r["rule"] == "paragraph_foreign" for r in lines)
    from swelm.corpus_tools.paragraphs import classify
    for r in corpus:
        if r["site"] == "scilab":
            assert all(classify(line) != "foreign" for line in r["text"].split("\n")
                       if line.strip()), r["url"]
    big = [r for r in rejected if r["site"] == "lilypond" and r["url"].endswith("big-page.ja.html")]
    # every big page is rejected: as a near-duplicate of the split pages, or (snippets and web,
    # mostly English code) by the language rule that runs first
    assert len(big) == 5, [r["url"] for r in big]
    assert all(r["rule"] in ("near_duplicate_containment", "min_japanese_ratio") for r in big)
    assert sum(r["rule"] == "near_duplicate_containment" for r in big) >= 3
    nav = "<< ドキュメント インデックスに戻る"
    assert not any(nav in r["text"] for r in corpus + rejected if r["site"] == "lilypond" and r["text"])
    assert any(nav in r["text"] for r in lines if r["site"] == "lilypond")
    for name, s in stats["sites"].items():
        assert s["in_docs"] == s["kept_docs"] + sum(v["docs"] for v in s["rejected"].values())
    assert stats["kept"]["docs"] == len(corpus) and stats["rejected_docs"] == len(rejected)


def test_encode_restart_after_sigkill(demo, tmp_path):
    args = ["encode", "--corpus", str(demo / "build" / "corpus" / "*.parquet"), "--seq-len", "64"]
    ref = tmp_path / "ref"
    assert main([*args, "--out", str(ref)]) == 0
    out = tmp_path / "killed"
    _kill_after(1.5, *args, "--out", str(out))
    assert not (out / "manifest.json").exists() or digest(str(out)) == digest(str(ref))
    assert main([*args, "--out", str(out)]) == 0
    assert digest(str(out)) == digest(str(ref))
    assert not glob.glob(str(tmp_path / "*.tmp*"))


def test_pipeline_that_keeps_nothing_explains_why(tmp_path, capsys):
    """A corpus build that keeps no documents ends swelm pipeline with exit 1 and the reasons
    per site, instead of a failure of the encode step."""
    from swelm.pipelines.demo_site import render, serve
    render(str(tmp_path / "site"))
    server, base = serve(str(tmp_path / "site"))
    rules = tmp_path / "sites.toml"
    rules.write_text(f'[[sites]]\nname = "demo"\nseeds = ["{base}"]\ngenre = "blog"\n'
                     'politeness = { requests_per_second = 50, max_pages = 100 }\n'
                     'filters = { min_length = 100000 }\n', encoding="utf-8")
    try:
        capsys.readouterr()
        assert main(["pipeline", "--sites", str(rules), "--out", str(tmp_path / "out")]) == 1
    finally:
        server.shutdown()
        server.server_close()
    err = capsys.readouterr().err
    assert "the corpus build kept no documents, so there is nothing to encode" in err
    assert "demo:" in err and "min_length rejects" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "shards").exists()


def test_crawl_progress_and_rerun_summary(tmp_path):
    """A site's progress bar (pages, frontier, time left at the politeness limit) and the
    console summary of a run and of a rerun that has nothing new to fetch."""
    import io
    from swelm.corpus_tools.sites import load_sites
    from swelm.pipelines.crawl import crawl_site, summary_line
    from swelm.pipelines.demo_site import render, serve
    render(str(tmp_path / "site"))
    server, base = serve(str(tmp_path / "site"))
    rules = tmp_path / "sites.toml"
    rules.write_text(f'[[sites]]\nname = "demo"\nseeds = ["{base}"]\ngenre = "blog"\n'
                     'politeness = { requests_per_second = 50, max_pages = 100 }\n',
                     encoding="utf-8")
    (site,) = load_sites(str(rules))
    try:
        bar = io.StringIO()
        first = crawl_site(site, str(tmp_path / "crawl"), progress=bar)
        again = crawl_site(site, str(tmp_path / "crawl"), progress=io.StringIO())
    finally:
        server.shutdown()
        server.server_close()
    n = first["fetched_total"]
    assert n > 5 and f"{n}/100" in bar.getvalue() and "frontier 0" in bar.getvalue()
    assert "left at 50/s" in bar.getvalue() and "page/s" in bar.getvalue()
    assert summary_line(first).startswith(f"demo: fetched {n} this run (ok ")
    assert summary_line(again) == (f"demo: nothing new to fetch: {n} URLs already captured "
                                   "(no new links)")
