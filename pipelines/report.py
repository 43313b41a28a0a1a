"""The build-corpus report: ``stats.json``, a Markdown page and a few PNG plots."""
from __future__ import annotations

import collections
import logging

import io

from .io import join

log = logging.getLogger(__name__)
_EVENTS = ("no_site", "unreadable_warc", "not_warc", "damaged_warc", "whole_gzip_warc",
           "truncated_record", "retried_reads", "unreadable_input", "bad_record")
#: the events about a whole input file, listed by file in stats.json (bad_record: one line
#: per file, with the count and the first record)
FILE_EVENTS = ("unreadable_warc", "not_warc", "damaged_warc", "whole_gzip_warc", "retried_reads",
               "unreadable_input", "bad_record")
#: the file events whose files were not read whole (a console warning names them)
LOST_EVENTS = ("unreadable_warc", "not_warc", "damaged_warc", "unreadable_input")
#: the rule prefix of the rows of lines the paragraph classifier took out of a page
LINES = "paragraph_"


def summarise(table: list) -> dict:
    """``table`` rows: [site, genre, key, docs, chars, weighted chars] (key = kept or a rule)."""
    per_site = collections.defaultdict(lambda: {"in_docs": 0, "in_chars": 0, "kept_docs": 0,
                                                "kept_chars": 0, "rejected": {},
                                                "dropped_lines": {}, "only_rule": {}})
    dropped = collections.Counter()
    genres = collections.defaultdict(float)
    events, clusters, members, largest = {}, 0, 0, 0
    kept = {"docs": 0, "chars": 0, "weighted_chars": 0.0}
    rules = collections.Counter()
    for site, genre, key, docs, chars, weighted in table:
        if key in _EVENTS:
            events[key] = docs
            continue
        if key == "near_duplicate_clusters":
            clusters = docs
            continue
        if key == "cluster_member":
            members = docs
            continue
        if key == "largest_band_group":
            largest = docs
            continue
        s = per_site[site]
        if key.startswith(("only:", "bound:")):     # pages failing one rule only
            kind, rule = key.split(":", 1)
            entry = s["only_rule"].setdefault(rule, {"docs": 0})
            if kind == "only":
                entry["docs"] = docs
            else:   # the threshold that keeps them all (stored negated for min_ rules)
                bound = round(weighted if rule.startswith("max_") else -weighted, 4)
                entry["keep_all_at"] = int(bound) if float(bound).is_integer() else bound
            continue
        if key.startswith(LINES):       # lines the classifier took out of pages
            cls = key[len(LINES):]
            s["dropped_lines"][cls] = {"pages": docs, "chars": chars}
            dropped[cls] += chars
            continue
        s["in_docs"] += docs
        s["in_chars"] += chars
        if key == "kept":
            s["kept_docs"] += docs
            s["kept_chars"] += chars
            kept["docs"] += docs
            kept["chars"] += chars
            kept["weighted_chars"] += weighted
            genres[genre] += weighted
        else:
            s["rejected"][key] = {"docs": docs, "chars": chars}
            rules[key] += docs
    total = sum(genres.values()) or 1.0
    return {
        "sites": {k: per_site[k] for k in sorted(per_site)},
        "rules": dict(sorted(rules.items())),
        "kept": {**kept, "weighted_chars": round(kept["weighted_chars"], 2)},
        "rejected_docs": sum(rules.values()),
        "near_duplicate_clusters": clusters,
        "near_duplicate_cluster_members": members,
        "largest_band_group": largest,
        "dropped_line_chars": dict(sorted(dropped.items())),
        "genre_mix": {g: round(v / total, 6) for g, v in sorted(genres.items())},
        "events": events,
    }


def suggestions(s: dict, top: int = 3) -> list[str]:
    """For a site that keeps less than half its pages: its top rejecting rules, each with the
    pages failing it alone and the threshold that would keep those."""
    if s["in_docs"] == 0 or s["kept_docs"] >= 0.5 * s["in_docs"]:
        return []
    out = []
    for rule, v in sorted(s["rejected"].items(), key=lambda kv: -kv[1]["docs"])[:top]:
        only = s["only_rule"].get(rule, {})
        text = f"{rule} rejects {v['docs']}"
        if only.get("docs"):
            text += (f" ({only['docs']} fail only this rule: `filters = {{ {rule} = "
                     f"{only['keep_all_at']} }}` would keep them, or \"off\")")
        out.append(text)
    return out


def report_warnings(stats: dict) -> list[str]:
    """One line per site that keeps less than 10% of its pages, naming its top rules."""
    out = []
    for name, s in stats["sites"].items():
        if s["in_docs"] and s["kept_docs"] < 0.1 * s["in_docs"]:
            out.append(f"site {name} keeps {s['kept_docs']} of {s['in_docs']} pages; "
                       + "; ".join(suggestions(s)))
    return out


def write_report(filesystem, out: str, table: list, sites, settings: dict,
                 file_events=()) -> dict:
    """stats.json (the summary of ``table`` with the build's ``settings``, and the input files
    with problems, by file), stats.md and the plots into ``out``; returns the summary."""
    stats = summarise(table)
    stats["settings"] = dict(sorted(settings.items()))
    files: dict = {}
    for kind, where, detail in sorted(map(tuple, file_events)):
        files.setdefault(kind, {}).setdefault(where, []).append(detail)
    if files:
        stats["input_files"] = files
    filesystem.write_json(join(out, "stats.json"), stats)
    plots = _plots(filesystem, out, stats)
    lines = ["# Corpus build report", "",
             f"Kept **{stats['kept']['docs']}** documents, {stats['kept']['chars']:,} characters "
             f"({stats['kept']['weighted_chars']:,.0f} after weighting); rejected "
             f"{stats['rejected_docs']}; near-duplicate clusters: "
             f"{stats['near_duplicate_clusters']} ({stats['near_duplicate_cluster_members']} pages).",
             "", "## Per site", "",
             "| site | documents in | kept | characters in | kept | rejected by rule |",
             "|---|---|---|---|---|---|"]
    for name, s in stats["sites"].items():
        rej = ", ".join(f"{r} {v['docs']}" for r, v in sorted(s["rejected"].items(),
                                                             key=lambda x: -x[1]["docs"]))
        lines.append(f"| {name} | {s['in_docs']} | {s['kept_docs']} | {s['in_chars']:,} | "
                     f"{s['kept_chars']:,} | {rej} |")
    if stats["dropped_line_chars"]:
        classes = list(stats["dropped_line_chars"])
        lines += ["", "## Lines taken out of pages (characters; the lines are in rejected/ "
                  "with rule paragraph_<class>)", "",
                  "| site | " + " | ".join(classes) + " |", "|---" * (len(classes) + 1) + "|"]
        for name, s in stats["sites"].items():
            lines.append(f"| {name} | " + " | ".join(
                f"{s['dropped_lines'].get(c, {}).get('chars', 0):,}" for c in classes) + " |")
    only = collections.Counter()
    for s in stats["sites"].values():
        for rule, v in s["only_rule"].items():
            only[rule] += v["docs"]
    lines += ["", "## Per rule", "", "| rule | documents | fail only this rule |",
              "|---|---|---|"]
    lines += [f"| {r} | {n} | {only.get(r, '')} |" for r, n in stats["rules"].items()]
    advice = [(name, suggestions(s)) for name, s in stats["sites"].items()]
    if any(a for _, a in advice):
        lines += ["", "## Sites that keep less than half their pages", ""]
        for name, a in advice:
            if a:
                lines += [f"- **{name}**: " + "; ".join(a)]
    lines += ["", "## Genre mix (after weighting)", "", "| genre | share |", "|---|---|"]
    lines += [f"| {g} | {v:.1%} |" for g, v in stats["genre_mix"].items()]
    if stats["events"]:
        lines += ["", "## Input problems", ""] + [f"- {k}: {v}" for k, v in stats["events"].items()]
    for kind, files in stats.get("input_files", {}).items():
        lines += ["", f"### {kind}", ""] + [f"- {w}: {'; '.join(d)}" for w, d in files.items()]
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p}](plots/{p})" for p in plots]
    filesystem.write_text(join(out, "stats.md"), "\n".join(lines) + "\n")
    return stats


def _plots(filesystem, out: str, stats: dict) -> list[str]:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.info("matplotlib not installed: report without plots")
        return []
    folder = join(out, "plots")
    filesystem.makedirs(folder)
    made = []

    def save(fig, name):
        fig.tight_layout()
        png = io.BytesIO()
        fig.savefig(png, format="png", dpi=90, metadata={"Software": None})
        plt.close(fig)
        filesystem.write_bytes(join(folder, name), png.getvalue())
        made.append(name)

    names = list(stats["sites"])
    if names:
        fig, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * len(names)))
        ax.barh(names, [stats["sites"][n]["in_docs"] for n in names], label="in", color="#bbb")
        ax.barh(names, [stats["sites"][n]["kept_docs"] for n in names], label="kept", color="#36c")
        ax.set_xlabel("documents")
        ax.legend()
        save(fig, "sites.png")
    if stats["rules"]:
        rules = sorted(stats["rules"], key=stats["rules"].get)
        fig, ax = plt.subplots(figsize=(7, 0.5 + 0.35 * len(rules)))
        ax.barh(rules, [stats["rules"][r] for r in rules], color="#c63")
        ax.set_xlabel("documents rejected")
        save(fig, "rules.png")
    if sum(stats["genre_mix"].values()) > 0:      # nothing to draw when every weight is 0
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.pie(list(stats["genre_mix"].values()), labels=list(stats["genre_mix"]), autopct="%1.0f%%")
        save(fig, "genres.png")
    return made
