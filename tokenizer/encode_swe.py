"""encode_swe: encode a folder of text files into token shards.

The flags are those of the reference ``encode_swe.py`` (plus ``--emoji``, ``--format``,
``--shard_tokens``).  Every ``.txt`` file under ``--src_dir`` is read as UTF-8 (in sorted
path order, so the output is deterministic), followed by ``<|endoftext|>``; consecutive
files are joined until a chunk holds at least ``--combine`` characters, and each chunk is
one row.  Files are encoded one by one, which gives the same ids as encoding the joined
chunk when no vocabulary spelling or emoji key has ``<`` after its first character (true
of the SWE vocabularies); ``clean_text`` applies to every chunk (the reference script
skipped it on each worker's last chunk).

Output: ``--format arrow`` (default) writes a shard directory (see
:mod:`tokenizer.shards`); ``--format npz`` writes the reference layout, one int64 array per
chunk (``arr_0``, ``arr_1``, …) in a compressed ``.npz``.  Either is written under a
temporary name and renamed when complete.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from multiprocessing import get_context

import numpy as np

from swelm.console import progress_mode
from swelm.errors import SwelmError, UsageError, first_line
from swelm.publish import Kind, atomic_path, check_destination, remove_stale_temporaries

from .kinds import open_tokenizer
from .shards import SHARD_SET, ShardWriter


def _is_npz(head: bytes) -> bool:
    """Whether a file starts as a ``.npz`` of the reference layout (a zip whose first member is
    ``arr_0.npy``)."""
    if head[:4] != b"PK\x03\x04" or len(head) < 30:
        return False
    n = int.from_bytes(head[26:28], "little")
    return head[30:30 + n] == b"arr_0.npy"


#: the reference layout: one int array per chunk (arr_0, arr_1, ...) in a compressed .npz
NPZ = Kind("an .npz token file", is_file=True, recognise=_is_npz)

log = logging.getLogger("swelm.encode_swe")

_ENC = None             # the tokenizer (any kind: swelm.tokenizer.kinds.open_tokenizer)
_CLEAN = False


def _init_worker(vocab: str | None, emoji: str | None, clean: bool,
                 parent: int = 0) -> None:
    """Load the tokenizer; in a pool worker (``parent``: the command's process id) also set
    how signals end it: with its parent, whatever ends that."""
    global _ENC, _CLEAN
    if parent:
        import signal

        from swelm.procs import end_with_parent
        # Ctrl-C reaches every process of the terminal's group: the parent alone handles it
        # (and ends the workers); a SIGTERM to a worker ends it as usual
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:     # (nohup: stays so)
            signal.signal(signal.SIGHUP, signal.SIG_DFL)
        end_with_parent(parent)
    _ENC = open_tokenizer(vocab, emoji)
    _CLEAN = clean


def _open_binary(path: str):
    return open(path, "rb")


def _encode_units(units: list) -> list:
    """:func:`_encode_unit` of each unit, in order (one task of the pool)."""
    return [_encode_unit(u) for u in units]


def _encode_unit(unit) -> list:
    """The documents of one unit of work: a ``.txt`` file (``(path, None, None, None)``), or
    a piece ``(path, start, end, text column)`` of a JSON-lines or Parquet file
    (swelm.corpus_tools.records), each as :func:`_encode_file` gives it."""
    path, start, end, column = unit
    if column is None:
        return [_encode_file(path)]
    from swelm.corpus_tools.records import read
    out = []
    try:
        for where, rec, problem in read(path, start, end, _open_binary, column):
            if rec is not None and not rec["text"]:
                continue                    # (an empty text is no document, as in encode)
            out.append((where, 0, None, problem) if rec is None else
                       _encode_text(where, rec["text"]))
    except Exception as e:          # (a file that changed or broke since it was checked)
        why = first_line(e)
        out.append((path, 0, None, f"cannot read: {why}"))
    return out


def _encode_file(path: str) -> tuple[str, int, bytes | None, str | None]:
    """(path, characters, uint16 token bytes incl. <|endoftext|>, error)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return path, 0, None, f"not valid UTF-8 (byte {e.start}: {e.reason})"
    except OSError as e:
        return path, 0, None, f"cannot read: {e.strerror}"
    return _encode_text(path, text)


def _encode_text(where: str, text: str) -> tuple[str, int, bytes | None, str | None]:
    try:
        ids = _ENC.encode_array(text, clean=_CLEAN)
    except ValueError as e:
        return where, 0, None, str(e)
    ids = np.append(ids, np.array([_ENC.eot_id], dtype=ids.dtype))
    return where, len(text), ids.astype(np.uint16 if len(_ENC) <= 65536 else np.int64).tobytes(), None


def find_text_files(src_dir: str, skipped: list | None = None,
                    suffixes: tuple = (".txt",)) -> list[str]:
    """The regular ``.txt`` files (or files with one of ``suffixes``) under ``src_dir`` in
    sorted path order; others so named (FIFOs, devices, sockets, broken links, which would
    block or fail a reader) go to ``skipped`` as ``(path, reason)``."""
    import stat
    found = []
    for cur, dirs, files in os.walk(src_dir):
        dirs.sort()
        for f in sorted(files):
            if not f.lower().endswith(suffixes):
                continue
            path = os.path.join(cur, f)
            try:
                mode = os.stat(path).st_mode
            except OSError as e:
                mode, why = None, f"cannot read: {e.strerror}"
            if mode is not None and stat.S_ISREG(mode):
                found.append(path)
            elif skipped is not None:
                skipped.append((path, why if mode is None else "not a regular file"))
    return found


class EncodeError(SwelmError):
    """encode_swe could not finish (nothing was published)."""


DESCRIPTION = ("Encode every .txt file under a folder with the SWE tokenizer into token shards "
               "(Arrow IPC, uint16, with manifest.json) or the reference .npz layout; JSON-lines "
               "and Parquet files (one document per record, its text in --text_column) are "
               "read too, in the folder or given as --src_dir.  The flags are those of the "
               "reference encode_swe.py, plus --emoji, --format, --shard_tokens and "
               "--text_column.")


def find_units(args, skipped: list) -> list[tuple]:
    """The units of work of ``--src_dir``, in sorted path order: ``(path, None, None, None)``
    for a ``.txt`` file, ``(path, start, end, text column)`` for each piece of a JSON-lines or
    Parquet file (corpus_tools.records).  A records file found in the folder that cannot be
    used goes to ``skipped``; one given as --src_dir is an error."""
    from swelm.corpus_tools.records import SUFFIXES, RecordsError, inspect, kind_of, plan
    from swelm.checks import special_file
    src = args.src_dir
    if os.path.isdir(src):
        paths = find_text_files(src, skipped, (".txt", *SUFFIXES))
    elif os.path.exists(src) and (kind_of(src) or src.lower().endswith(".txt")):
        kind = special_file(src)
        if kind:            # a FIFO would never end
            raise UsageError(f"--src_dir {src}: {kind}, not a regular file")
        paths = [src]
    else:
        raise UsageError(f"--src_dir {src}: "
                         + ("is a file that is not text, JSON lines or Parquet (by its name: "
                            f"*.txt, {', '.join('*' + s for s in SUFFIXES)}); give the folder "
                            "that holds the .txt files, or such a file"
                            if os.path.exists(src) else "source folder not found"))
    units = []
    for path in paths:
        if kind_of(path) is None:
            units.append((path, None, None, None))
            continue
        try:
            inspect(path, _open_binary, args.text_column)
            pieces = plan(path, os.path.getsize(path), _open_binary, 64 << 20)
        except (RecordsError, OSError) as e:
            if path == src:
                raise UsageError(f"--src_dir {e}") from None
            skipped.append((path, str(e).removeprefix(f"{path}: ")))
            continue
        units += [(path, start, end, args.text_column) for start, end, _ in pieces]
    return units


def run(args) -> int:
    """Encode ``args.src_dir`` into ``args.dst_file``; a bad flag or input raises
    :class:`~swelm.errors.SwelmError`."""
    if args.num_process < 1:
        raise UsageError(f"--num_process {args.num_process}: must be at least 1")
    arrow = args.format == "arrow"
    if not arrow and not args.dst_file.endswith(".npz"):
        args.dst_file += ".npz"
    check_destination(args.dst_file, SHARD_SET if arrow else NPZ, flag="--dst_file",
                      sources=[args.src_dir])
    enc = open_tokenizer(args.vocabulary, args.emoji)
    if args.clean_text and enc.kind != "swe":
        raise UsageError(f"--clean_text: the SWE tokenizer's text cleaning; --vocabulary "
                         f"{args.vocabulary} is a {enc.kind} tokenizer")
    skipped: list[tuple[str, str]] = []
    units = find_units(args, skipped)
    for path, err in skipped:
        log.warning("%s: skipped: %s", path, err)
    if not units:
        raise UsageError(f"--src_dir {args.src_dir}: no readable .txt, JSON-lines or Parquet "
                         "files found")
    workers = min(args.num_process, len(units), os.cpu_count() or 1)
    if workers < args.num_process and args.num_process > (os.cpu_count() or 1):
        log.warning("--num_process %d: using %d worker processes (the %d CPUs here; more "
                    "would only compete for them)", args.num_process, workers,
                    os.cpu_count() or 1)
    from tqdm import tqdm

    start = time.time()
    n_docs = n_chars = 0
    chunks: list[np.ndarray] = []
    pending: list[np.ndarray] = []
    pending_chars = 0

    def results():
        if workers == 1:
            _init_worker(args.vocabulary, args.emoji, args.clean_text)
            yield from map(_encode_unit, units)
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures import TimeoutError as FuturesTimeout
        from concurrent.futures.process import BrokenProcessPool
        ctx = get_context("spawn" if sys.platform == "darwin" else "fork")
        # a worker that dies (kill -9, the out-of-memory killer) breaks the pool, which ends
        # the run with an error instead of waiting for its results for ever
        pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                   initargs=(args.vocabulary, args.emoji, args.clean_text,
                                             os.getpid()))
        died = EncodeError("a worker process ended abruptly (killed, perhaps by the "
                           "out-of-memory killer); nothing was written")
        try:
            futures = [pool.submit(_encode_units, units[i:i + 4])
                       for i in range(0, len(units), 4)]
            # the pool's workers, all started by the submissions: one that has ended while
            # results are still awaited died (the executor notices that itself, except when
            # its own result thread fails on the race, and then it would wait for ever)
            workers_now = multiprocessing.active_children()
            for future in futures:
                while True:
                    try:
                        yield from future.result(timeout=1.0)
                        break
                    except FuturesTimeout:
                        if any(not w.is_alive() for w in workers_now):
                            raise died from None
        except BaseException as e:
            # a worker died, or interrupted (Ctrl-C, SIGTERM, an error downstream): the
            # workers end now, not after the files still queued for them
            from swelm.procs import abandon_threads
            for child in multiprocessing.active_children():
                child.terminate()
            # (not waiting: the executor's result reader may wait for ever on a worker that
            # was ended in the middle of sending a result, so the command also ends without
            # joining it)
            abandon_threads("encode_swe's worker pool")
            pool.shutdown(wait=False, cancel_futures=True)
            if isinstance(e, BrokenProcessPool):
                raise died from None
            raise
        pool.shutdown()

    dtype = np.uint16 if len(enc) <= 65536 else np.int64
    records = any(u[3] is not None for u in units)
    source = {"tool": "encode_swe", "clean_text": args.clean_text, "combine": args.combine}
    if records:
        source["text_column"] = args.text_column
    sink = (ShardWriter(args.dst_file, vocab_sha256=enc.sha256, vocab_size=len(enc),
                        vocab_kind=enc.kind, eot_id=enc.eot_id, shard_tokens=args.shard_tokens,
                        source=source)
            if arrow else contextlib.nullcontext())
    bad_records = []            # (where, problem) of the records that could not be used
    with sink:
        emit = sink.add if arrow else chunks.append
        for unit, docs in zip(units, tqdm(results(), total=len(units),
                                          unit="piece" if records else "file",
                                          disable=args.quiet
                                          or progress_mode() != "terminal",
                                          desc="encode_swe")):
            for where, chars, data, err in docs:
                if err is not None:
                    if unit[3] is not None and where == unit[0]:    # a file that broke
                        bad_records.append((where, f"read only in part: {err}"))
                        log.warning("%s: read only in part (the records before the failure "
                                    "were encoded): %s", where, err)
                    elif unit[3] is None:                           # a .txt file
                        skipped.append((where, err))
                        log.warning("%s: skipped: %s", where, err)
                    else:
                        bad_records.append((where, err))
                        if len(bad_records) <= 10:
                            log.warning("%s: skipped: %s", where, err)
                    continue
                pending.append(np.frombuffer(data, dtype=dtype))
                pending_chars += chars + len("<|endoftext|>")     # (as the reference counts)
                n_docs += 1
                n_chars += chars
                if pending_chars >= args.combine:
                    emit(np.concatenate(pending))
                    pending, pending_chars = [], 0
        if pending:
            emit(np.concatenate(pending))
        if not n_docs:
            if not skipped and not bad_records:
                raise UsageError(f"--src_dir {args.src_dir}: no document in it (empty files, "
                                 "or records files without records); nothing was written")
            first = (skipped or bad_records)[0]
            raise UsageError(f"--src_dir {args.src_dir}: every document was skipped "
                             f"({len(skipped) + len(bad_records)}; {first[0]}: {first[1]}); "
                             "nothing was written")
        if arrow:
            sink.fields.update(documents=n_docs, characters=n_chars, skipped_files=len(skipped))
            if records:
                sink.fields["skipped_records"] = len(bad_records)
    if arrow:
        n_rows, n_tokens, n_shards = sink.rows, sink.tokens, len(sink.shards)
    else:
        dst = args.dst_file
        remove_stale_temporaries(dst)
        check_destination(dst, NPZ, flag="--dst_file")
        with atomic_path(dst) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, *[c.astype(np.int64) for c in chunks])
        n_rows, n_tokens, n_shards = len(chunks), sum(int(c.size) for c in chunks), 1
    log.info("encoded %d documents (%d characters) into %d tokens, %d rows, %d shard(s) in %.1fs: %s",
             n_docs, n_chars, n_tokens, n_rows, n_shards, time.time() - start, args.dst_file)
    if skipped:
        log.warning("skipped %d file(s):", len(skipped))
        for path, err in skipped:
            log.warning("  %s: %s", path, err)
    if bad_records:
        log.warning("skipped %d record(s) that could not be used (the first: %s: %s)",
                    len(bad_records), *bad_records[0])
    return 0


