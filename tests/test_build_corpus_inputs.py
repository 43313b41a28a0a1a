"""build-corpus inputs: pages of hosts no site lists are counted and dropped, or kept as the
catch-all web site with --all-sites."""
from __future__ import annotations

import io
import json

import pyarrow.parquet as pq
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from swelm.cli import main

PROSE = ("吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。何でも薄暗いじめじめした"
         "所でニャーニャー泣いていた事だけは記憶している。吾輩はここで始めて人間というものを見た。") * 4


def _warc(path, pages):
    with open(path, "wb") as f:
        w = WARCWriter(f, gzip=True)
        for url, text in pages:
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                                    protocol="HTTP/1.1")
            body = f"<html><body><p>{text}</p></body></html>".encode()
            w.write_record(w.create_warc_record(url, "response", payload=io.BytesIO(body),
                                                http_headers=http))


def test_all_sites_keeps_pages_of_unlisted_hosts(tmp_path, capsys):
    _warc(tmp_path / "a.warc.gz", [("http://listed.jp/1", PROSE),
                                   ("http://elsewhere.jp/2", PROSE.replace("吾輩", "我輩"))])
    rules = tmp_path / "sites.toml"
    rules.write_text('[[sites]]\nname = "listed"\nseeds = ["http://listed.jp/"]\n'
                     'genre = "novel"\n', encoding="utf-8")
    warc = str(tmp_path / "*.warc.gz")
    assert main(["build-corpus", "--warc", warc, "--sites", str(rules), "--out",
                 str(tmp_path / "listed")]) == 0
    stats = json.loads((tmp_path / "listed" / "stats.json").read_text())
    assert stats["events"] == {"no_site": 1} and "all_sites" not in stats["settings"]
    assert stats["rejected_docs"] + stats["kept"]["docs"] == 1
    for argv in (["--sites", str(rules), "--all-sites"], ["--all-sites"]):
        out = tmp_path / f"all{len(argv)}"
        assert main(["build-corpus", "--warc", warc, *argv, "--out", str(out)]) == 0
        rows = [r for part in ("corpus", "rejected")
                for r in pq.read_table(str(out / part)).to_pylist()]
        sites = {r["url"]: (r["site"], r["genre"]) for r in rows}
        assert sites["http://elsewhere.jp/2"] == ("all-web", "other")
        if len(argv) == 3:
            assert sites["http://listed.jp/1"] == ("listed", "novel")
        assert json.loads((out / "stats.json").read_text())["settings"]["all_sites"] is True
    capsys.readouterr()
    assert main(["build-corpus", "--warc", warc, "--out", str(tmp_path / "x")]) == 2
    assert "--sites FILE, --all-sites" in capsys.readouterr().err


class _FlakyRangeServer:
    """Serves a folder on 127.0.0.1 with Range support; every third request is answered 503
    (then served normally), so a reader must retry."""

    def __init__(self, root):
        import functools
        import http.server
        import threading
        self.requests, self.failed = 0, 0
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.requests += 1
                if outer.requests % 3 == 0:
                    outer.failed += 1
                    self.send_response(503)
                    self.send_header("Retry-After", "0")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                path = self.translate_path(self.path)
                try:
                    data = open(path, "rb").read()
                except OSError:
                    self.send_error(404)
                    return
                rng = self.headers.get("Range")
                if rng:
                    a, _, b = rng.split("=", 1)[1].partition("-")
                    a, b = int(a), min(int(b or len(data) - 1), len(data) - 1)
                    if a >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {a}-{b}/{len(data)}")
                    body = data[a:b + 1]
                else:
                    self.send_response(200)
                    body = data
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_common_crawl_path_list_over_http_with_retries(tmp_path):
    import gzip
    import pyarrow.parquet as pq
    data = tmp_path / "cc"
    seg = data / "crawl-data" / "CC-TEST" / "warc"
    seg.mkdir(parents=True)
    names = []
    for i in range(3):
        name = f"CC-TEST-{i:05d}.warc.gz"
        _warc(seg / name, [(f"http://listed.jp/{i}/{k}", PROSE[k * 7:] + f"第{i}章第{k}節。")
                           for k in range(4)])
        names.append(f"crawl-data/CC-TEST/warc/{name}")
    (data / "warc.paths.gz").write_bytes(gzip.compress("\n".join(names).encode()))
    rules = tmp_path / "sites.toml"
    rules.write_text('[[sites]]\nname = "listed"\nseeds = ["http://listed.jp/"]\n'
                     'genre = "novel"\nfilters = { min_length = 10, min_mean_sentence_length = 0,'
                     ' max_dup_5gram_ratio = 1, max_dup_6gram_ratio = 1, max_dup_7gram_ratio = 1,'
                     ' max_dup_8gram_ratio = 1, max_dup_9gram_ratio = 1,'
                     ' max_dup_10gram_ratio = 1 }\n', encoding="utf-8")
    server = _FlakyRangeServer(data)
    try:
        assert main(["build-corpus", "--warc-list", server.base + "warc.paths.gz",
                     "--warc-prefix", server.base, "--sites", str(rules),
                     "--out", str(tmp_path / "http")]) == 0
    finally:
        server.stop()
    assert server.failed > 0                     # the transient 503s happened and were retried
    assert main(["build-corpus", "--warc", str(seg / "*.warc.gz"), "--sites", str(rules),
                 "--out", str(tmp_path / "local")]) == 0
    for part in ("corpus", "rejected"):
        a = sorted(p.name for p in (tmp_path / "http" / part).glob("*.parquet"))
        assert a == sorted(p.name for p in (tmp_path / "local" / part).glob("*.parquet"))
        for name in a:
            assert ((tmp_path / "http" / part / name).read_bytes()
                    == (tmp_path / "local" / part / name).read_bytes())
    read = sum(1 for part in ("corpus", "rejected")
               for r in pq.read_table(str(tmp_path / "http" / part)).to_pylist()
               if not (r["rule"] or "").startswith("paragraph_"))
    assert read == 12                            # every page of every listed file
    stats = json.loads((tmp_path / "http" / "stats.json").read_text())
    retried = stats["input_files"]["retried_reads"]
    assert set(retried) <= {server.base + n for n in names} and retried


def test_unreachable_files_are_reported_by_file(tmp_path, capsys):
    """Every listed file unreadable: a warning per file with its reason, then one error line;
    exit 2 and nothing written."""
    listing = tmp_path / "paths.txt"
    listing.write_text("crawl-data/a.warc.gz\ncrawl-data/b.warc.gz\n", encoding="utf-8")
    rules = tmp_path / "sites.toml"
    rules.write_text('[[sites]]\nname = "x"\nseeds = ["http://x.jp/"]\ngenre = "blog"\n',
                     encoding="utf-8")
    server = _FlakyRangeServer(tmp_path / "nothing")
    try:
        assert main(["build-corpus", "--warc-list", str(listing), "--warc-prefix", server.base,
                     "--sites", str(rules), "--out", str(tmp_path / "o")]) == 2
    finally:
        server.stop()
    err = capsys.readouterr().err.strip().splitlines()
    assert "no page was read from the 2 input files (unreadable_warc 2)" in err[-1]
    for name in ("a", "b"):
        assert any(line.startswith(f"warning: {server.base}crawl-data/{name}.warc.gz: "
                                   "unreadable_warc:") and "HTTP 404" in line for line in err)
    assert not (tmp_path / "o").exists()


def _rules(tmp_path):
    rules = tmp_path / "sites.toml"
    rules.write_text('[[sites]]\nname = "listed"\nseeds = ["http://listed.jp/"]\n'
                     'genre = "novel"\nfilters = { min_length = 0 }\n', encoding="utf-8")
    return str(rules)


def test_a_warc_gzipped_as_one_stream_is_read_whole(tmp_path, capsys):
    """``gzip whole.warc``: every page is read (not the first only), and the console says the
    file could not be split."""
    import gzip
    _warc(tmp_path / "per.warc.gz", [(f"http://listed.jp/{i}", f"{i}番目。" + PROSE)
                                     for i in range(20)])
    with gzip.open(tmp_path / "per.warc.gz") as f:
        plain = f.read()
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "whole.warc.gz").write_bytes(gzip.compress(plain))
    assert main(["build-corpus", "--warc", str(tmp_path / "in" / "whole.warc.gz"), "--sites",
                 _rules(tmp_path), "--out", str(tmp_path / "o")]) == 0
    stats = json.loads((tmp_path / "o" / "stats.json").read_text())
    assert stats["sites"]["listed"]["in_docs"] == 20
    assert "whole_gzip_warc" in stats["input_files"]
    assert "whole.warc.gz: whole_gzip_warc: read whole" in capsys.readouterr().err


def test_files_that_are_not_warc_are_named_and_a_folder_is_read(tmp_path, capsys):
    """A text file named .warc.gz is listed with its reason (console and stats.json, no
    warcio noise); ``--warc DIR`` reads the WARC files in the folder."""
    import gzip
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    _warc(d / "sub" / "good.warc.gz", [("http://listed.jp/1", PROSE)])
    (d / "notes.warc.gz").write_bytes(gzip.compress(b"just some text\n" * 200))
    (d / "readme.txt").write_text("not a WARC and not named like one")
    capsys.readouterr()
    assert main(["build-corpus", "--warc", str(d), "--sites", _rules(tmp_path), "--out",
                 str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    stats = json.loads((tmp_path / "o" / "stats.json").read_text())
    assert list(stats["input_files"]["not_warc"]) == [str(d / "notes.warc.gz")]
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert "not a WARC record header: just some text" in err and len(warnings) <= 3, err
    assert stats["sites"]["listed"]["in_docs"] == 1
    # only the text file: nothing read, exit 2, nothing written
    assert main(["build-corpus", "--warc", str(d / "notes.warc.gz"), "--sites",
                 _rules(tmp_path), "--out", str(tmp_path / "o2")]) == 2
    assert "no page was read from the 1 input file (not_warc 1)" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists()
    (tmp_path / "empty").mkdir()
    assert main(["build-corpus", "--warc", str(tmp_path / "empty"), "--sites",
                 _rules(tmp_path), "--out", str(tmp_path / "o3")]) == 2
    assert "a folder with no WARC files" in capsys.readouterr().err


def test_only_regular_files_are_read(tmp_path, capsys):
    """A FIFO as --warc is refused at once (it would never end); a name that is not UTF-8 is
    refused in one line."""
    import os
    fifo = tmp_path / "pipe.warc.gz"
    os.mkfifo(fifo)
    assert main(["build-corpus", "--warc", str(fifo), "--sites", _rules(tmp_path), "--out",
                 str(tmp_path / "o")]) == 2
    assert "a FIFO, not a regular file" in capsys.readouterr().err
    fifo.unlink()
    bad = os.path.join(os.fsencode(tmp_path), b"caf\xe9.warc.gz")
    _warc(bad.decode("utf-8", "surrogateescape"), [("http://listed.jp/1", PROSE)])
    assert main(["build-corpus", "--warc", str(tmp_path / "*.warc.gz"), "--sites",
                 _rules(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "the file name is not valid UTF-8" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_a_warc_list_that_is_not_text_is_one_line(tmp_path, capsys):
    import gzip
    cut = tmp_path / "cut.paths.gz"
    cut.write_bytes(gzip.compress(b"crawl-data/a.warc.gz\n" * 500)[:60])
    binary = tmp_path / "bin.paths"
    binary.write_bytes(bytes(range(256)))
    for path, words in ((cut, "a damaged or cut gzip file"), (binary, "not a text file")):
        assert main(["build-corpus", "--warc-list", str(path), "--sites", _rules(tmp_path),
                     "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err.strip()
        assert words in err and str(path) in err and len(err.splitlines()) == 1, err


def test_a_site_that_keeps_almost_nothing_is_explained(tmp_path, capsys):
    """Every rule a page fails is recorded; a site that keeps < 10% of its pages gets a warning
    naming its top rules, and stats.md the pages that fail one rule only with the threshold
    that would keep them."""
    short = "短い文です。" * 3
    _warc(tmp_path / "a.warc.gz", [(f"http://listed.jp/{i}", PROSE[: 200 + 10 * i])
                                   for i in range(6)] + [("http://listed.jp/s", short)])
    rules = tmp_path / "sites.toml"
    rules.write_text('[[sites]]\nname = "listed"\nseeds = ["http://listed.jp/"]\n'
                     'genre = "novel"\nfilters = { min_length = 5000 }\n', encoding="utf-8")
    capsys.readouterr()
    assert main(["build-corpus", "--warc", str(tmp_path / "*.warc.gz"), "--sites", str(rules),
                 "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "warning: site listed keeps 0 of 7 pages; min_length rejects 7 (6 fail only" in err
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    # the six prose pages fail min_length alone; the smallest holds 200 characters
    assert stats["sites"]["listed"]["only_rule"]["min_length"] == {"docs": 6,
                                                                   "keep_all_at": 200}
    report = (tmp_path / "out" / "stats.md").read_text()
    assert "`filters = { min_length = 200 }` would keep them" in report
    rows = pq.read_table(str(tmp_path / "out" / "rejected")).to_pylist()
    pages = {r["url"]: json.loads(r["metrics"]) for r in rows
             if not r["rule"].startswith("paragraph_")}
    assert pages["http://listed.jp/0"]["failed_rules"] == ["min_length"]
    assert pages["http://listed.jp/s"]["failed_rules"][0] == "min_length"
    assert len(pages["http://listed.jp/s"]["failed_rules"]) > 1


def test_pages_or_records_of_one_id_are_counted_as_same_id(tmp_path, capsys):
    """A URL captured twice (a recrawl) and records sharing an --id-column value are one
    document each, the one with the most text: the others are counted, not lost silently."""
    _warc(tmp_path / "a.warc.gz", [("http://listed.jp/1", PROSE[:200]),
                                   ("http://listed.jp/1", PROSE),
                                   ("http://listed.jp/2", PROSE.replace("吾輩", "我輩"))])
    rules = tmp_path / "sites.toml"
    rules.write_text('[[sites]]\nname = "listed"\nseeds = ["http://listed.jp/"]\n'
                     'genre = "novel"\nfilters = { min_length = 10 }\n', encoding="utf-8")
    out = tmp_path / "w"
    assert main(["build-corpus", "--warc", str(tmp_path / "*.warc.gz"), "--sites", str(rules),
                 "--out", str(out)]) == 0
    said = capsys.readouterr().out
    stats = json.loads((out / "stats.json").read_text())
    assert stats["events"] == {"same_id": 1}
    assert stats["rejected_docs"] + stats["kept"]["docs"] == 2
    assert "1 left out as same_id" in said
    assert "1 page or record had the id of another" in (out / "stats.md").read_text()
    assert "Input problems" not in (out / "stats.md").read_text()
    rows = [{"id": "a", "text": PROSE[:300]}, {"id": "a", "text": PROSE},
            {"id": "a", "text": PROSE[:100]},
            {"id": "b", "text": ("今日は朝から雨が降っている。傘を持って駅まで歩き、電車に乗って会社へ"
                                 "向かった。窓の外には灰色の空が広がっていた。") * 4}]
    data = tmp_path / "r.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    assert main(["build-corpus", "--input", str(data), "--id-column=id", "--site", "listed",
                 "--sites", str(rules), "--out", str(tmp_path / "r")]) == 0
    stats = json.loads((tmp_path / "r" / "stats.json").read_text())
    assert stats["events"] == {"same_id": 2}
    kept = pq.read_table(str(next((tmp_path / "r" / "corpus").glob("part-*.parquet"))))
    assert sorted(kept.column("id").to_pylist()) == ["a", "b"]
    assert PROSE in kept.column("text").to_pylist()           # the longest of id a
