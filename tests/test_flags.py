"""Flags as users type them: Beam's pass-through options in both spellings, help texts that
match what each command accepts, and the doctests of the small helpers."""
from __future__ import annotations

import argparse
import doctest

import pytest

from swelm.cli import beam_flags, build_parser


def beam_args(*argv: str) -> list[str]:
    args, extra = build_parser().parse_known_args(list(argv))
    return beam_flags(extra)


@pytest.mark.parametrize("spaced", [True, False])
def test_beam_flags_in_both_spellings(spaced):
    """s3, gcp and portable-runner options reach Beam with their values, written
    ``--flag value`` or ``--flag=value``."""
    from apache_beam.options.pipeline_options import (GoogleCloudOptions, PipelineOptions,
                                                      PortableOptions, S3Options)
    from swelm.pipelines.io import FileSystem
    flags = {"--s3_endpoint_url": "http://127.0.0.1:8333", "--s3_region_name": "us-east-1",
             "--project": "my-project", "--region": "asia-northeast1",
             "--temp_location": "gs://bucket/tmp", "--environment_type": "EXTERNAL",
             "--environment_config": "127.0.0.1:50000"}
    argv = [part for k, v in flags.items() for part in ((k, v) if spaced else (f"{k}={v}",))]
    got = beam_args("build-corpus", "--warc", "a.warc.gz", *argv, "--sites", "s.toml",
                    "--out", "o", "--runner", "DataflowRunner")
    assert got == [f"{k}={v}" for k, v in flags.items()]
    options = PipelineOptions(got)
    assert options.view_as(S3Options).s3_endpoint_url == "http://127.0.0.1:8333"
    assert options.view_as(GoogleCloudOptions).region == "asia-northeast1"
    assert options.view_as(GoogleCloudOptions).temp_location == "gs://bucket/tmp"
    assert options.view_as(PortableOptions).environment_config == "127.0.0.1:50000"
    assert "--s3_endpoint_url=http://127.0.0.1:8333" in FileSystem(got).options
    args, _ = build_parser().parse_known_args(["encode", "--corpus", "c", "--out", "o",
                                               "--runner" if spaced else "--runner=Flink",
                                               *(["FlinkRunner"] if spaced else [])])
    assert args.runner == ("FlinkRunner" if spaced else "Flink")


def _subcommands():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_help_offers_what_the_command_accepts(name):
    """Every option's choices appear in the command's --help as they are accepted, and every
    default that --help shows parses back to itself."""
    sp = _subcommands()[name]
    text = sp.format_help()
    for action in sp._actions:
        if action.choices and action.option_strings:
            for choice in action.choices:
                assert str(choice) in text, (name, action.dest, choice)
                ns = sp.parse_known_args([*_required(sp), action.option_strings[0],
                                          str(choice)])[0]
                assert getattr(ns, action.dest) == choice


def _required(sp) -> list[str]:
    out = []
    for a in sp._actions:
        if a.required and a.option_strings:
            out += [a.option_strings[0], "x"]
        elif not a.option_strings and a.nargs not in ("?", "*", argparse.REMAINDER) \
                and a.dest != "help":
            out.append(next(iter(a.choices)) if a.choices else "x")
    return out


def test_vectorize_accepts_each_output_its_help_offers():
    """Every ``out.EXT`` --help names (out.json once was refused) is an accepted --output."""
    import re
    from swelm.model.cli import VECTOR_OUTPUTS
    text = " ".join(_subcommands()["vectorize"].format_help().split())
    offered = {"." + e for e in re.findall(r"\bout\.(\w+)", text)}
    assert offered and offered <= set(VECTOR_OUTPUTS), (offered, text)


@pytest.mark.parametrize("module", ["swelm.cli", "swelm.publish", "swelm.corpus_tools.warc",
                                    "swelm.tokenizer.kinds"])
def test_doctests(module):
    import importlib
    assert doctest.testmod(importlib.import_module(module)).failed == 0


def _refused(capsys, argv, *words):
    from swelm.cli import main
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(w in err for w in words), err


@pytest.mark.parametrize("spaced", [True, False])
@pytest.mark.parametrize("command", ["crawl", "build-corpus", "encode", "pipeline"])
def test_an_unknown_runner_is_one_line_before_anything_is_written(capsys, tmp_path, command,
                                                                  spaced):
    rules = tmp_path / "sites.toml"
    rules.write_text('[[sites]]\nname = "a"\nseeds = ["http://127.0.0.1:9/"]\ngenre = "docs"\n')
    corpus = tmp_path / "c.parquet"
    corpus.write_bytes(b"")
    out = tmp_path / "out"
    argv = {"crawl": ["--sites", str(rules)], "build-corpus": ["--all-sites", "--warc", str(rules)],
            "encode": ["--corpus", str(corpus)], "pipeline": ["--demo"]}[command]
    runner = ["--runner", "Bogus"] if spaced else ["--runner=Bogus"]
    _refused(capsys, [command, *argv, "--out", str(out), *runner], "--runner Bogus",
             "Unexpected pipeline runner")
    assert not out.exists()


def test_flags_that_exclude_each_other_are_refused(capsys, tmp_path):
    rules = tmp_path / "sites.toml"
    rules.write_text('[[sites]]\nname = "a"\nseeds = ["http://127.0.0.1:9/"]\ngenre = "docs"\n')
    _refused(capsys, ["build-corpus", "--all-sites", "--warc", "a.warc.gz", "--warc-list",
                      "w.paths", "--out", str(tmp_path / "b")], "--warc a.warc.gz",
             "--warc-list w.paths", "give one")
    _refused(capsys, ["pipeline", "--demo", "--sites", str(rules), "--out",
                      str(tmp_path / "p")], "--demo and --sites", "give one")
    _refused(capsys, ["crawl", "--sites", str(rules), "--site=nope", "--out",
                      str(tmp_path / "c")], "--site nope", "its sites: a")
    assert not any((tmp_path / n).exists() for n in ("b", "p"))


def test_genre_weights_given_twice_add_up():
    args = build_parser().parse_args(["build-corpus", "--out", "o", "--genre-weight=docs=2",
                                      "--genre-weight", "legal=0.5,docs=3"])
    assert args.genre_weight == {"docs": 3.0, "legal": 0.5}
    assert build_parser().parse_args(["build-corpus", "--out", "o"]).genre_weight == {}
