"""The emoji table builder (emoji.json from the emoji package's data)."""
import json

import pytest

from swelm.tokenizer.emoji_table import KAOMOJI, REPRESENTATIVES, build_emoji_table, classify

emoji = pytest.importorskip("emoji", reason="the emoji package builds the table")


@pytest.fixture(scope="module")
def table():
    return build_emoji_table()


@pytest.mark.parametrize("text, cls", [
    ("😀", 1), ("😂", 1), ("😢", 2), ("😡", 2), ("💀", 2), ("⚽", 3), ("🎎", 3), ("🐯", 4),
    ("🐶", 4), ("🇯🇵", 5), ("🏴\u200d☠️", 5), ("🍙", 6), ("🍣", 6), ("🥁", 7), ("💻", 7),
    ("👍", 8), ("👍🏽", 8), ("🤘🏻", 8), ("👩\u200d💻", 8), ("❤", 9), ("❤️", 9), ("💕", 9),
    ("😍", 9), ("🟥", 10), ("◻", 10), ("©", 10), ("#️⃣", 10), ("🌏", 11), ("🚗", 11),
    ("☀️", 11), ("🌸", 11), ("(^_^)", 12), ("(^^)", 12),
])
def test_classes(table, text, cls):
    assert table["emoji"][text] == f"<|emoji{cls}|>"


def test_every_emoji_and_its_vs16_form_is_covered(table):
    for e, info in emoji.EMOJI_DATA.items():
        assert e in table["emoji"], info["en"]
        if info.get("variant") and "\ufe0f" not in e:
            assert e + "\ufe0f" in table["emoji"]
    assert all(k in table["emoji"] for k in KAOMOJI)


def test_sequences_come_before_their_prefixes(table):
    order = {k: i for i, k in enumerate(table["emoji"])}
    assert order["🏴\u200d☠️"] < order["☠️"] < order["☠"]
    assert order["👩\u200d❤️\u200d💋\u200d👨"] < order["💋"]
    keys = list(table["emoji"])
    assert [len(k) for k in keys] == sorted((len(k) for k in keys), reverse=True)


def test_representatives_and_determinism(table):
    assert list(table["emoji_inv"].values()) == REPRESENTATIVES
    assert json.dumps(build_emoji_table(), ensure_ascii=False) == json.dumps(table, ensure_ascii=False)
    assert not any(c in k for k in table["emoji"] for c in " \u3000\t\n\r—−")


def test_encoder_keeps_sequences_whole(table, tmp_path, upstream_files):
    from swelm.tokenizer import SWEEncoder
    path = tmp_path / "emoji.json"
    path.write_text(json.dumps(table, ensure_ascii=False), encoding="utf-8")
    enc = SWEEncoder.load(upstream_files[0], path)
    assert enc.encode("🏴\u200d☠️") == [enc.token_to_id("<|emoji5|>")]    # the pirate flag whole
    assert enc.encode("👩\u200d💻👍🏽") == [enc.token_to_id("<|emoji8|>")] * 2


def test_classify_names():
    assert classify(":red_heart:") == 9 and classify(":Japan:", "🇯🇵") == 5
    assert classify(":unknown_thing:") == 7
