"""Quality beyond the rules: the Kneser-Ney n-gram model (swelm build-lm), the quality
classifier (swelm train-classifier) and what build-corpus does with them (--lm,
--max-perplexity, --keep-best-share, --classifier, --preset, --rehydrate)."""
from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import math
import os

import numpy as np
import pyarrow.parquet as pq
import pytest

from swelm.cli import main
from swelm.corpus_tools.classifier import ClassifierError, QualityClassifier
from swelm.corpus_tools.ngram_lm import BOS, EOS, LMError, NgramLM, units_of

SHARED = os.environ.get("JA_SHARED_DATA", os.path.join(os.path.dirname(__file__), "..", "..",
                                                       "shared", "data"))
PROSE = ["吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。",
         "何でも薄暗いじめじめした所でニャーニャー泣いていた事だけは記憶している。",
         "吾輩はここで始めて人間というものを見た。しかもあとで聞くとそれは書生という人間中で"
         "一番獰悪な種族であったそうだ。",
         "この書生というのは時々我々を捕えて煮て食うという話である。"]


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


# -- the n-gram model -------------------------------------------------------------------------
@pytest.mark.parametrize("order,min_count", [(1, 1), (2, 1), (3, 1), (4, 1), (3, 2), (5, 2)])
def test_kneser_ney_probabilities_of_every_next_unit_sum_to_one(order, min_count):
    """The backoff form stores the interpolated estimate: after any history, the
    probabilities of every unit seen, the end mark and one unseen unit sum to 1, also when
    rare n-grams are left out (their contexts' backoffs are recomputed)."""
    lm = NgramLM.train(PROSE + PROSE[:2], order=order, min_count=min_count)
    seen = sorted({c for t in PROSE for c in t})
    units = units_of("char")
    for history in ("吾輩は", "人間", "ニャー", "xyz", ""):
        h = units(history)
        nexts = [np.append(h, np.uint32(ord(c))) for c in seen] + [h, np.append(
            h, np.uint32(ord("☃")))]       # the end mark after h; an unseen character
        r, offsets = lm.log10_probs(nexts)
        total = sum(10 ** r[o + len(h)] for o in offsets)
        assert math.isclose(total, 1.0, rel_tol=1e-4), (order, min_count, history, total)


def test_the_model_prefers_text_like_its_reference_and_round_trips_byte_for_byte(tmp_path):
    lm = NgramLM.train(PROSE * 3, order=4)
    assert lm.perplexity("吾輩は猫である。") < lm.perplexity("である猫は吾輩。")
    assert lm.perplexity("吾輩は猫である。") < lm.perplexity("Click here | Home | Login")
    a, b = tmp_path / "a.lm", tmp_path / "b.lm"
    lm.save(str(a))
    NgramLM.train(PROSE * 3, order=4).save(str(b))
    assert a.read_bytes() == b.read_bytes()          # same text and settings, same bytes
    back = NgramLM.load(str(a))
    texts = ["吾輩は猫である。", "", "未知の文字列☃"]
    assert back.perplexities(texts) == lm.perplexities(texts)
    assert lm.perplexities(texts) == [lm.perplexity(t) for t in texts]   # batch = one by one


def test_swe_token_units():
    lm = NgramLM.train(PROSE, order=3, unit="swe")
    assert lm.meta["unit"] == "swe" and lm.meta["units"] < sum(map(len, PROSE))
    assert lm.perplexity(PROSE[0]) < lm.perplexity("猫吾輩である名前は。")


def test_model_files_that_are_not_models_are_one_clear_error(tmp_path):
    with pytest.raises(LMError, match="not found"):
        NgramLM.load(str(tmp_path / "none.lm"))
    bad = tmp_path / "x.lm"
    bad.write_bytes(b"PK\x03\x04 not ours")
    with pytest.raises(LMError, match="not an n-gram model"):
        NgramLM.load(str(bad))
    data = NgramLM.train(PROSE, order=2).to_bytes()
    bad.write_bytes(data[:len(data) // 2])          # cut short
    with pytest.raises(LMError, match="damaged"):
        NgramLM.load(str(bad))
    with pytest.raises(LMError, match="order 9"):
        NgramLM.train(PROSE, order=9)
    with pytest.raises(LMError, match="no text"):
        NgramLM.train([], order=3)


# -- the classifier ---------------------------------------------------------------------------
GOOD = [f"{t}今日は{i}番目の話を書きます。" for i, t in enumerate(PROSE * 10)]
BAD = [f"ホーム > 製品 > {i} | ログイン | サイトマップ | Copyright {2000 + i}" for i in range(40)]


def test_classifier_learns_and_round_trips(tmp_path):
    clf = QualityClassifier.train(GOOD[:30], BAD[:30], epochs=3, seed=1)
    assert clf.accuracy(GOOD[30:], BAD[30:]) == 1.0
    path = tmp_path / "q.clf"
    clf.save(str(path))
    back = QualityClassifier.load(str(path))
    assert [back.score(t) for t in GOOD[30:]] == [clf.score(t) for t in GOOD[30:]]
    again = QualityClassifier.train(GOOD[:30], BAD[:30], epochs=3, seed=1)
    assert again.to_bytes() == clf.to_bytes()
    with pytest.raises(ClassifierError, match="both classes"):
        QualityClassifier.train(GOOD, [])
    (tmp_path / "junk").write_bytes(b"SWELMNG1" + b"\0" * 40)     # an n-gram model's magic
    with pytest.raises(ClassifierError, match="not a quality classifier"):
        QualityClassifier.load(str(tmp_path / "junk"))


# -- the commands ---------------------------------------------------------------------------
def jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("form", ["space", "equals"])
def test_build_lm_reads_json_lines_selects_records_and_refuses_what_it_does_not_own(
        tmp_path, capsys, form):
    src = jsonl(tmp_path / "ref.jsonl", [{"text": t, "source": "aozora"} for t in PROSE]
                + [{"text": "English only text here.", "source": "web"}, {"text": 3}])
    out = tmp_path / "ref.lm"
    flags = (["--out", str(out), "--order", "3", "--select", "source=aozora"] if form == "space"
             else [f"--out={out}", "--order=3", "--select=source=aozora"])
    assert main(["build-lm", src, *flags]) == 0
    said = capsys.readouterr().out
    assert "char 3-gram model of 4 documents" in said and "skipped 1 record" in said
    lm = NgramLM.load(str(out))
    assert lm.meta["order"] == 3 and lm.meta["documents"] == 4
    assert main(["build-lm", src, "--out", str(out), "--order", "2"]) == 0   # its own: replaced
    capsys.readouterr()
    other = tmp_path / "notes.txt"
    other.write_text("mine")
    assert main(["build-lm", src, "--out", str(other)]) == 2
    assert "refusing to replace it" in one_line(capsys) and other.read_text() == "mine"
    assert main(["build-lm", str(tmp_path / "missing.jsonl"), "--out", str(out)]) == 2
    assert "missing.jsonl: file not found" in one_line(capsys)
    (tmp_path / "data.csv").write_text("text\n吾輩\n")
    assert main(["build-lm", str(tmp_path / "data.csv"), "--out", str(out)]) == 2
    assert "data.csv: an unknown kind of file; expected JSON lines" in one_line(capsys)
    assert main(["build-lm", src, "--out", str(out), "--select", "source"]) == 2
    assert "--select source: expected FIELD=REGEX" in one_line(capsys)
    assert main(["build-lm", src, "--out", str(out), "--select", "source=nothing"]) == 2
    assert "no text in records matching --select source=nothing" in one_line(capsys)


def test_build_lm_select_given_twice_needs_both_and_text_files_have_no_fields(tmp_path,
                                                                              capsys):
    rows = [{"text": t, "source": "aozora", "era": "meiji" if i % 2 else "showa"}
            for i, t in enumerate(PROSE)] + [{"text": "青空文庫ではない。", "source": "web",
                                              "era": "meiji"}]
    src = jsonl(tmp_path / "ref.jsonl", rows)
    out = tmp_path / "m.lm"
    assert main(["build-lm", src, "--out", str(out), "--order=2", "--select", "source=aozora",
                 "--select=era=meiji"]) == 0
    assert NgramLM.load(str(out)).meta["documents"] == len(PROSE) // 2
    capsys.readouterr()
    assert main(["build-lm", src, "--out", str(out), "--select", "era=meiji",
                 "--select", "era=showa"]) == 2
    assert "one FIELD twice" in one_line(capsys)
    txt = tmp_path / "ref.txt"
    txt.write_text("\n".join(PROSE) + "\n", encoding="utf-8")
    for flags in (["--select", "source=aozora"], ["--text-column=body"]):
        assert main(["build-lm", str(txt), "--out", str(out), *flags]) == 2
        said = one_line(capsys)
        assert f"{txt}: a text file (one document per line) has no fields" in said
        assert flags[0].split("=")[0] in said
    assert main(["train-classifier", "--good", str(txt), "--bad", src, "--out",
                 str(tmp_path / "c.clf"), "--text-column", "body"]) == 2
    assert "--good" in one_line(capsys)


def test_model_destinations(tmp_path, capsys):
    src = jsonl(tmp_path / "ref.jsonl", [{"text": t} for t in PROSE])
    out = tmp_path / "m.lm"
    assert main(["build-lm", src, "--out", str(out), "--order=2"]) == 0
    capsys.readouterr()
    data = out.read_bytes()
    out.write_bytes(data[:len(data) - 40])          # cut short: not a whole model
    assert main(["build-lm", src, "--out", str(out), "--order=2"]) == 2
    assert "is not an n-gram model (swelm build-lm) written by swelm" in one_line(capsys)
    assert out.read_bytes() == data[:len(data) - 40]
    for bad, said in (("", "--out '': an empty path"),
                      (str(tmp_path), f"--out {tmp_path}: is a folder; expected a file name"),
                      (str(tmp_path / "new") + "/", "is a folder; expected a file name")):
        assert main(["build-lm", src, "--out", bad]) == 2
        assert said in one_line(capsys)
    for flags in (["--epochs", "5000"], ["--epochs=0"]):
        with pytest.raises(SystemExit) as e:
            main(["train-classifier", "--good", src, "--bad", src, "--out",
                  str(tmp_path / "c.clf"), *flags])
        assert e.value.code == 2
        assert "--epochs: expected an integer >= 1 and <= 1000" in one_line(capsys)


def test_damaged_inputs_keep_what_was_read_and_say_so(tmp_path, capsys):
    import gzip
    rows = [{"text": t * 40} for t in PROSE * 30]
    data = gzip.compress("".join(json.dumps(r, ensure_ascii=False) + "\n"
                                 for r in rows).encode())
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(data[:len(data) // 2])
    out = tmp_path / "m.lm"
    assert main(["build-lm", str(cut), "--out", str(out), "--order=2"]) == 0
    said = capsys.readouterr().out
    assert "1 damaged file read up to the damage (the first problem: " in said
    assert 0 < NgramLM.load(str(out)).meta["documents"] < len(rows)
    txt = tmp_path / "cut.txt.gz"
    txt.write_bytes(gzip.compress("\n".join(PROSE * 200).encode())[:300])
    assert main(["build-lm", str(txt), "--out", str(out), "--order=2"]) == 0
    assert "(the first problem: " + str(txt) + ": unreadable from there on" in \
        capsys.readouterr().out
    # marks of the extractor in reference text are not learnt (build-corpus strips them)
    marked = jsonl(tmp_path / "marked.jsonl", [{"text": "\ufdd0" + t} for t in PROSE])
    assert main(["build-lm", marked, "--out", str(out), "--order=2"]) == 0
    assert NgramLM.load(str(out)).to_bytes() == NgramLM.train(PROSE, order=2).to_bytes()


def test_train_classifier_says_what_it_skipped_and_checks_holdout(tmp_path, capsys):
    good = jsonl(tmp_path / "good.jsonl", [{"text": t} for t in GOOD[:20]] + [{"text": 3}])
    bad = jsonl(tmp_path / "bad.jsonl", [{"text": t} for t in BAD[:20]])
    out = str(tmp_path / "q.clf")
    assert main(["train-classifier", "--good", good, "--bad", bad, "--out", out]) == 0
    assert "; --good: skipped 1 record (the first problem: " in capsys.readouterr().out
    assert main(["train-classifier", "--good", good, "--bad", bad, "--out", out,
                 "--holdout=0.999"]) == 2
    assert "--holdout 0.999: keeps back every example of a class" in one_line(capsys)
    one = jsonl(tmp_path / "one.jsonl", [{"text": GOOD[0]}])
    assert main(["train-classifier", "--good", one, "--bad", bad, "--out", out]) == 0
    assert "trained on 1 good and 20 bad examples\n" in capsys.readouterr().out
    for flags, said in ((["--build", str(tmp_path / "none")], "none: not found"),
                        (["--build", ""], "--build '': an empty path"),
                        (["--build", str(tmp_path), "--text-column", "body"],
                         "--text-column body: only with --good/--bad")):
        assert main(["train-classifier", *flags, "--out", out]) == 2
        assert said in one_line(capsys)


def test_a_killed_runs_temporary_goes_and_a_file_cannot_be_a_folder(tmp_path, capsys):
    src = jsonl(tmp_path / "ref.jsonl", [{"text": t} for t in PROSE])
    stale = tmp_path / ".m.lm.tmp-0123abcd"
    stale.write_bytes(b"half a model")
    other = tmp_path / ".other.lm.tmp-0123abcd"
    other.write_bytes(b"not ours to touch")
    assert main(["build-lm", src, "--out", str(tmp_path / "m.lm"), "--order=2"]) == 0
    assert not stale.exists() and other.exists()
    capsys.readouterr()
    (tmp_path / "user.txt").write_text("hello")
    assert main(["build-lm", src, "--out", str(tmp_path / "user.txt" / "x.lm")]) == 2
    assert "user.txt is a file, not a folder" in one_line(capsys)
    assert main(["build-lm", src, "--out", str(tmp_path / ("a" * 300 + ".lm"))]) == 2
    assert "a file name of 303 bytes; at most" in one_line(capsys)
    # a run that fails before writing leaves no folders it made; one that writes keeps them
    empty = jsonl(tmp_path / "empty.jsonl", [])
    assert main(["build-lm", empty, "--out", str(tmp_path / "n1" / "n2" / "x.lm")]) == 2
    capsys.readouterr()
    assert not (tmp_path / "n1").exists()
    assert main(["build-lm", src, "--out", str(tmp_path / "n3" / "x.lm"), "--order=2"]) == 0
    assert os.listdir(tmp_path / "n3") == ["x.lm"]


def test_train_classifier_from_a_build(tmp_path, capsys):
    from swelm.corpus_tools.document import COLUMNS
    build = tmp_path / "build"
    for sub, rows in (("corpus", [(t, None) for t in GOOD]),
                      ("rejected", [(t, "paragraph_navigation") for t in BAD]
                       + [(GOOD[0], "exact_duplicate"), (BAD[0], "max_perplexity")])):
        (build / sub).mkdir(parents=True)
        table = {c: [None] * len(rows) for c in COLUMNS}
        table["text"] = [t for t, _ in rows]
        table["rule"] = [r for _, r in rows]
        table["id"] = [str(i) for i in range(len(rows))]
        import pyarrow as pa
        pq.write_table(pa.table({"text": table["text"], "rule": table["rule"],
                                 "id": table["id"]}), str(build / sub / "part-00000.parquet"))
    out = tmp_path / "q.clf"
    assert main(["train-classifier", "--build", str(build), "--out", str(out),
                 "--holdout=0"]) == 0
    # the duplicate and the model's own rejection are not examples
    assert f"trained on {len(GOOD)} good and {len(BAD)} bad" in capsys.readouterr().out
    (build / "rejected" / "part-00001.parquet").write_bytes(b"PAR1 cut")
    assert main(["train-classifier", "--build", str(build), "--out", str(out)]) == 2
    assert "part-00001.parquet is not a readable build-corpus part" in one_line(capsys)
    (tmp_path / "empty").mkdir()
    assert main(["train-classifier", "--build", str(tmp_path / "empty"), "--out", str(out)]) == 2
    assert "no corpus/part-*.parquet in it; expected a build-corpus output" in one_line(capsys)


def test_train_classifier_from_a_build_that_kept_nothing(tmp_path, capsys):
    src = jsonl(tmp_path / "short.jsonl", [{"id": "a", "text": "短い。"}])
    rules = tmp_path / "sites.toml"
    rules.write_text(NOVEL_RULES.replace("min_length = 20", "min_length = 1000"),
                     encoding="utf-8")
    out = build(tmp_path, src, str(rules))
    assert not corpus_rows(out)
    capsys.readouterr()
    assert main(["train-classifier", "--build", out, "--out", str(tmp_path / "c.clf")]) == 2
    assert "the build kept no pages" in one_line(capsys)


def test_build_lm_reads_parquet_and_skips_blank_records(tmp_path, capsys):
    import pyarrow as pa
    path = tmp_path / "ref.parquet"
    pq.write_table(pa.table({"text": PROSE + ["   ", "\n"]}), str(path), row_group_size=2)
    assert main(["build-lm", str(path), "--out", str(tmp_path / "m.lm"), "--order=2"]) == 0
    assert NgramLM.load(str(tmp_path / "m.lm")).meta["documents"] == len(PROSE)


def test_build_lm_reads_text_files_one_document_per_line(tmp_path, capsys):
    txt = tmp_path / "ref.txt"
    txt.write_text("\n".join(PROSE) + "\n\n", encoding="utf-8")
    assert main(["build-lm", str(txt), "--out", str(tmp_path / "m.lm"), "--unit", "char",
                 "--no-normalize"]) == 0
    assert NgramLM.load(str(tmp_path / "m.lm")).meta["documents"] == len(PROSE)


@pytest.mark.parametrize("form", ["space", "equals"])
def test_train_classifier_from_good_and_bad_files(tmp_path, capsys, form):
    good = jsonl(tmp_path / "good.jsonl", [{"text": t} for t in GOOD])
    bad = jsonl(tmp_path / "bad.jsonl", [{"text": t} for t in BAD])
    out = tmp_path / "q.clf"
    flags = (["--good", good, "--bad", bad, "--out", str(out), "--epochs", "3"]
             if form == "space" else [f"--good={good}", f"--bad={bad}", f"--out={out}",
                                      "--epochs=3"])
    assert main(["train-classifier", *flags]) == 0
    said = capsys.readouterr().out
    assert "held-out accuracy 1.000" in said
    assert QualityClassifier.load(str(out)).score(GOOD[0]) > 0.5
    assert main(["train-classifier", "--good", good, "--out", str(out)]) == 2
    assert "give --good FILE... and --bad FILE..." in one_line(capsys)
    assert main(["train-classifier", "--good", good, "--bad", bad, "--out", str(out),
                 "--holdout", "1.5"]) == 2
    assert "--holdout 1.5" in one_line(capsys)


# -- build-corpus with the signals ---------------------------------------------------------------
NOVEL_RULES = """[[sites]]
name = "t"
genre = "novel"
filters = { min_length = 20, max_duplicate_line_ratio = "off", max_duplicate_line_char_ratio = "off" }
"""


def corpus_rows(out, sub="corpus") -> list[dict]:
    rows = []
    for path in sorted(glob.glob(os.path.join(out, sub, "part-*.parquet"))):
        rows += pq.read_table(path).to_pylist()
    return rows


@pytest.fixture()
def novel_input(tmp_path):
    """Six documents of Japanese prose and two of shuffled characters (high perplexity), and
    a reference model of the prose."""
    rng = np.random.default_rng(0)
    pairs = [(0, 1), (1, 2), (2, 3), (3, 0), (0, 2), (1, 3)]
    docs = [{"id": f"p{i}", "text": PROSE[a] + PROSE[b]} for i, (a, b) in enumerate(pairs)]
    for i in range(2):
        chars = list(PROSE[i] + PROSE[i + 1])
        rng.shuffle(chars)
        docs.append({"id": f"s{i}", "text": "".join(chars) + "。"})
    src = jsonl(tmp_path / "docs.jsonl", docs)
    rules = tmp_path / "sites.toml"
    rules.write_text(NOVEL_RULES, encoding="utf-8")
    lm = tmp_path / "ref.lm"
    NgramLM.train(PROSE * 2, order=3).save(str(lm))
    return src, str(rules), str(lm)


def build(tmp_path, src, rules, *flags) -> str:
    out = str(tmp_path / "out")
    assert main(["build-corpus", "--input", src, "--sites", rules, "--site", "t",
                 "--id-column", "id", "--out", out, *flags]) == 0
    return out


def test_perplexity_is_a_metric_and_max_perplexity_rejects(tmp_path, novel_input):
    src, rules, lm = novel_input
    out = build(tmp_path, src, rules, "--lm", lm)
    kept = corpus_rows(out)
    assert len(kept) == 8                           # measured, not used
    ppl = {r["id"]: json.loads(r["metrics"])["perplexity"] for r in kept}
    assert max(ppl[f"p{i}"] for i in range(6)) < min(ppl["s0"], ppl["s1"])
    cut = (max(ppl[f"p{i}"] for i in range(6)) + min(ppl["s0"], ppl["s1"])) / 2
    out = build(tmp_path, src, rules, "--lm", lm, f"--max-perplexity={cut}")
    assert sorted(r["id"] for r in corpus_rows(out)) == [f"p{i}" for i in range(6)]
    rejected = {r["id"]: r["rule"] for r in corpus_rows(out, "rejected")}
    assert rejected == {"s0": "max_perplexity", "s1": "max_perplexity"}
    stats = json.loads(open(os.path.join(out, "stats.json")).read())
    assert stats["sites"]["t"]["perplexity"]["pages"] == 8
    md = open(os.path.join(out, "stats.md")).read()
    assert "## Perplexity under the n-gram model" in md and "Per character, of the" in md
    assert os.path.exists(os.path.join(out, "plots", "perplexity.png"))
    # which model measured it: its file, digest, unit and order
    with open(lm, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    assert stats["settings"]["models"] == {"lm": {"file": "ref.lm", "sha256": digest,
                                                  "unit": "char", "order": 3}}
    swe = tmp_path / "swe.lm"
    NgramLM.train(PROSE * 2, order=3, unit="swe").save(str(swe))
    out = build(tmp_path, src, rules, "--lm", str(swe))
    assert "Per SWE token, of the" in open(os.path.join(out, "stats.md")).read()


def test_models_that_cannot_measure_anything_are_refused(tmp_path, novel_input, capsys):
    src, rules, lm = novel_input
    base = ["build-corpus", "--input", src, "--sites", rules, "--site", "t", "--out",
            str(tmp_path / "o")]
    for flags, said in ((["--lm", ""], "--lm '': an empty path"),
                        (["--classifier="], "--classifier '': an empty path"),
                        (["--lm", lm, "--max-perplexity", "0.5"], "--max-perplexity")):
        with pytest.raises(SystemExit) if "--max-perplexity" in flags else \
                contextlib.nullcontext():
            assert main(base + flags) == 2
        assert said in one_line(capsys)


@pytest.mark.parametrize("form", ["flag", "site"])
def test_keep_best_share_keeps_each_sites_lowest_perplexity_pages(tmp_path, novel_input, form):
    src, rules, lm = novel_input
    if form == "site":
        with open(rules, "a", encoding="utf-8") as f:
            f.write("[defaults]\nfilters = { keep_best_share = 0.75 }\n")
        out = build(tmp_path, src, rules, "--lm", lm)
    else:
        out = build(tmp_path, src, rules, "--lm", lm, "--keep-best-share", "0.75")
    assert sorted(r["id"] for r in corpus_rows(out)) == [f"p{i}" for i in range(6)]
    rejected = {r["id"]: r["rule"] for r in corpus_rows(out, "rejected")}
    assert rejected == {"s0": "keep_best_share", "s1": "keep_best_share"}


def test_keep_best_share_cuts_each_site_by_its_own_distribution(tmp_path, novel_input):
    """Two sites, one of prose only: the cut of each comes from its own pages."""
    src, rules, lm = novel_input
    with open(rules, "a", encoding="utf-8") as f:
        f.write('[[sites]]\nname = "u"\ngenre = "novel"\nfilters = { min_length = 20, '
                'keep_best_share = 0.5 }\n')
    docs = [json.loads(line) for line in open(src, encoding="utf-8")]
    rows = [dict(d, site="t") for d in docs] + [
        {"id": f"u{i}", "site": "u", "text": PROSE[b] + PROSE[a]}
        for i, (a, b) in enumerate([(0, 1), (1, 2), (2, 3), (0, 2)])]
    both = jsonl(tmp_path / "both.jsonl", rows)
    out = str(tmp_path / "out2")
    # (--jaccard 1: u's pages, t's in another order, are not near-duplicates here)
    assert main(["build-corpus", "--input", both, "--sites", rules, "--site-column", "site",
                 "--id-column", "id", "--out", out, "--lm", lm, "--jaccard", "1",
                 "--keep-best-share", "0.75"]) == 0
    kept = {r["id"] for r in corpus_rows(out)}
    # t: 6 of 8 (the shuffled two go); u: its own share 0.5 of its 4 prose pages
    assert {i for i in kept if i.startswith("p")} == {f"p{i}" for i in range(6)}
    assert len([i for i in kept if i.startswith("u")]) == 2


def test_signal_rules_without_their_model_are_refused_before_any_work(tmp_path, novel_input,
                                                                      capsys):
    src, rules, lm = novel_input
    out = tmp_path / "out"
    assert main(["build-corpus", "--input", src, "--sites", rules, "--site", "t", "--out",
                 str(out), "--keep-best-share", "0.5"]) == 2
    assert "--keep-best-share 0.5: needs --lm MODEL" in one_line(capsys)
    with open(rules, "a", encoding="utf-8") as f:
        f.write("[defaults]\nfilters = { max_perplexity = 100 }\n")
    assert main(["build-corpus", "--input", src, "--sites", rules, "--site", "t", "--out",
                 str(out)]) == 2
    assert "site t: max_perplexity 100 needs --lm MODEL" in one_line(capsys)
    assert main(["build-corpus", "--input", src, "--sites", rules, "--site", "t", "--out",
                 str(out), "--lm", rules]) == 2
    assert "not an n-gram model" in one_line(capsys)
    assert not out.exists()


def test_classifier_score_and_threshold(tmp_path, novel_input):
    src, rules, _ = novel_input
    clf = tmp_path / "q.clf"
    QualityClassifier.train(GOOD, BAD, epochs=3).save(str(clf))
    out = build(tmp_path, src, rules, "--classifier", str(clf), "--min-quality-score", "0.99999")
    rows = corpus_rows(out) + corpus_rows(out, "rejected")
    scores = [json.loads(r["metrics"])["quality_score"] for r in rows if r["metrics"]]
    assert len(scores) == 8 and all(0 <= s <= 1 for s in scores)
    assert {r["rule"] for r in corpus_rows(out, "rejected")} <= {"min_quality_score"}
    stats = json.loads(open(os.path.join(out, "stats.json")).read())
    assert stats["settings"]["min_quality_score"] == 0.99999


def test_rehydrate_repeats_a_page_by_its_cluster_size(tmp_path):
    rules = tmp_path / "sites.toml"
    rules.write_text(NOVEL_RULES, encoding="utf-8")
    text = PROSE[0] + PROSE[2]
    docs = [{"id": f"a{i}", "text": text} for i in range(4)] + [
        {"id": "b", "text": PROSE[1] + PROSE[3]}]
    src = jsonl(tmp_path / "d.jsonl", docs)
    plain = build(tmp_path, src, str(rules))
    assert {r["id"]: r["weight"] for r in corpus_rows(plain)} == {"a0": 1.0, "b": 1.0}
    out = build(tmp_path, src, str(rules), "--rehydrate")
    # a cluster of 4 pages: FineWeb-2's weight 3; a page without duplicates: 1
    assert {r["id"]: r["weight"] for r in corpus_rows(out)} == {"a0": 3.0, "b": 1.0}
    stats = json.loads(open(os.path.join(out, "stats.json")).read())
    assert stats["sites"]["t"]["rehydrated_copies"]["docs"] == 2
    assert stats["settings"]["rehydrate"] is True


def test_fineweb2_preset_applies_its_rules_to_every_genre(tmp_path):
    from swelm.corpus_tools.filter import FINEWEB2_JPN
    from swelm.corpus_tools.sites import load_sites
    rules = tmp_path / "sites.toml"
    rules.write_text(NOVEL_RULES, encoding="utf-8")
    site = load_sites(str(rules), preset="fineweb2-jpn")[0]
    assert site.filters["min_line_punct_ratio"] == 0.167
    assert site.filters["max_top_2gram_ratio"] == 0.121
    assert site.filters["min_length"] == 20           # the site's own filters still win
    assert FINEWEB2_JPN["max_duplicate_paragraph_ratio"] is None
    # a list-like page fails the preset's line punctuation rule, and passes Swallow's
    page = "\n".join(f"項目{i}の説明と設定方法について" for i in range(30)) + "\n以上です。"
    src = jsonl(tmp_path / "d.jsonl", [{"id": "x", "text": page}])
    out = build(tmp_path, src, str(rules), "--preset", "fineweb2-jpn")
    rejected = corpus_rows(out, "rejected")
    assert len(rejected) == 1
    assert "min_line_punct_ratio" in json.loads(rejected[0]["metrics"])["failed_rules"]
    assert json.loads(open(os.path.join(out, "stats.json")).read())["settings"][
        "preset"] == "fineweb2-jpn"
    out = build(tmp_path, src, str(rules), "--preset=swallow")
    assert [r["id"] for r in corpus_rows(out)] == ["x"]


@pytest.mark.skipif(not os.path.exists(os.path.join(SHARED, "corpus", "valid.jsonl.gz")),
                    reason="shared data (JA_SHARED_DATA) absent")
def test_a_model_of_wikipedia_and_aozora_ranks_the_shared_corpus_sources():
    """On real text: a model of the shared corpus's Wikipedia and Aozora passages gives the
    held-back literature and encyclopedia text lower perplexity than the man pages."""
    import gzip
    ref, valid = [], {}
    with gzip.open(os.path.join(SHARED, "corpus", "train.jsonl.gz"), "rt") as f:
        for line in f:
            d = json.loads(line)
            if "aozora" in d["source"] or "Wikipedia" in d["source"]:
                ref.append(d["text"])
            if sum(map(len, ref)) > 1_500_000:
                break
    with gzip.open(os.path.join(SHARED, "corpus", "valid.jsonl.gz"), "rt") as f:
        for line in f:
            d = json.loads(line)
            valid.setdefault(d["source"].split(":")[0] + ("-aozora" if "aozora" in d["source"]
                                                          else ""), []).append(d["text"])
    lm = NgramLM.train(ref, order=5)
    median = {k: float(np.median(lm.perplexities(v))) for k, v in valid.items()}
    assert median["github-aozora"] < median["debian"], median
