"""The build-corpus report a person reads: plots with titles, labelled axes, whole-number
ticks for counts and legends that cover nothing; the same page as HTML, whole and offline."""
from __future__ import annotations

import html.parser
import io

import pytest

from swelm.pipelines.report import figures, html_page, summarise, write_report

TABLE = [  # [site, genre, key, docs, chars, weighted chars]
    ["docs", "docs", "kept", 7, 7000, 7000.0], ["docs", "docs", "min_length", 3, 90, 0.0],
    ["novels", "novel", "kept", 1, 3000, 6000.0], ["novels", "novel", "exact_duplicate", 1, 3000, 0],
    ["docs", "docs", "paragraph_navigation", 5, 400, 0.0],
    ["docs", "docs", "paragraph_code", 2, 900, 0.0],
    ["", "", "no_site", 4, 0, 0.0],
]


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_every_plot_is_titled_labelled_and_uncovered():
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figs = figures(summarise(TABLE))
    assert sorted(figs) == ["genres.png", "lines.png", "rules.png", "sites.png"]
    for name, fig in figs.items():
        fig.canvas.draw()
        (ax,) = fig.axes
        assert ax.get_title() and ax.get_xlabel(), name
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        if name != "genres.png":        # counts: whole-number ticks only
            assert ticks and all(float(t).is_integer() for t in ticks), (name, ticks)
        legend = ax.get_legend()
        if legend is not None:
            box = legend.get_window_extent()
            assert not any(_overlap(box, p.get_window_extent()) for p in ax.patches), name
        plt.close(fig)
    sites = figs["sites.png"].axes[0]
    assert [t.get_text() for t in sites.get_legend().get_texts()] == ["kept", "rejected"]


def test_one_site_one_genre_still_reads():
    """One genre is a bar at 100%, not a one-slice pie."""
    pytest.importorskip("matplotlib")
    figs = figures(summarise([["a", "docs", "kept", 2, 10, 10.0]]))
    assert sorted(figs) == ["genres.png", "sites.png"]
    (bar,) = figs["genres.png"].axes[0].patches
    assert bar.get_width() == 100


class _Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.sources = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.sources += [v for k, v in attrs if k in ("src", "href")]


def test_the_html_report_is_whole_and_offline(tmp_path):
    """stats.html holds the tables and every plot inline; nothing refers outside the file."""
    pytest.importorskip("matplotlib")
    from swelm.pipelines.io import FileSystem
    stats = write_report(FileSystem(), str(tmp_path), TABLE, [], {"command": "build-corpus"})
    page = (tmp_path / "stats.html").read_text(encoding="utf-8")
    p = _Page()
    p.feed(page)
    assert p.tags.count("img") == 4 and p.tags.count("table") >= 3
    assert all(s.startswith("data:image/png;base64,") for s in p.sources), p.sources
    assert "<th>kept characters</th>" in page and "<b>8</b>" in page
    assert stats["kept"]["docs"] == 8
    md = (tmp_path / "stats.md").read_text(encoding="utf-8")
    assert "after boilerplate, code, navigation, short and foreign lines were taken out" in md


def test_html_page_escapes_what_it_shows():
    page = html_page(["# Report <x>", "", "| a | b |", "|---|---|", "| <script> | `c` |",
                      "- one & two"], {})
    assert "<script>" not in page and "&lt;script&gt;" in page and "<code>c</code>" in page
    assert "<li>one &amp; two</li>" in page


def test_a_browser_renders_the_report(tmp_path):
    """A headless browser's screenshot of stats.html is a page with content (skipped where no
    headless browser is installed)."""
    import shutil
    import subprocess
    browser = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome",
                                              "chrome") if shutil.which(b)), None)
    if browser is None:
        pytest.skip("no headless browser (chromium or google-chrome) installed here")
    pytest.importorskip("matplotlib")
    from swelm.pipelines.io import FileSystem
    write_report(FileSystem(), str(tmp_path), TABLE, [], {"command": "build-corpus"})
    shot = tmp_path / "shot.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                    f"--screenshot={shot}", "--window-size=1000,2000",
                    (tmp_path / "stats.html").as_uri()], check=True, timeout=120,
                   capture_output=True)
    from PIL import Image
    img = Image.open(io.BytesIO(shot.read_bytes())).convert("L")
    assert len(set(img.getdata())) > 20         # text and plots, not a blank page


def test_words_doctests():
    import doctest

    from swelm import words
    assert doctest.testmod(words).failed == 0
