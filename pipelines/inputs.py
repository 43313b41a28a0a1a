"""The input files a command's flag names: files, glob patterns or folders, on any filesystem.

    input_files(FileSystem(beam_args), ["crawl/warc", "more/*.warc.gz"], "--warc",
                (".warc", ".warc.gz"), "WARC")

A folder stands for its files with one of the suffixes at any depth (a remote folder is given
with a final ``/``).  Local inputs must be regular files with UTF-8 names: a FIFO or a device
would never end, a name that is not UTF-8 cannot be recorded in a report.  Every problem is one
:class:`~swelm.errors.UsageError` naming the flag and the path.
"""
from __future__ import annotations

import os

from swelm.errors import UsageError


def input_files(filesystem, patterns: list[str], flag: str, suffixes: tuple[str, ...],
                what: str, folder=None) -> dict[str, int]:
    """``{path: size}``, sorted by path, of the ``what`` files (``*SUFFIX``) that ``patterns``
    name.  A folder's files are listed through Beam's filesystems (any depth); ``folder(path,
    listing)`` may choose among them (``listing``: ``{path: size}`` of every file under it)."""
    from swelm.checks import special_file

    from .io import absolute, is_http, is_remote, store_of
    sizes = {}
    for pat in patterns:
        if is_http(pat):
            raise UsageError(f"{flag} {pat}: an http(s) URL cannot be listed; put the URLs of "
                             "the files in a file, one per line, and give it with "
                             "--warc-list (and --warc-prefix)" if flag == "--warc" else
                             f"{flag} {pat}: an http(s) URL cannot be listed; copy the files "
                             "to a local folder or an object store")
        local_dir = not is_remote(pat) and os.path.isdir(pat)
        if local_dir or (is_remote(pat) and pat.endswith("/")):
            root = absolute(pat).rstrip("/") + "/"
            listing = filesystem.match([root + "**"])
            chosen = folder(root, listing) if folder else None
            found = {p: n for p, n in listing.items()
                     if (p.lower().endswith(suffixes) if chosen is None else p in chosen)}
            if not found and local_dir:
                raise UsageError(f"{flag} {pat}: a folder with no {what} files in it (looked "
                                 f"for {', '.join('*' + s for s in suffixes)} at any depth)")
            sizes.update(found)
        else:
            sizes.update(filesystem.match([pat]))
    sizes = dict(sorted(sizes.items()))
    if not sizes:
        missing = next((p for p in patterns if filesystem.bucket_missing(p)), None)
        if missing:
            raise UsageError(f"{flag} {missing}: the bucket {store_of(missing)} does not "
                             "exist (check the name and --s3_endpoint_url)")
        raise UsageError(f"{flag} {' '.join(patterns)}: no {what} files match")
    for p in sizes:
        try:
            p.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError(f"{flag} {ascii(p)[1:-1]}: the file name is not valid UTF-8; "
                             "rename the file") from None
        if is_remote(p):
            continue
        kind = special_file(p) or ("a folder" if os.path.isdir(p) else None)
        if kind:
            raise UsageError(f"{flag} {p}: {kind}, not a regular file; give {what} files")
    return sizes


def named_files(patterns: list[str]) -> set[str]:
    """The paths among ``patterns`` that name one file (no glob, not a folder), absolute: a
    problem with such a file is the user's to fix, while a file a folder or a pattern brought
    in may be passed over with a warning."""
    from .io import absolute, is_remote
    out = set()
    for p in patterns:
        if any(c in p for c in "*?[") or p.endswith("/"):
            continue
        if is_remote(p) or not os.path.isdir(p):
            out.add(absolute(p))
    return out


def check_records(files, paths: list[str], patterns: list[str], flag: str, text: str,
                  required: dict | None = None) -> list[str]:
    """The JSON-lines and Parquet files among ``paths`` that can be read
    (corpus_tools.records.inspect).  A file named as such that cannot is a UsageError; one a
    folder or a pattern brought in is passed over with a warning on stderr (a dataset folder
    holds other .json files: dataset_infos.json, config.json)."""
    import sys

    from swelm.corpus_tools.records import RecordsError, inspect
    named = named_files(patterns)
    kept, passed = [], []
    for p in paths:
        try:
            inspect(p, files.open_read, text, required)
        except RecordsError as e:
            if p in named:
                raise UsageError(f"{flag} {e}") from None
            passed.append(str(e))
            continue
        kept.append(p)
    if not kept:
        more = len(passed) - 1
        raise UsageError(f"{flag} {passed[0]}" + (f" (and {more} more file{'s' * (more > 1)} "
                                                  "that cannot be read)" if more else ""))
    for why in passed:
        print(f"warning: {flag}: skipped {why}", file=sys.stderr)
    return kept
