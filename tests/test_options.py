"""Options in one shape (swelm.options): the flags come from the dataclass fields, the parsed
flags become an instance, defaults are written once, and a command that runs others builds
their option objects."""
from __future__ import annotations

import argparse
import dataclasses
import doctest

import pytest

import swelm.options as options_mod
from swelm.cli import build_parser
from swelm.options import Options, flag


def test_doctests():
    assert doctest.testmod(options_mod).failed == 0


@dataclasses.dataclass(kw_only=True)
class _Base(Options):
    FLAGS_FIRST = True
    model: str = flag(help="m")


@dataclasses.dataclass(kw_only=True)
class _Tool(_Base):
    context: str = flag("", names=("--context", "--ctx"), help="c")
    n: int = flag(3, type=int, help="n")
    items: list = flag(default_factory=list, action="append", help="i")
    progress: bool = flag(True, names=("--no-progress",), action="store_false", help="p")
    path: str | None = flag(None, positional=True, nargs="?", help="a file")


@pytest.mark.parametrize("argv", [
    ["--model", "M", "--ctx", "x", "--n", "5", "--items", "a", "--items", "b", "--no-progress",
     "f.txt"],
    ["--model=M", "--context=x", "--n=5", "--items=a", "--items=b", "--no-progress", "f.txt"]])
def test_both_spellings_aliases_and_actions(argv):
    p = argparse.ArgumentParser()
    _Tool.add_flags(p)
    got = _Tool.from_args(p.parse_args(argv))
    assert got == _Tool(model="M", context="x", n=5, items=["a", "b"], progress=False,
                        path="f.txt")


def test_defaults_come_from_the_fields_and_required_flags_are_required(capsys):
    p = argparse.ArgumentParser()
    _Tool.add_flags(p)
    assert _Tool.from_args(p.parse_args(["--model", "M"])) == _Tool(model="M")
    with pytest.raises(SystemExit):
        p.parse_args([])
    assert "--model" in capsys.readouterr().err
    # a base that asks to come first is listed first; the rest in field order
    order = [a.dest for a in p._actions if a.dest != "help"]
    assert order == ["model", "context", "n", "items", "progress", "path"]


def test_a_list_default_is_not_shared_between_parses():
    p = argparse.ArgumentParser()
    _Tool.add_flags(p)
    one = _Tool.from_args(p.parse_args(["--model", "M", "--items", "a"]))
    two = _Tool.from_args(p.parse_args(["--model", "M"]))
    assert one.items == ["a"] and two.items == []


# every command's handler gets its options object: the parsed flags of each subcommand,
# defaults only, become an instance of the class that declared them
COMMANDS = {
    "tokenize": ("swelm.tokenizer.options", "TokenizeOptions", []),
    "decode": ("swelm.tokenizer.options", "DecodeOptions", []),
    "encode-swe": ("swelm.tokenizer.options", "EncodeSweOptions",
                   ["--src_dir", "s", "--dst_file", "d"]),
    "build-vocab": ("swelm.tokenizer.options", "BuildVocabOptions", ["--out", "o"]),
    "build-emoji": ("swelm.tokenizer.options", "BuildEmojiOptions", []),
    "export-hf": ("swelm.tokenizer.options", "ExportHfOptions", ["d"]),
    "crawl": ("swelm.pipelines.crawl", "CrawlOptions", ["--sites", "s", "--out", "o"]),
    "build-corpus": ("swelm.pipelines.corpus", "CorpusOptions", ["--out", "o"]),
    "encode": ("swelm.pipelines.encode", "EncodeOptions", ["--corpus", "c", "--out", "o"]),
    "pipeline": ("swelm.pipelines.pipeline", "PipelineOptions", ["--out", "o"]),
    "train": ("swelm.model.options", "TrainConfig", ["--data", "d", "--out", "o"]),
    "convert": ("swelm.model.options", "ConvertOptions", ["to-hf", "r", "--out", "o"]),
    "generate": ("swelm.model.options", "GenerateOptions", ["--model", "m"]),
    "fill": ("swelm.model.options", "FillOptions", ["--model", "m", "--context", "c"]),
    "score": ("swelm.model.options", "ScoreOptions", ["--model", "m"]),
    "vectorize": ("swelm.model.options", "VectorizeOptions", ["--model", "m"]),
    "demo": ("swelm.cli", "DemoOptions", []),
    "build-lm": ("swelm.corpus_tools.cli", "BuildLMOptions", ["i", "--out", "o"]),
    "train-classifier": ("swelm.corpus_tools.cli", "TrainClassifierOptions", ["--out", "o"]),
}


def test_every_command_is_covered():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert sorted(sub.choices) == sorted(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_parses_into_its_options_with_the_field_defaults(name):
    import importlib
    module, cls_name, required = COMMANDS[name]
    cls = getattr(importlib.import_module(module), cls_name)
    args = build_parser().parse_args([name, *required])
    got = cls.from_args(args)
    # every flag the parser has for this command is a field of the class
    flags = {a.dest for a in _subparser(name)._actions} - {"help", "verbose", "debug"}
    fields = {f.name for f in dataclasses.fields(cls)}
    assert flags <= fields, flags - fields
    for f in dataclasses.fields(cls):
        if f.name in flags and f.default is not dataclasses.MISSING:
            assert getattr(got, f.name) == f.default, f.name


def _subparser(name):
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def test_pipeline_builds_the_other_commands_options():
    """swelm pipeline hands its runner flags and shard flags to the stages it runs."""
    from swelm.pipelines import corpus, crawl, encode
    from swelm.pipelines.pipeline import PipelineOptions
    o = PipelineOptions(out="o", workers=2, beam_args=["--s3_endpoint_url=x"], seq_len=64)
    beam = o.beam()
    assert beam == {"workers": 2, "runner": None, "beam_args": ["--s3_endpoint_url=x"],
                    "verbose": False}
    assert crawl.CrawlOptions(sites="s", out="o", **beam).workers == 2
    assert corpus.CorpusOptions(out="o", **beam).beam_args == ["--s3_endpoint_url=x"]
    e = encode.EncodeOptions(corpus=["c"], out="o", **beam, seq_len=o.seq_len)
    assert e.seq_len == 64 and e.workers == 2
