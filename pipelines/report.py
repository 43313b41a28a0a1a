"""The build-corpus report: ``stats.json``, a Markdown page, the same page as HTML with the
plots inline, and the PNG plots."""
from __future__ import annotations

import collections
import logging

import io

from swelm.words import plural

from .io import join

log = logging.getLogger(__name__)
#: pages or records left out because another of the same id has more text (recrawls of a URL,
#: records sharing an --id-column value): counted, not a problem of the input
SAME_ID = "same_id"
_EVENTS = ("no_site", "unreadable_warc", "not_warc", "damaged_warc", "whole_gzip_warc",
           "truncated_record", "retried_reads", "unreadable_input", "bad_record", SAME_ID)
#: the events about a whole input file, listed by file in stats.json (bad_record: one line
#: per file, with the count and the first record)
FILE_EVENTS = ("unreadable_warc", "not_warc", "damaged_warc", "whole_gzip_warc", "retried_reads",
               "unreadable_input", "bad_record")
#: the file events whose files were not read whole (a console warning names them)
LOST_EVENTS = ("unreadable_warc", "not_warc", "damaged_warc", "unreadable_input")
#: the rule prefix of the rows of lines the paragraph classifier took out of a page
LINES = "paragraph_"
#: the key prefix of the rows of pages per perplexity bin (pipelines.stages.PLOT_BINS per
#: decade)
PERPLEXITY = "perplexity_bin:"


def _distribution(bins: dict) -> dict:
    """A site's perplexity distribution from its pages per bin: the bins (``[low, high,
    pages]``, perplexity bounds) and the median and 10th/90th percentiles (bin lows)."""
    from .stages import PLOT_BINS
    low = {b: round(10 ** (b / PLOT_BINS), 1) for b in bins}
    rows = [[low[b], round(10 ** ((b + 1) / PLOT_BINS), 1), bins[b]] for b in sorted(bins)]
    total, seen, marks = sum(bins.values()), 0, {}
    for b in sorted(bins):
        seen += bins[b]
        for name, q in (("p10", 0.1), ("median", 0.5), ("p90", 0.9)):
            if name not in marks and seen >= q * total:
                marks[name] = low[b]
    return {"pages": total, **marks, "bins": rows}


def summarise(table: list) -> dict:
    """``table`` rows: [site, genre, key, docs, chars, weighted chars] (key = kept or a rule)."""
    per_site = collections.defaultdict(lambda: {"in_docs": 0, "in_chars": 0, "kept_docs": 0,
                                                "kept_chars": 0, "rejected": {},
                                                "dropped_lines": {}, "only_rule": {}})
    perplexity = collections.defaultdict(dict)
    rehydrated = collections.defaultdict(lambda: [0, 0])
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
        if key.startswith(PERPLEXITY):      # pages per perplexity bin (--lm)
            perplexity[site][int(key[len(PERPLEXITY):])] = docs
            continue
        if key == "rehydrated_copies":      # copies added by --rehydrate
            rehydrated[site][0] += docs
            rehydrated[site][1] += chars
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
    for site, (docs, chars) in rehydrated.items():
        per_site[site]["rehydrated_copies"] = {"docs": docs, "chars": chars}
    for site, bins in perplexity.items():
        per_site[site]["perplexity"] = _distribution(bins)
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


def _lm_unit(stats: dict) -> str:
    """What the perplexities are per: the n-gram model's unit."""
    lm = stats["settings"].get("models", {}).get("lm", {})
    return "SWE token" if lm.get("unit") == "swe" else "character"


def write_report(filesystem, out: str, table: list, sites, settings: dict,
                 file_events=()) -> dict:
    """stats.json (the summary of ``table`` with the build's ``settings``, and the input files
    with problems, by file), stats.md, stats.html and the plots into ``out``; returns the
    summary."""
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
             "Characters are counted in the text that was judged: after boilerplate, code, "
             "navigation, short and foreign lines were taken out and the rest normalised.", "",
             "| site | documents | kept | characters | kept characters | rejected by rule |",
             "|---|---|---|---|---|---|"]
    for name, s in stats["sites"].items():
        rej = ", ".join(f"{r} {v['docs']}" for r, v in sorted(s["rejected"].items(),
                                                             key=lambda x: -x[1]["docs"]))
        lines.append(f"| {name} | {s['in_docs']} | {s['kept_docs']} | {s['in_chars']:,} | "
                     f"{s['kept_chars']:,} | {rej} |")
    scored = {n: s["perplexity"] for n, s in stats["sites"].items() if "perplexity" in s}
    if scored:
        lines += ["", "## Perplexity under the n-gram model (--lm)", "",
                  f"Per {_lm_unit(stats)}, of the pages that reached the rules (lower is "
                  "closer to the reference text); the plot perplexity.png has the "
                  "distributions.", "",
                  "| site | pages | 10th percentile | median | 90th percentile |",
                  "|---|---|---|---|---|"]
        lines += [f"| {n} | {d['pages']} | {d['p10']} | {d['median']} | {d['p90']} |"
                  for n, d in scored.items()]
    copies = {n: s["rehydrated_copies"] for n, s in stats["sites"].items()
              if "rehydrated_copies" in s}
    if copies:
        lines += ["", "## Re-hydration (--rehydrate)", "",
                  "Copies added to pages that stand for a cluster of duplicates (FineWeb-2's "
                  "weights by cluster size), in their weight.", "",
                  "| site | copies added | characters added |", "|---|---|---|"]
        lines += [f"| {n} | {c['docs']} | {c['chars']:,} |" for n, c in copies.items()]
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
    problems = {k: v for k, v in stats["events"].items() if k != SAME_ID}
    if stats["events"].get(SAME_ID):
        lines += ["", f"{plural(stats['events'][SAME_ID], 'page or record', 'pages or records')} "
                      "had the id of another with more text (a URL captured again, or records "
                      "sharing an --id-column value): the one with the most text stays, the "
                      "others are counted here (same_id) and not judged."]
    if problems:
        lines += ["", "## Input problems", ""] + [f"- {k}: {v}" for k, v in problems.items()]
    for kind, files in stats.get("input_files", {}).items():
        lines += ["", f"### {kind}", ""] + [f"- {w}: {'; '.join(d)}" for w, d in files.items()]
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p}](plots/{p})" for p in plots]
    filesystem.write_text(join(out, "stats.md"), "\n".join(lines) + "\n")
    filesystem.write_text(join(out, "stats.html"), html_page(lines, plots))
    return stats


def html_page(lines: list[str], plots: dict) -> str:
    """The report's Markdown lines (the subset stats.md uses: headings, paragraphs, tables,
    lists, images of plots/) as one HTML page a browser opens offline: the plots inline as
    data URIs, no script, no network."""
    import base64
    import html
    import re

    def inline(text: str) -> str:
        text = html.escape(text, quote=False)
        text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
        return re.sub(r"`(.+?)`", r"<code>\1</code>", text)

    body, table, items = [], [], []

    def flush():
        if table:
            head, *rows = [[c.strip() for c in r.strip("|").split("|")] for r in table
                           if not set(r) <= set("|-")]
            body.append("<table><tr>" + "".join(f"<th>{inline(c)}</th>" for c in head)
                        + "</tr>" + "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r)
                                            + "</tr>" for r in rows) + "</table>")
            table.clear()
        if items:
            body.append("<ul>" + "".join(f"<li>{inline(i)}</li>" for i in items) + "</ul>")
            items.clear()
    for line in lines:
        image = re.fullmatch(r"!\[(.*)\]\(plots/(.+)\)", line)
        if line.startswith("|"):
            table.append(line)
            continue
        if line.startswith("- "):
            items.append(line[2:])
            continue
        flush()
        if image and image.group(2) in plots:
            data = base64.b64encode(plots[image.group(2)]).decode("ascii")
            body.append(f'<p><img alt="{html.escape(image.group(1))}" '
                        f'src="data:image/png;base64,{data}"></p>')
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{inline(line[level:].strip())}</h{level}>")
        elif line:
            body.append(f"<p>{inline(line)}</p>")
    flush()
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;"
             "text-align:left}img{max-width:100%}")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>Corpus build report</title><style>{style}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def _plots(filesystem, out: str, stats: dict) -> dict[str, bytes]:
    """The report's plots as PNG files in ``out/plots``: ``{name: PNG bytes}`` (none without
    matplotlib)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.info("matplotlib not installed: report without plots")
        return {}
    folder = join(out, "plots")
    filesystem.makedirs(folder)
    made = {}
    for name, fig in figures(stats).items():
        png = io.BytesIO()
        fig.savefig(png, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
        plt.close(fig)
        filesystem.write_bytes(join(folder, name), png.getvalue())
        made[name] = png.getvalue()
    return made


def figures(stats: dict) -> dict:
    """One matplotlib figure per question the report answers, each with a title, axis labels
    with units, whole-number ticks for counts and its legend outside the bars:
    ``sites.png`` (documents kept and rejected per site), ``rules.png`` (why documents were
    rejected), ``lines.png`` (lines taken out of pages, by class) and ``genres.png`` (the genre
    mix after weighting)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    def bars(title: str, unit: str, rows: int, integer: bool = True):
        fig, ax = plt.subplots(figsize=(7.5, 1.3 + 0.4 * rows))
        ax.set_title(title)
        ax.set_xlabel(unit)
        if integer:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.invert_yaxis()                  # the first label on top
        ax.grid(axis="x", alpha=0.3)
        ax.set_axisbelow(True)
        return fig, ax

    out = {}
    names = list(stats["sites"])
    if names:
        kept = [stats["sites"][n]["kept_docs"] for n in names]
        rejected = [stats["sites"][n]["in_docs"] - stats["sites"][n]["kept_docs"]
                    for n in names]
        fig, ax = bars("Documents kept and rejected per site", "documents", len(names))
        ax.barh(names, kept, color="#36c", label="kept")
        ax.barh(names, rejected, left=kept, color="#e8a33d", label="rejected")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        out["sites.png"] = fig
    if stats["rules"]:
        rules = sorted(stats["rules"], key=lambda r: -stats["rules"][r])
        fig, ax = bars("Why documents were rejected (first failed rule)",
                       "documents rejected", len(rules))
        ax.barh(rules, [stats["rules"][r] for r in rules], color="#c63")
        out["rules.png"] = fig
    dropped = stats.get("dropped_line_chars") or {}
    if any(dropped.values()):
        classes = sorted(dropped, key=lambda c: -dropped[c])
        fig, ax = bars("Lines taken out of pages, by class", "characters taken out",
                       len(classes))
        ax.barh(classes, [dropped[c] for c in classes], color="#7a5")
        out["lines.png"] = fig
    scored = {n: s["perplexity"] for n, s in stats["sites"].items() if "perplexity" in s}
    if scored:
        fig, ax = plt.subplots(figsize=(7.5, 4))
        ax.set_title("Perplexity per site (share of its pages per bin)")
        ax.set_xlabel(f"perplexity per {_lm_unit(stats)} under the n-gram model (log scale)")
        ax.set_ylabel("share of the site's pages")
        ax.set_xscale("log")
        for name, d in scored.items():
            xs = [(lo * hi) ** 0.5 for lo, hi, _ in d["bins"]]
            ax.plot(xs, [n / d["pages"] for _, _, n in d["bins"]], marker=".", label=name)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        out["perplexity.png"] = fig
    mix = stats["genre_mix"]
    if sum(mix.values()) > 0:          # nothing to draw when every weight is 0
        genres = sorted(mix, key=lambda g: -mix[g])
        fig, ax = bars("Genre mix after weighting", "share of the weighted characters",
                       len(genres), integer=False)
        ax.barh(genres, [100 * mix[g] for g in genres], color="#96c")
        ax.xaxis.set_major_formatter(PercentFormatter())
        ax.set_xlim(0, 100)
        out["genres.png"] = fig
    return out
