"""The shipped model (checkpoints/hi-en) on everyday Hindi: a regression guard for what users see first."""

import json
from pathlib import Path

import pytest

from translate.cli import SHIPPED_MODEL
from translate.translator import Translator

# Each sentence with words its English translation must contain (case-insensitive).
EVERYDAY = [
    ("आप कैसे हैं", ["How are you"]),
    ("मुझे पानी चाहिए।", ["water"]),
    ("आपका नाम क्या है?", ["your name"]),
    ("यह किताब बहुत अच्छी है।", ["book", "good"]),
    ("मैं घर जा रहा हूँ।", ["home"]),
    ("बच्चे पार्क में खेल रहे हैं।", ["children", "playing", "park"]),
]


@pytest.fixture(scope="module")
def shipped() -> Translator:
    return Translator.from_dir(SHIPPED_MODEL)


def test_how_are_you(shipped):
    assert "How are you" in shipped.translate(["आप कैसे हैं"])[0]


@pytest.mark.parametrize(("hindi", "words"), EVERYDAY)
def test_everyday_sentences(shipped, hindi, words):
    english = shipped.translate([hindi])[0].lower()
    assert all(w.lower() in english for w in words), english


def test_shipped_model_is_small_fp16_with_a_card():
    files = {p.name: p.stat().st_size for p in Path(SHIPPED_MODEL).iterdir()}
    assert {"config.json", "src.model", "tgt.model", "model.safetensors", "README.md"} <= set(files)
    assert sum(files.values()) <= 30 * 2**20
    meta = json.loads((SHIPPED_MODEL / "config.json").read_text(encoding="utf-8"))
    assert meta["dtype"] == "float16" and meta["src_lang"] == "hi" and meta["tgt_lang"] == "en"
