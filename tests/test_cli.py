"""The swelm command line and the demo."""
import pytest

from pipelines.cli import main


def test_tokenize_and_decode(upstream_files, capsys):
    v, e = map(str, upstream_files)
    assert main(["tokenize", "している", "--vocabulary", v, "--emoji", e]) == 0
    out = capsys.readouterr().out.split()
    assert out == ["0", "9"]
    assert main(["tokenize", "している", "--tokens", "--vocabulary", v, "--emoji", e]) == 0
    assert capsys.readouterr().out.strip() == '["して", "いる"]'
    assert main(["decode", "0", "9", "--vocabulary", v, "--emoji", e]) == 0
    assert capsys.readouterr().out == "している\n"


def test_errors_are_reported(tmp_path, capsys):
    assert main(["decode", "1", "--vocabulary", str(tmp_path / "none.txt"),
                 "--emoji", str(tmp_path / "none.json")]) == 2
    assert "vocabulary file not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "tokenize" in capsys.readouterr().out


def test_demo_runs(tmp_path, monkeypatch, upstream_files, capsys):
    from pipelines import demo
    monkeypatch.setattr(demo, "OUT", str(tmp_path / "demo"))
    assert demo.main() == 0
    out = capsys.readouterr().out
    assert "Done in" in out and (tmp_path / "demo" / "shards" / "manifest.json").exists()
