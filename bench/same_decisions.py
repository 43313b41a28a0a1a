"""Do two build-corpus outputs hold the same decisions?  Compares them document by document:
every row of corpus/ and rejected/ keyed by (id, rule class), with its text hash, weight, rule
and cluster, and the report's counts (stats.json) line by line.  Row order and file layout are
not compared (they may differ between engine versions; each engine is deterministic on its
own).  Prints one JSON line per figure and exits 1 when anything differs.

    python -m bench.same_decisions OLD_OUT NEW_OUT
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys


def rows(out: str) -> dict:
    """``{(part, id, rule or "kept"): (text hash, weight, cluster, chars)}``."""
    import pyarrow.parquet as pq
    got = {}
    for part in ("corpus", "rejected"):
        folder = os.path.join(out, part)
        if not os.path.isdir(folder) or not os.listdir(folder):
            continue
        for r in pq.read_table(folder).to_pylist():
            key = (part, r["id"], r["rule"] or "kept")
            text = hashlib.blake2b((r["text"] or "").encode(), digest_size=8).hexdigest()
            value = (text, r["weight"], r["cluster"], r["chars"])
            if key in got and got[key] != value:
                key = key + (text,)
            got[key] = value
    return got


def flat(obj, prefix: str = "") -> dict:
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(flat(v, f"{prefix}{k}/"))
        return out
    return {prefix.rstrip("/"): obj}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--show", type=int, default=5, help="differences shown of each kind")
    args = ap.parse_args(argv)
    a, b = rows(args.old), rows(args.new)
    only_old = sorted(set(a) - set(b))
    only_new = sorted(set(b) - set(a))
    changed = sorted(k for k in set(a) & set(b) if a[k] != b[k])
    print(json.dumps({"bench": "same_decisions", "rows_old": len(a), "rows_new": len(b),
                      "only_old": len(only_old), "only_new": len(only_new),
                      "changed": len(changed)}))
    for name, keys in (("only_old", only_old), ("only_new", only_new)):
        for k in keys[:args.show]:
            print(json.dumps({"difference": name, "row": list(k)}, ensure_ascii=False))
    for k in changed[:args.show]:
        print(json.dumps({"difference": "changed", "row": list(k), "old": a[k], "new": b[k]},
                         ensure_ascii=False))
    sa, sb = (flat(json.load(open(os.path.join(o, "stats.json"), encoding="utf-8")))
              for o in (args.old, args.new))
    skip = ("settings/", "seconds", "input_files")
    stat_diffs = sorted(k for k in set(sa) | set(sb)
                        if sa.get(k) != sb.get(k) and not any(s in k for s in skip))
    print(json.dumps({"bench": "same_decisions_stats", "differing": len(stat_diffs)}))
    for k in stat_diffs[:4 * args.show]:
        print(json.dumps({"stat": k, "old": sa.get(k), "new": sb.get(k)}, ensure_ascii=False))
    return 1 if (only_old or only_new or changed or stat_diffs) else 0


if __name__ == "__main__":
    sys.exit(main())
