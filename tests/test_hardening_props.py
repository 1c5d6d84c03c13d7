"""Property-based tests over hostile text: any Unicode string, up to 10,000 characters, through normalisation,
tokenisation, the Translator, the CLI's line path and the app's handler. Nothing raises, and N lines in always
give N lines out, in order (known sentences planted among the garbage come back translated in their places).
"""

import io
import unicodedata
from pathlib import Path

import gradio as gr
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_app import app

from translate.cli import output_lines
from translate.config import EOS_ID, UNK_ID, DecodeConfig
from translate.normalize import ZWJ, ZWNJ, match_key, normalize
from translate.textio import read_chunks
from translate.translator import Translator

DATA = Path(__file__).parent / "data"
SOURCES = (DATA / "tiny.hi").read_text(encoding="utf-8").splitlines()
REFERENCES = (DATA / "tiny.en").read_text(encoding="utf-8").splitlines()

# Characters that have broken text pipelines before: controls and line separators of every kind, invisible
# format characters, combining marks with nothing to combine with, emoji sequences, right-to-left text,
# Devanagari with nukta, virama and joiners, unpaired surrogates, private use and unassigned code points.
HOSTILE = ("\x00\x01\x07\x08\t\n\x0b\x0c\r\x1b\x1c\x1d\x1e\x1f\x7f\x80\x85\x9f\xa0\xad\u2028\u2029\u200b\u200c"
           "\u200d\u200e\u200f\u202a\u202e\u2066\u2069\ufeff\ufffc\ufffd\u0301\u0300\u0323\u20dd\u093c\u094d"
           "\u0902\u0901\u0964\u0965\u0958\u095b\u0915\u0937\u0930 \u3000"
           "\U0001f642\U0001f44d\U0001f3fd\U0001f468\u200d\U0001f469\u200d\U0001f467\U0001f1ee\U0001f1f3"
           "\u05e9\u05dc\u05d5\u05dd\u0627\u0644\u0639\u0631\u0628\u064a\u0629\u4e2d\u6587\ud800\udfff\ue000"
           "\U0010ffff\U000e0001\u0378")
chars = st.one_of(st.characters(), st.sampled_from(HOSTILE))
texts = st.one_of(st.text(chars, max_size=80), st.sampled_from(SOURCES))
# exactly 10,000 characters: a random text repeated, so long inputs stay cheap to generate
long_texts = st.text(chars, min_size=1, max_size=60).map(lambda t: (t * (10_000 // len(t) + 1))[:10_000])
# lines as a textarea holds them (no "\n" inside), and as a file does (valid UTF-8: no unpaired surrogates)
lines = st.text(chars.filter(lambda c: c != "\n"), max_size=80)
file_lines = st.text(chars.filter(lambda c: c != "\n" and not "\ud800" <= c <= "\udfff"), max_size=80)

pytestmark = [pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]


def props(max_examples: int) -> settings:
    """Few examples each, so the file runs in about a minute on one busy core; no deadline (the machine is shared)."""
    return settings(max_examples=max_examples, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def translator(tiny_model_dir) -> Translator:
    # beam 2 and batches of 3 put several lengths in each batch and exercise the beam's bookkeeping
    return Translator.from_dir(tiny_model_dir, DecodeConfig(beam=2, batch_size=3))


def with_planted(garbage: list[str], where: list[int]) -> tuple[list[str], dict[int, str]]:
    """Corpus sentences planted among the garbage lines; returns the lines and {position: expected output}."""
    out, expect = list(garbage), {}
    for k, pos in enumerate(where):
        pos = min(pos, len(out))
        out.insert(pos, SOURCES[k % len(SOURCES)])
        expect = {(p + 1 if p >= pos else p): t for p, t in expect.items()}
        expect[pos] = REFERENCES[k % len(SOURCES)]
    return out, expect


def check_clean(text: str) -> None:
    """What normalize promises: NFC, single spaces, stripped, no line breaks, controls or stray format characters."""
    assert unicodedata.is_normalized("NFC", text)
    assert text == text.strip() and "  " not in text
    assert not any(unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") for ch in text)
    assert not any(unicodedata.category(ch) == "Cf" and ch not in (ZWJ, ZWNJ) for ch in text)
    assert len(text.splitlines()) <= 1


# --- normalisation ---------------------------------------------------------------------------------------------


@props(500)
@given(st.one_of(texts, long_texts))
def test_normalize_takes_any_string(text):
    out = normalize(text)
    check_clean(out)
    assert normalize(out) == out
    key = match_key(text)
    assert key == key.strip() and key == match_key(out)


# --- tokenisation ----------------------------------------------------------------------------------------------


@props(200)
@given(st.lists(st.one_of(texts, long_texts.map(lambda t: t[:3000])), max_size=6))
def test_tokenizer_takes_any_normalised_text_and_keeps_the_batch(translator, batch):
    for tok in (translator.loaded.src_tok, translator.loaded.tgt_tok):
        texts_in = [normalize(t) for t in batch]
        ids = tok.encode_batch(texts_in)
        assert ids == [tok.encode(t) for t in texts_in]  # N in, N out, in order
        for text, one in zip(texts_in, ids):
            assert all(i == UNK_ID or EOS_ID < i < len(tok) for i in one)
            assert bool(one) == bool(text)
            decoded = tok.decode(one)
            assert "\n" not in decoded and decoded == decoded.strip()


@props(100)
@given(st.text(st.characters(exclude_categories=["Cs"]), max_size=200))
def test_tokenizer_takes_any_encodable_text_even_unnormalised(translator, text):
    ids = translator.loaded.src_tok.encode(text)
    assert all(0 <= i < len(translator.loaded.src_tok) for i in ids)
    translator.loaded.src_tok.decode(ids)


# --- the Translator --------------------------------------------------------------------------------------------


@props(150)
@given(st.lists(texts, max_size=7), st.lists(st.integers(0, 8), min_size=1, max_size=3))
def test_translator_gives_one_line_per_line_in_order(translator, garbage, where):
    batch, expect = with_planted(garbage, where)
    out = translator.translate(batch)
    assert len(out) == len(batch)
    assert all(isinstance(t, str) and "\n" not in t and "\r" not in t for t in out)
    assert {p: out[p] for p in expect} == expect
    assert all(out[i] == "" for i, line in enumerate(batch) if not normalize(line))
    ranked = translator.nbest(batch, n_best=2)
    assert len(ranked) == len(batch) and [c[0][0] if c else "" for c in ranked] == out


@props(100)
@given(long_texts, st.integers(0, 2))
def test_translator_takes_10000_characters(translator, text, pos):
    batch, expect = with_planted(["", text], [pos])
    out = translator.translate(batch)
    assert len(out) == 3 and out[pos] == expect[pos]
    assert all("\n" not in t for t in out)
    cands = translator.translate_nbest(text, n_best=2)
    assert (cands == []) == (normalize(text) == "") and all("\n" not in c.text for c in cands)


# --- the command line's line path and the app's handler --------------------------------------------------------


@props(100)
@given(st.lists(file_lines, max_size=9), st.lists(st.integers(0, 9), min_size=1, max_size=2),
       st.sampled_from([1, 2]), st.booleans())
def test_cli_line_path_gives_one_output_line_per_input_line(translator, garbage, where, n_best, final_newline):
    batch, expect = with_planted(garbage, where)
    data = "".join(line + "\n" for line in batch)
    if batch and batch[-1] and not final_newline:  # a last line without its newline (an empty one would not exist)
        data = data[:-1]
    out = []
    for chunk in read_chunks(io.BytesIO(data.encode()), "<test>", size=3):  # several chunks, as a long file has
        out += output_lines(translator, chunk.lines, n_best)
    assert len(out) == len(batch)
    assert all("\n" not in line and "\r" not in line for line in out)
    if n_best == 1:
        assert {p: out[p] for p in expect} == expect


@props(100)
@given(st.lists(lines, max_size=8), st.lists(st.integers(0, 8), min_size=1, max_size=2))
def test_app_handler_gives_one_line_per_line_or_a_clear_refusal(translator, garbage, where):
    batch, expect = with_planted(garbage, where)
    text = "\n".join(batch)
    out = app.translate_text(translator, text, beam=1).split("\n")
    assert len(out) == len(app.split_lines(text))
    assert {p: out[p] for p in expect} == expect
    with pytest.raises(gr.Error, match="the limit is 5,000"):
        app.translate_text(translator, (text + " ") * (app.MAX_CHARS // (len(text) + 1) + 1), beam=1)
