"""Command options in one shape.  Each command's options are a dataclass whose fields declare
their flags (:func:`flag`): the field's default is the flag's default, written once; the
parser is made from the fields (:meth:`Options.add_flags`) and the parsed flags become an
instance (:meth:`Options.from_args`), which is what the command's ``run`` takes.  Commands
that do the work of others (``swelm pipeline``) build those commands' option objects
directly, and option classes compose by inheritance (``kw_only``: no field order to mind).

    >>> import argparse, dataclasses
    >>> @dataclasses.dataclass(kw_only=True)
    ... class Demo(Options):
    ...     out: str = flag(help="output folder")
    ...     shards: int = flag(4, type=int, help="files")
    ...     quiet: bool = flag(False, action="store_true", help="say less")
    >>> p = argparse.ArgumentParser()
    >>> Demo.add_flags(p)
    >>> Demo.from_args(p.parse_args(["--out", "o", "--shards=2"]))
    Demo(out='o', shards=2, quiet=False)
"""
from __future__ import annotations

import argparse
import dataclasses
from typing import Any

_MISSING = dataclasses.MISSING


def flag(default: Any = _MISSING, *, help: str, names: tuple = (), type=None, choices=None,
         nargs=None, metavar=None, action=None, default_factory=_MISSING,
         positional: bool = False, const=None):
    """A dataclass field that is also a command-line flag (``--field-name`` unless ``names``
    are given; the first name is the one help shows first).  No default: a required flag."""
    spec = dict(help=help, names=tuple(names), type=type, choices=choices, nargs=nargs,
                metavar=metavar, action=action, positional=positional, const=const)
    meta = {"flag": spec}
    if default_factory is not _MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


class _AliasStore(argparse.Action):
    """Store a flag's value; the same flag given again under another of its names with
    another value (``--max-new-tokens 5 --max_length 7``) is an error, not a silent win."""

    def __call__(self, parser, namespace, values, option_string=None):
        seen = namespace.__dict__.setdefault("_alias_given", {})
        before = seen.get(self.dest)
        if before is not None and before[0] != option_string and before[1] != values:
            parser.error(f"{before[0]} {before[1]} and {option_string} {values}: the same "
                         "flag twice with two values; give one")
        seen[self.dest] = (option_string, values)
        setattr(namespace, self.dest, values)


class Options:
    """The mixin of every command's option dataclass (``@dataclass(kw_only=True)``).  A base
    class that sets ``FLAGS_FIRST = True`` has its flags listed before its subclasses' (the
    model an LM tool loads comes before what the tool does with it)."""
    FLAGS_FIRST = False

    @classmethod
    def add_flags(cls, parser: argparse.ArgumentParser, skip=()) -> None:
        """One flag per field that declares one (``skip``: names left out): the class's own
        fields first, then those of its bases in method resolution order (``FLAGS_FIRST``
        bases before all)."""
        mro = sorted(cls.__mro__, key=lambda k: not vars(k).get("FLAGS_FIRST", False))
        order = [n for k in mro for n in vars(k).get("__annotations__", {})]
        rank = {n: i for i, n in reversed(list(enumerate(order)))}
        for f in sorted(dataclasses.fields(cls), key=lambda f: rank.get(f.name, 0)):
            spec = f.metadata.get("flag")
            if spec is None or f.name in skip:
                continue
            kw = {k: spec[k] for k in ("help", "type", "choices", "nargs", "metavar", "action",
                                       "const") if spec.get(k) is not None}
            if f.default is not _MISSING:
                default = f.default
            elif f.default_factory is not _MISSING:
                default = f.default_factory()
            else:
                default = _MISSING
            if spec["positional"]:
                if default is not _MISSING:
                    kw["default"] = default
                parser.add_argument(f.name, **kw)
                continue
            names = spec["names"] or ("--" + f.name.replace("_", "-"),)
            if len(names) > 1 and "action" not in kw and spec.get("nargs") is None:
                kw["action"] = _AliasStore
            if default is _MISSING:
                kw["required"] = True
            else:
                kw["default"] = default
            parser.add_argument(*names, dest=f.name, **kw)

    @classmethod
    def from_args(cls, args, **values):
        """An instance from parsed flags (an ``argparse.Namespace`` or any object with the
        fields as attributes); ``values`` override them."""
        for f in dataclasses.fields(cls):
            if f.name not in values and hasattr(args, f.name):
                values[f.name] = getattr(args, f.name)
        return cls(**values)

    def replace(self, **values):
        return dataclasses.replace(self, **values)
