"""Site rules: the minimal form, every field, and errors naming the site and the field."""
import pytest

from swelm.corpus_tools.filter import GENRE_PRESETS, thresholds_for
from swelm.corpus_tools.sites import POLITENESS, THRESHOLDS, SiteRulesError, load_sites

MINIMAL = '''
[[sites]]
name = "example"
seeds = ["http://127.0.0.1:8000/"]
genre = "docs"
weight = 1.0
'''

FULL = '''
[defaults]
politeness = { requests_per_second = 4.0, max_pages = 50 }
filters = { min_length = 100 }

[[sites]]
name = "laws"
seeds = ["http://127.0.0.1:8001/index.html"]
genre = "legal"
weight = 2.5
allow = ["^http://127\\\\.0\\\\.0\\\\.1:8001/"]
deny = ["\\\\.pdf$", "/print/"]
extract = { keep = ["#main"], drop = ["nav", ".footer"] }
encoding = "shift_jis"
filters = { min_hiragana_ratio = 0.05, max_dup_10gram_ratio = 0.3 }
ng_words = "ng.txt"
politeness = { concurrency = 1, timeout = 5 }

[[sites]]
name = "blog"
seeds = ["https://blog.example.jp/"]
genre = "blog"
'''


def write(tmp_path, text, name="sites.toml"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_minimal_form(tmp_path):
    (site,) = load_sites(write(tmp_path, MINIMAL))
    assert site.name == "example" and site.genre == "docs" and site.weight == 1.0
    # a docs site gets the docs preset over the web thresholds
    assert site.filters == thresholds_for("docs") and site.politeness == POLITENESS
    assert site.filters["min_length"] == 50 and site.filters["max_dup_5gram_ratio"] is None
    assert set(site.filters) == set(THRESHOLDS)
    assert site.extract.auto
    assert site.in_scope("http://127.0.0.1:8000/a/b.html")
    assert not site.in_scope("http://127.0.0.1:9000/") and not site.in_scope("https://other.jp/")


def test_every_field(tmp_path):
    (tmp_path / "ng.txt").write_text("禁止語\n", encoding="utf-8")
    laws, blog = load_sites(write(tmp_path, FULL))
    assert laws.weight == 2.5 and laws.encoding == "shift_jis"
    assert laws.extract.keep == ("#main",) and laws.extract.drop == ("nav", ".footer")
    assert laws.filters["min_length"] == 100 and laws.filters["min_hiragana_ratio"] == 0.05
    assert laws.filters["max_dup_10gram_ratio"] == 0.3
    assert laws.politeness["requests_per_second"] == 4.0 and laws.politeness["concurrency"] == 1
    assert laws.politeness["max_pages"] == 50 and laws.politeness["timeout"] == 5
    assert laws.ng_words == str(tmp_path / "ng.txt")
    assert laws.in_scope("http://127.0.0.1:8001/a.html") and not laws.in_scope("http://127.0.0.1:8001/x.pdf")
    assert blog.filters["min_length"] == 100 and blog.politeness["max_pages"] == 50


@pytest.mark.parametrize("mutation, message", [
    (('genre = "docs"', 'genre = "poetry"'), "site 'example': field 'genre': must be one of"),
    (("weight = 1.0", "weight = -1"), "site 'example': field 'weight': must be a finite number > 0"),
    (("weight = 1.0", "weight = nan"), "field 'weight': must be a finite number > 0, got nan"),
    (("weight = 1.0", "weight = inf"), "field 'weight': must be a finite number > 0, got inf"),
    (("weight = 1.0", "weight = 1.0\nfilters = { min_length = nan }"),
     "field 'filters.min_length': must be an integer >= 0"),
    (("weight = 1.0", "weight = 1.0\nfilters = { max_link_ratio = inf }"),
     "field 'filters.max_link_ratio': must be a finite number >= 0"),
    (("weight = 1.0", "weight = 1.0\nfilters = { min_quality_score = 1.5 }"),
     "field 'filters.min_quality_score': must be a share from 0 to 1, or \"off\""),
    (("weight = 1.0", "weight = 1.0\nfilters = { min_hiragana_ratio = 2 }"),
     "field 'filters.min_hiragana_ratio': must be a share from 0 to 1"),
    (("weight = 1.0", "weight = 1.0\nfilters = { keep_best_share = nan }"),
     "field 'filters.keep_best_share': must be a share above 0 and at most 1, or \"off\""),
    (("weight = 1.0", "weight = 1.0\nfilters = { keep_best_share = 0 }"),
     "field 'filters.keep_best_share': must be a share above 0 and at most 1"),
    (("weight = 1.0", "weight = 1.0\nfilters = { keep_best_share = 1.5 }"),
     "field 'filters.keep_best_share': must be a share above 0 and at most 1"),
    (("weight = 1.0", "weight = 1.0\nfilters = { max_perplexity = 0 }"),
     "field 'filters.max_perplexity': must be a number >= 1 (a perplexity is never below 1)"),
    (("weight = 1.0", "weight = 1.0\npoliteness = { concurrency = 2.5 }"),
     "field 'politeness.concurrency': must be an integer >= 0, got 2.5"),
    (("weight = 1.0", 'weight = 1.0\nencoding = "base64"'), "field 'encoding': unknown character"),
    (("weight = 1.0", 'weight = 1.0\nencoding = "rot13"'), "field 'encoding': unknown character"),
    (("weight = 1.0", 'weight = 1.0\nallow = ["(a)\\\\1"]'), "field 'allow': invalid regular "
     "expression '(a)\\\\1': invalid escape sequence"),
    (("weight = 1.0", 'weight = 1.0\ndeny = ["x(?=y)"]'), "no backreferences or lookaround"),
    (("weight = 1.0", 'weight = 1.0\nextract = { keep = ["p:::nth(("] }'),
     "field 'extract.keep': invalid CSS selector 'p:::nth(('"),
    (("weight = 1.0", 'weight = 1.0\nextract = { drop = ["["] }'), "field 'extract.drop'"),
    (("weight = 1.0", 'weight = 1.0\nextract = { drop = [""] }'),
     "field 'extract.drop': must be a list of non-empty strings"),
    (('seeds = ["http://127.0.0.1:8000/"]', 'seeds = ["ftp://x/"]'), "field 'seeds': 'ftp://x/' is not"),
    (('seeds = ["http://127.0.0.1:8000/"]', "seeds = 3"), "field 'seeds': must be a list"),
    (('name = "example"', 'name = "has space"'), "field 'name'"),
    (("weight = 1.0", 'weight = 1.0\nallow = ["("]'), "field 'allow': invalid regular expression"),
    (("weight = 1.0", 'weight = 1.0\nencoding = "klingon"'), "field 'encoding': unknown character encoding"),
    (("weight = 1.0", "weight = 1.0\nfilters = { min_lenght = 3 }"), "field 'filters.min_lenght': unknown"),
    (("weight = 1.0", "weight = 1.0\npoliteness = { concurrency = 0 }"), "field 'politeness'"),
    (("weight = 1.0", 'weight = 1.0\ncolour = "red"'), "unknown field(s) ['colour']"),
    (("weight = 1.0", 'weight = 1.0\nng_words = "missing.txt"'), "field 'ng_words': file not found"),
    (("weight = 1.0", 'weight = 1.0\nextract = "magic"'), "field 'extract'"),
])
def test_errors_name_site_and_field(tmp_path, mutation, message):
    p = write(tmp_path, MINIMAL.replace(*mutation))
    with pytest.raises(SiteRulesError) as e:
        load_sites(p)
    assert message in str(e.value) and str(p) in str(e.value)


def test_a_site_without_seeds_takes_no_url_and_is_not_crawled(tmp_path, capsys):
    """Rules for build-corpus --input only: no seeds, so no URL is in scope unless ``allow``
    says so, and the crawl refuses it by name."""
    from swelm.cli import main
    p = write(tmp_path, MINIMAL.replace('seeds = ["http://127.0.0.1:8000/"]', "seeds = []"))
    (site,) = load_sites(p)
    assert site.seeds == () and not site.in_scope("http://127.0.0.1:8000/")
    for form in (["--sites", str(p)], [f"--sites={p}"]):
        assert main(["crawl", *form, "--out", str(tmp_path / "c")]) == 2
        err = capsys.readouterr().err.strip()
        assert err == (f"swelm crawl: {p}: the site 'example' has no seeds, so it cannot be "
                       "crawled (its rules serve build-corpus --input); give its seeds, or "
                       "choose the sites to crawl with --site"), err
        assert not (tmp_path / "c").exists()


def test_a_rule_is_switched_off_in_toml(tmp_path):
    p = write(tmp_path, MINIMAL.replace("weight = 1.0", 'weight = 1.0\nfilters = { min_length = '
                                        '"off", max_link_ratio = false, min_hiragana_ratio = 0.1 }'))
    (site,) = load_sites(p)
    assert site.filters["min_length"] is None and site.filters["max_link_ratio"] is None
    assert site.filters["min_hiragana_ratio"] == 0.1


def test_rules_files_that_are_folders_or_link_loops(tmp_path):
    (tmp_path / "folder.toml").mkdir()
    with pytest.raises(SiteRulesError, match="cannot read the site rules file"):
        load_sites(tmp_path / "folder.toml")
    (tmp_path / "loop.toml").symlink_to(tmp_path / "loop.toml")
    with pytest.raises(SiteRulesError, match="cannot read the site rules file"):
        load_sites(tmp_path / "loop.toml")


def test_file_level_errors(tmp_path):
    with pytest.raises(SiteRulesError, match="not found"):
        load_sites(tmp_path / "none.toml")
    with pytest.raises(SiteRulesError, match="not valid TOML"):
        load_sites(write(tmp_path, "[[sites]\n"))
    with pytest.raises(SiteRulesError, match="non-empty list"):
        load_sites(write(tmp_path, "x = 1\n".replace("x", "sites")))
    with pytest.raises(SiteRulesError, match="duplicate site name"):
        load_sites(write(tmp_path, MINIMAL + MINIMAL))
    with pytest.raises(SiteRulesError, match="site #1"):
        load_sites(write(tmp_path, '[[sites]]\nseeds = ["http://a/"]\ngenre = "docs"\n'))


def test_yaml(tmp_path):
    yaml = pytest.importorskip("yaml", reason="PyYAML is optional")
    del yaml
    p = write(tmp_path, "sites:\n  - name: y\n    seeds: [http://127.0.0.1:8000/]\n    genre: qa\n",
              name="sites.yaml")
    (site,) = load_sites(p)
    assert site.genre == "qa"


def test_genre_presets(tmp_path):
    """Open-web genres keep the web (Swallow) thresholds; docs, legal and novel have their
    presets, and a site's own filters still win."""
    for genre in ("blog", "news", "qa", "forum", "wiki", "encyclopedia", "other"):
        assert thresholds_for(genre) == THRESHOLDS
    assert set(GENRE_PRESETS) == {"docs", "legal", "novel"}
    for preset in GENRE_PRESETS.values():
        assert set(preset) <= set(THRESHOLDS)
    (site,) = load_sites(write(tmp_path, '[[sites]]\nname = "laws"\nseeds = ["http://x.test/"]\n'
                                         'genre = "legal"\nfilters = { min_length = 300 }\n'))
    assert site.filters["max_sentence_length"] is None and site.filters["min_length"] == 300


def test_url_patterns_match_in_linear_time(tmp_path):
    """A pattern with a nested quantifier in disguise, against a URL built to make a
    backtracking engine take exponential time: RE2 answers at once (Python's re takes minutes
    on 44 a's; with 5,000 the answer would never come)."""
    p = write(tmp_path, MINIMAL.replace("weight = 1.0", 'weight = 1.0\ndeny = ["/(a|aa)*c$"]'))
    (site,) = load_sites(p)
    url = "http://127.0.0.1:8000/" + "a" * 5000 + "b"
    assert site.in_scope(url)                   # a pathological case for backtracking
    assert not site.in_scope("http://127.0.0.1:8000/aaac")
