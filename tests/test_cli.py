"""The swelm command line and the demo."""
import argparse
import re
import subprocess
import sys

import pytest

import swelm
from swelm.cli import build_parser

from swelm.cli import main


def test_tokenize_and_decode(upstream_files, capsys):
    v, e = map(str, upstream_files)
    assert main(["tokenize", "している", "--vocabulary", v, "--emoji", e]) == 0
    out = capsys.readouterr().out.split()
    assert out == ["0", "9"]
    assert main(["tokenize", "している", "--tokens", "--vocabulary", v, "--emoji", e]) == 0
    assert capsys.readouterr().out.strip() == '["して", "いる"]'
    assert main(["decode", "0", "9", "--vocabulary", v, "--emoji", e]) == 0
    assert capsys.readouterr().out == "している\n"


def test_a_text_argument_that_is_not_utf8_is_one_line():
    """Bytes that are not UTF-8 on the command line are named as such, as on standard input
    (not as the lone surrogate Python makes of them)."""
    r = subprocess.run([sys.executable.encode(), b"-m", b"swelm", b"tokenize", b"a\xed\xb3\xbf"],
                       capture_output=True, timeout=120)
    err = r.stderr.decode("utf-8", "replace").strip()
    assert r.returncode == 2 and len(err.splitlines()) == 1, err
    assert "TEXT argument: not valid UTF-8 (byte 1: 0xed)" in err


def test_errors_are_reported(tmp_path, capsys):
    assert main(["decode", "1", "--vocabulary", str(tmp_path / "none.txt"),
                 "--emoji", str(tmp_path / "none.json")]) == 2
    assert "vocabulary file not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "tokenize" in capsys.readouterr().out


def test_demo_runs(tmp_path, upstream_files, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "Done in" in out and (tmp_path / "demo" / "shards" / "manifest.json").exists()


def _subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"swelm {swelm.__version__}"
    r = subprocess.run([sys.executable, "-m", "swelm", "--version"], capture_output=True,
                       text=True, check=True)
    assert r.stdout.strip() == f"swelm {swelm.__version__}"


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_every_help_is_plain_text_with_defaults(name, capsys):
    sub = _subcommands()[name]
    with pytest.raises(SystemExit) as e:
        main([name, "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert "`" not in text and ":mod:" not in text and ":class:" not in text
    flat = " ".join(text.split())
    for action in sub._actions:
        d = action.default
        if (not action.option_strings or d in (None, False, [], argparse.SUPPRESS)
                or action.help is None):
            continue
        # the default is shown: by the formatter, or in the help's own words
        assert str(d) in flat or "default" in action.help, (name, action.dest, d)


def test_encode_swe_is_the_same_command(tmp_path, capsys):
    from swelm.cli import encode_swe
    with pytest.raises(SystemExit):
        main(["encode-swe", "--help"])
    a = capsys.readouterr().out
    with pytest.raises(SystemExit):
        encode_swe(["--help"])
    assert capsys.readouterr().out == a and "--src_dir" in a and "--clean_text" in a
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("吾輩は猫である。", encoding="utf-8")
    assert main(["encode-swe", "--src_dir", str(src), "--dst_file", str(tmp_path / "a"),
                 "--num_process", "1", "--quiet"]) == 0
    assert encode_swe(["--src_dir", str(src), "--dst_file", str(tmp_path / "b"),
                       "--num_process", "1", "--quiet"]) == 0
    for f in ("shard-00000.arrow", "manifest.json"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()


def test_one_error_line_on_stderr(tmp_path, capsys):
    # a SwelmError from each package: one line on stderr, exit status 2, nothing on stdout
    cases = [
        ["encode-swe", "--src_dir", str(tmp_path / "none"), "--dst_file", str(tmp_path / "o")],
        ["build-corpus", "--warc", str(tmp_path / "*.warc.gz"), "--sites", "x", "--out",
         str(tmp_path / "o")],
        ["encode", "--corpus", str(tmp_path / "*.parquet"), "--out", str(tmp_path / "o")],
        ["generate", "--model", str(tmp_path / "nope")],
        ["decode", "x"],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        cap = capsys.readouterr()
        lines = cap.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"swelm {argv[0]}: "), (argv, cap.err)
        assert cap.out == ""


def test_unexpected_errors_keep_their_traceback(monkeypatch):
    def boom(args):
        raise RuntimeError("a bug")
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    action.choices["decode"].set_defaults(func=boom)
    monkeypatch.setattr("swelm.cli.build_parser", lambda: parser)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["decode", "1"])


def test_debug_shows_the_traceback(monkeypatch):
    from swelm.errors import SwelmError
    with pytest.raises(SwelmError, match="expected an integer"):
        main(["decode", "x", "--debug"])
    monkeypatch.setenv("SWELM_DEBUG", "1")
    with pytest.raises(SwelmError, match="expected an integer"):
        main(["decode", "x"])


@pytest.mark.parametrize("argv", [["tokenize", "x", "--no-such-flag"],
                                  ["score", "--model", "m", "a.txt", "extra.txt"]])
def test_unknown_flags_only_for_beam_commands(capsys, argv):
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"swelm {argv[0]}: unrecognized arguments: ") and err.rstrip().endswith(
        f"(see swelm {argv[0]} --help)"), err


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path):
    """`swelm tokenize --lines | head -1`: no BrokenPipeError traceback, the shell's SIGPIPE
    status."""
    import subprocess
    import sys
    src = tmp_path / "in.txt"
    src.write_text("吾輩は猫である。\n" * 50000, encoding="utf-8")
    r = subprocess.run(["bash", "-c", f"set -o pipefail; '{sys.executable}' -m swelm tokenize "
                        f"--lines < '{src}' | head -1; echo \"status ${{PIPESTATUS[0]}}\" >&2"],
                       capture_output=True, text=True, timeout=300)
    assert len(r.stdout.splitlines()) == 1
    assert "Traceback" not in r.stderr and "status 141" in r.stderr, r.stderr


def test_train_without_config_on_cpu_picks_tiny(tmp_path):
    pytest.importorskip("torch")
    import torch
    if torch.cuda.is_available():
        pytest.skip("a CUDA machine trains the small preset by default")
    from lmkit import encode_corpus
    data = encode_corpus(tmp_path / "d")
    r = subprocess.run([sys.executable, "-m", "swelm", "train", "--data", str(data), "--out",
                        str(tmp_path / "run"), "--steps", "1", "--batch-size", "2",
                        "--seq-len", "32", "--workers", "0", "--no-progress"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "using the tiny preset" in r.stderr
    import json
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    from swelm.model.registry import make_config
    assert cfg["d_model"] == make_config("tiny").d_model


def test_beam_logs_stay_off_the_console(tmp_path):
    """A local multi-worker run prints our lines only, none of the worker processes' logs;
    --verbose lets them through."""
    from swelm.pipelines.demo_site import SITES_TOML, render, serve
    render(str(tmp_path / "site"))
    httpd, base = serve(str(tmp_path / "site"))
    runs = {}
    try:
        rules = tmp_path / "sites.toml"
        rules.write_text(SITES_TOML.format(base=base), encoding="utf-8")
        for flags in ((), ("--verbose",)):
            runs[flags] = subprocess.run(
                [sys.executable, "-m", "swelm", "crawl", "--sites", str(rules), "--out",
                 str(tmp_path / f"c{len(flags)}"), "--workers", "2", *flags],
                capture_output=True, text=True, timeout=300)
    finally:
        httpd.shutdown()
        httpd.server_close()

    def noise(r):
        assert r.returncode == 0, r.stderr
        return [line for line in (r.stdout + r.stderr).splitlines()
                if re.search(r"INFO|apache_beam|apitools|sdk harness", line)]
    assert noise(runs[()]) == [] and "demo: fetched " in runs[()].stdout
    assert any("sdk harness" in line for line in noise(runs[("--verbose",)]))


@pytest.mark.parametrize("argv", [["train", "--data", "x", "--out", "y"],
                                  ["generate", "--model", "m", "--context", "a"]])
def test_a_model_command_without_torch_names_the_extra(tmp_path, argv):
    """A plain `pip install swelm` has no PyTorch: a model command says in one line which
    extra to install, instead of a ModuleNotFoundError traceback."""
    import subprocess
    import sys
    code = ("import sys; sys.modules['torch'] = None; sys.modules['safetensors'] = None; "
            "from swelm.cli import main; sys.exit(main(sys.argv[1:]))")
    r = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                       cwd=tmp_path, timeout=120)
    err = r.stderr.strip()
    assert r.returncode == 2 and len(err.splitlines()) == 1, err
    assert err.startswith(f"swelm {argv[0]}: needs torch, which is not installed here; "
                          "install swelm's model extra: pip install 'swelm[model]'"), err
