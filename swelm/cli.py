"""The ``swelm`` command line.  This module owns the parser; each package registers its own
subcommands from its own ``cli`` module (``swelm.tokenizer.cli``, ``swelm.pipelines.cli``,
``swelm.model.cli``), and every handler is called the same way: ``handler(args) -> exit status``.

A :class:`~swelm.errors.SwelmError` is caught here, once: its message goes to stderr as one line
and the exit status is 2.  Any other exception is a bug and keeps its traceback.  Beam's and
other libraries' INFO logs stay off the console unless ``--verbose``.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import re
import signal
import sys
import threading
from typing import Callable

from . import __version__, procs
from .errors import SwelmError
from .options import Options, flag

_ROLE = re.compile(r":(?:mod|class|func|meth|attr|data):`~?([^`]*)`")
_LITERAL = re.compile(r"``([^`]*)``|`([^`]*)`")


def plain(text: str | None) -> str | None:
    """Docstring text as plain help text: Sphinx roles and backticks removed."""
    if not text:
        return text
    text = _ROLE.sub(r"\1", text)
    return _LITERAL.sub(lambda m: m.group(1) if m.group(1) is not None else m.group(2), text)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written (paragraphs kept); every option's default shown, unless its help
    already speaks of it or there is none to show."""

    def _get_help_string(self, action):
        help_ = action.help or ""
        if ("%(default)" in help_ or "default" in help_ or action.default is None
                or action.default is False or action.default == []
                or action.default is argparse.SUPPRESS
                or (not action.option_strings and action.nargs is None)):
            return help_
        return help_ + " (default: %(default)s)"


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    g = common.add_argument_group("output")
    g.add_argument("--verbose", action="store_true",
                   help="show the libraries' INFO logs (Beam, ...) on the console")
    g.add_argument("--debug", action="store_true",
                   help="show a traceback for errors (also SWELM_DEBUG=1)")
    return common


AddCommand = Callable[..., argparse.ArgumentParser]


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (exit status 2), naming the
    flag, the value and what was expected, and where the help is."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="swelm", formatter_class=HelpFormatter,
        description="Japanese corpus building, the SWE tokenizer and Switch/GPT language "
                    "models.  `swelm COMMAND --help` explains each command.".replace("`", ""))
    p.add_argument("--version", action="version", version=f"swelm {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _common()

    def add(name: str, *, help: str, description: str | None = None,
            func: Callable[[argparse.Namespace], int], beam_options: bool = False,
            add_help: bool = True) -> argparse.ArgumentParser:
        """A subcommand with the shared formatter and flags; ``beam_options``: unknown flags are
        passed to Beam as pipeline options (``args.beam_args``)."""
        sp = sub.add_parser(name, help=help, description=plain(description or help),
                            formatter_class=HelpFormatter, parents=[common], add_help=add_help)
        sp.set_defaults(func=func, beam_options=beam_options)
        return sp

    from .tokenizer.cli import register as tokenizer_commands
    from .pipelines.cli import register as pipeline_commands
    from .model.cli import register as model_commands
    from .corpus_tools.cli import register as quality_commands
    tokenizer_commands(add)
    pipeline_commands(add)
    quality_commands(add)
    model_commands(add)
    d = add("demo", help="the main job end to end on embedded inputs (make demo)",
            description="Tokenizer and encode_swe on a few embedded texts, then the embedded "
                        "demo site crawled, built into a corpus and encoded (swelm pipeline "
                        "--demo), then a tiny model trained for 60 steps and sampled.",
            func=lambda args: _demo(DemoOptions.from_args(args)))
    DemoOptions.add_flags(d)
    return p


@dataclasses.dataclass(kw_only=True)
class DemoOptions(Options):
    """``swelm demo``."""
    out: str = flag(os.environ.get("SWELM_DEMO_OUT", os.path.join("out", "demo")),
                    help="output folder")


def _demo(args: DemoOptions) -> int:
    from .demo import main as demo
    return demo(os.path.abspath(args.out))


class _Console(logging.Formatter):
    """``NAME: message`` with the last part of our logger names (``encode_swe: ...``)."""

    def format(self, record: logging.LogRecord) -> str:
        name = record.name.rsplit(".", 1)[-1] if record.name.startswith("swelm.") else record.name
        return f"{name}: {record.getMessage()}" + (
            "\n" + self.formatException(record.exc_info) if record.exc_info else "")


def _ours(verbose: bool):
    def keep(record: logging.LogRecord) -> bool:
        if verbose or record.name == "swelm" or record.name.startswith("swelm."):
            return True
        # a failing bundle is logged by Beam's runner and worker code with its traceback,
        # and the same failure then ends the pipeline in this process, where it is reported
        # once (one line for a user's problem, the traceback for a bug)
        return (record.levelno >= logging.ERROR
                and not record.name.startswith("apache_beam.runners."))
    return keep


def configure_logging(verbose: bool) -> None:
    """Our messages (loggers ``swelm.*``) at INFO on stderr; the libraries' (Beam's INFO lines,
    its apitools warnings, ...) only with ``--verbose``, or when they are errors."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "swelm_console", False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler()
    handler.swelm_console = True
    handler.setFormatter(_Console())
    handler.addFilter(_ours(verbose))
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def beam_flags(extra: list[str]) -> list[str]:
    """The Beam pipeline options among a command's unknown arguments, each as ``--flag=value``:
    Beam's and Dataflow's documentation write them ``--flag value`` as often as
    ``--flag=value``, and a value left apart would be lost (only the flags are recognised as
    options further on).

    >>> beam_flags(["--s3_endpoint_url", "http://127.0.0.1:9000", "--save_main_session",
    ...             "--project=p", "--region", "asia-northeast1"])
    ['--s3_endpoint_url=http://127.0.0.1:9000', '--save_main_session', '--project=p', '--region=asia-northeast1']
    """
    out: list[str] = []
    for arg in extra:
        if out and out[-1].startswith("--") and "=" not in out[-1] and not arg.startswith("-"):
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


#: the signal that is ending this command (SIGINT from Ctrl-C, SIGTERM, SIGHUP), once one came
_SIGNALLED = procs.SIGNALLED
#: the signal that ended the last command main() ran, kept for _exit
_ENDED_BY_SIGNAL: list[int] = []


def _on_signal(signum, frame):
    _SIGNALLED.append(signum)
    # the threads a library keeps for workers that are now being ended (concurrent.futures'
    # result reader) may fail on the way out; the command reports the signal, once
    threading.excepthook = lambda args: None
    raise KeyboardInterrupt


@contextlib.contextmanager
def _signals():
    """Ctrl-C, SIGTERM and SIGHUP end the command as KeyboardInterrupt, remembered in
    ``_SIGNALLED``: a library that turns the interrupt into another error (Beam's runner does)
    still ends in one line.  A signal the command was started with ignored stays ignored
    (``nohup`` ignores SIGHUP, a shell's background job SIGINT).  The previous handlers come
    back afterwards (the tests call :func:`main`)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.getsignal(s)
             for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    saved = {s: h for s, h in saved.items() if h is not signal.SIG_IGN}
    _SIGNALLED.clear()
    for s in saved:
        signal.signal(s, _on_signal)
    hook = threading.excepthook
    try:
        yield
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
        if not _SIGNALLED:
            threading.excepthook = hook


def _end_children() -> None:
    """Terminate the worker processes this process started with multiprocessing (encode_swe's
    pool), so an interrupted command leaves no process behind."""
    import multiprocessing
    for child in multiprocessing.active_children():
        child.terminate()
    for child in multiprocessing.active_children():
        child.join(5)


def _no_space(e: BaseException) -> bool:
    """Whether a full disk (ENOSPC, EDQUOT) is behind ``e`` (Beam passes a worker's error
    on as text)."""
    import errno
    seen = e
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        seen = seen.__cause__ or seen.__context__
    return "[Errno 28]" in str(e) or "No space left on device" in str(e)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not args.beam_options:
        parser.exit(2, f"swelm {args.command}: unrecognized arguments: {' '.join(extra)} "
                       f"(see swelm {args.command} --help)\n")
    args.beam_args = beam_flags(extra)
    configure_logging(args.verbose)
    debug = args.debug or os.environ.get("SWELM_DEBUG") == "1"
    where = f"swelm {args.command}"
    try:
        with _signals():
            try:
                code = int(args.func(args) or 0)
                if _SIGNALLED:
                    # the interrupt was raised where Python drops exceptions (a weakref
                    # callback prints "Exception ignored"): the command was still interrupted
                    return _interrupted(where)
                return code
            except BaseException:
                if _SIGNALLED:
                    _end_children()
                raise
    except SwelmError as e:
        if debug:
            raise
        print(f"{where}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return _interrupted(where)
    except BrokenPipeError:
        # the reader of the output went away (`swelm tokenize | head`): stop quietly, with the
        # shell's status for SIGPIPE; nothing more is written to the closed pipe
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + int(signal.SIGPIPE)
    except Exception as e:
        if _SIGNALLED and not debug:        # the interrupt, as a library passed it on
            return _interrupted(where)
        extra = _missing_extra(e)
        if extra and not debug:
            print(f"{where}: needs {e.name}, which is not installed here; install swelm's "
                  f"{extra[0]} extra: pip install 'swelm[{extra[0]}]' ({extra[1]})",
                  file=sys.stderr)
            return 2
        if _no_space(e) and not debug:
            name = getattr(e, "filename", None)
            print(f"{where}: no space left on the device"
                  + (f" writing {name}" if name else "") + "; the output was not completed "
                  "(outputs are published whole, so a previous one is as it was): free space "
                  "or write elsewhere", file=sys.stderr)
            return 2
        # the machine's refusal about a named file (no permission, a read-only disk): one
        # line too; any other error is a bug and keeps its traceback
        if debug or not isinstance(e, OSError) or not e.filename:
            raise
        print(f"{where}: {e.filename}: {e.strerror or e}", file=sys.stderr)
        return 2
    finally:
        from .publish import release_locks
        release_locks()
        # the process ends at once (_exit); a caller of main() in a longer-lived process
        # (tests, a notebook) may publish outputs again
        _ENDED_BY_SIGNAL[:] = _SIGNALLED
        _SIGNALLED.clear()


#: the optional dependencies, by the module a command imports: (extra, what it adds)
EXTRAS = {"torch": ("model", "PyTorch: train, generate, score, fill, vectorize, convert, "
                             "export-hf"),
          "safetensors": ("model", "PyTorch: train, generate, score, fill, vectorize, "
                                   "convert, export-hf"),
          "emoji": ("vocab", "the emoji data that build-emoji and build-vocab read"),
          "boto3": ("aws", "s3:// paths"),
          "google": ("gcp", "gs:// paths"),
          "apitools": ("gcp", "gs:// paths"),
          "trafilatura": ("bench", "the extraction comparisons of bench/")}


def _missing_extra(e: BaseException):
    """``(extra, what it adds)`` when ``e`` is the import of an optional dependency failing."""
    if not isinstance(e, ModuleNotFoundError) or not e.name:
        return None
    return EXTRAS.get(e.name.split(".")[0])


def _interrupted(where: str) -> int:
    """One line and the shell's status for the signal that ended the command: 130 for Ctrl-C,
    143 for SIGTERM, 129 for SIGHUP (the terminal closed)."""
    sig = _SIGNALLED[0] if _SIGNALLED else signal.SIGINT
    word = {signal.SIGTERM: "terminated", signal.SIGHUP: "hung up"}.get(sig, "interrupted")
    print(f"{where}: {word}", file=sys.stderr)
    return 128 + int(sig)


def encode_swe(argv: list[str] | None = None) -> int:
    """The ``encode_swe`` command: the same command as ``swelm encode-swe``."""
    return main(["encode-swe", *(sys.argv[1:] if argv is None else argv)])


def _exit(code: int) -> None:
    """End the process with ``code``.  After a signal, or when workers were ended in the
    middle of their work (swelm.procs.abandon_threads), it ends at once (``os._exit``, the
    output flushed): threads a library left waiting on the workers that were just ended
    (concurrent.futures' result reader, gRPC's) would otherwise hold the exit for ever."""
    from .procs import threads_abandoned
    if _ENDED_BY_SIGNAL or threads_abandoned():
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)
    sys.exit(code)


def script() -> None:
    """The ``swelm`` console script (and ``python -m swelm``)."""
    _exit(main())


def encode_swe_script() -> None:
    """The ``encode_swe`` console script."""
    _exit(encode_swe())
