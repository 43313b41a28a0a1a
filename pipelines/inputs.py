"""The input files a command's flag names: files, glob patterns or folders, on any filesystem.

    input_files(["crawl/warc", "more/*.warc.gz"], "--warc", (".warc", ".warc.gz"), "WARC")

A folder stands for its files with one of the suffixes at any depth (a remote folder is given
with a final ``/``).  Local inputs must be regular files with UTF-8 names: a FIFO or a device
would never end, a name that is not UTF-8 cannot be recorded in a report.  Every problem is one
:class:`~swelm.errors.UsageError` naming the flag and the path.
"""
from __future__ import annotations

import glob
import os
import stat

from swelm.errors import UsageError


def input_files(patterns: list[str], flag: str, suffixes: tuple[str, ...], what: str,
                folder=None) -> dict[str, int]:
    """``{path: size}``, sorted by path, of the ``what`` files (``*SUFFIX``) that ``patterns``
    name.  ``folder(path)`` may return the files a local folder stands for instead (or None for
    the default: its files with the suffixes, at any depth)."""
    from . import fs
    expanded, sizes = [], {}
    for pat in patterns:
        if fs.is_http(pat):
            raise UsageError(f"{flag} {pat}: an http(s) URL cannot be listed; put the URLs of "
                             "the files in a file, one per line, and give it with "
                             "--warc-list" + (" (and --warc-prefix)" if flag == "--warc" else "")
                             if flag == "--warc" else
                             f"{flag} {pat}: an http(s) URL cannot be listed; copy the files "
                             "to a local folder or an object store")
        if fs.is_remote(pat) and pat.endswith("/"):
            sizes.update((p, n) for p, n in fs.match([pat + "**"]).items()
                         if p.endswith(suffixes))
        elif not fs.is_remote(pat) and os.path.isdir(pat):
            found = folder(pat) if folder else None
            if found is None:
                found = sorted(os.path.join(cur, n) for cur, _, names in os.walk(pat)
                               for n in names if n.endswith(suffixes))
            if not found:
                raise UsageError(f"{flag} {pat}: a folder with no {what} files in it (looked "
                                 f"for {', '.join('*' + s for s in suffixes)} at any depth)")
            expanded += [glob.escape(p) for p in found]
        else:
            expanded.append(pat)
    if expanded:
        sizes.update(fs.match(expanded))
    sizes = dict(sorted(sizes.items()))
    if not sizes:
        missing = next((p for p in patterns if fs.bucket_missing(p)), None)
        if missing:
            raise UsageError(f"{flag} {missing}: the bucket {fs.store_of(missing)} does not "
                             "exist (check the name and --s3_endpoint_url)")
        raise UsageError(f"{flag} {' '.join(patterns)}: no {what} files match")
    for p in sizes:
        try:
            p.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError(f"{flag} {ascii(p)[1:-1]}: the file name is not valid UTF-8; "
                             "rename the file") from None
        if fs.is_remote(p):
            continue
        mode = os.stat(p).st_mode
        if not stat.S_ISREG(mode):
            kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
                    else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a folder"
                    if stat.S_ISDIR(mode) else "not a file")
            raise UsageError(f"{flag} {p}: {kind}, not a regular file; give {what} files")
    return sizes
