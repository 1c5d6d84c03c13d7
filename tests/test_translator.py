"""The Translator (strings in, strings out) and the splitting of over-long input, on the tiny trained model."""

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from translate.checkpoint import load_model
from translate.config import DecodeConfig
from translate.normalize import normalize
from translate.segment import split_long, split_sentences
from translate.translator import Candidate, Translator

DATA = Path(__file__).parent / "data"
SOURCES = (DATA / "tiny.hi").read_text(encoding="utf-8").splitlines()
REFERENCES = (DATA / "tiny.en").read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def translator(tiny_model_dir) -> Translator:
    return Translator.from_dir(tiny_model_dir, DecodeConfig(beam=4, batch_size=3))


def with_limit(model_dir: Path, max_src_len: int) -> Translator:
    """A translator whose model claims to handle only `max_src_len` source pieces."""
    loaded = load_model(model_dir)
    loaded.model.cfg = dataclasses.replace(loaded.model.cfg, max_src_len=max_src_len)
    return Translator(loaded, DecodeConfig(beam=2))


@pytest.mark.parametrize("beam", [1, 4])
def test_reproduces_the_training_corpus(translator, beam):
    assert translator.translate(SOURCES, beam=beam) == REFERENCES


def test_blank_lines_give_empty_output_in_place(translator):
    lines = ["", SOURCES[0], "   ", "\t\u200b", SOURCES[1], ""]
    assert translator.translate(lines) == ["", REFERENCES[0], "", "", REFERENCES[1], ""]
    assert translator.translate([]) == []


def test_input_order_is_restored_across_length_sorted_batches(translator):
    order = [5, 0, 12, 5, 19, 3, 7, 0, 11]  # with repeats; batch_size 3 makes several batches
    got = translator.translate([SOURCES[i] for i in order])
    assert got == [REFERENCES[i] for i in order]
    assert got == [translator.translate([SOURCES[i]])[0] for i in order]


def test_odd_input_still_gives_one_single_line_translation_each(translator):
    lines = ["Hello world, plain Latin text", "🙂🙂 emoji", "a\x00b\x1fc\x7f", "ab\u2028cd", "क" * 3000]
    out = translator.translate(lines)
    assert len(out) == len(lines)
    assert all("\n" not in text and "\r" not in text for text in out)


def test_long_input_is_split_at_sentence_ends_and_rejoined(tiny_model_dir):
    sentences = [s for s in SOURCES if s.endswith(("।", "?"))][:8]
    tok = load_model(tiny_model_dir).src_tok
    limit = max(len(ids) for ids in tok.encode_batch(sentences))
    small = with_limit(tiny_model_dir, limit)
    text = " ".join(sentences)
    assert len(tok.encode(text)) > 3 * limit
    assert small.translate([text]) == [" ".join(REFERENCES[SOURCES.index(s)] for s in sentences)]


def test_a_sentence_longer_than_the_limit_is_cut_at_spaces_never_dropped(tiny_model_dir):
    small = with_limit(tiny_model_dir, 3)
    (out,) = small.translate([SOURCES[3]])  # one sentence of more than 3 pieces
    assert out.strip() and len(out.split()) >= 2


def test_split_sentences_keeps_the_end_marks():
    text = "राम घर गया। सीता आई।मोहन? हाँ! ठीक है. Mr Smith ॥ अंत"
    assert split_sentences(text) == ["राम घर गया।", "सीता आई।", "मोहन?", "हाँ!", "ठीक है.", "Mr Smith ॥", "अंत"]
    assert split_sentences("") == []


@settings(max_examples=40, deadline=None)
@given(text=st.text(st.sampled_from("कखग मनु।?!. abc"), max_size=200), limit=st.integers(1, 8))
def test_split_long_keeps_every_piece_within_the_limit(translator, text, limit):
    tok = translator.loaded.src_tok
    text = normalize(text)
    segments = split_long(text, tok.encode_batch, limit)
    assert all(1 <= len(s) <= limit for s in segments)
    rejoined = "".join(tok.sp.decode([i for s in segments for i in s]).split())
    assert rejoined == "".join(tok.sp.decode(tok.encode(text)).split())


def test_translate_nbest_gives_ranked_candidates_with_attention(translator):
    cands = translator.translate_nbest(SOURCES[4], n_best=3)
    assert 1 <= len(cands) <= 3 and all(isinstance(c, Candidate) for c in cands)
    assert cands[0].text == REFERENCES[4]
    assert [c.score for c in cands] == sorted((c.score for c in cands), reverse=True)
    assert len({c.text for c in cands}) == len(cands)
    for c in cands:
        assert c.attn.shape == (len(c.tgt_pieces) + 1, len(c.src_pieces) + 1)
        assert c.attn.sum(axis=1) == pytest.approx(1.0, abs=1e-4)
        assert "".join(c.tgt_pieces).replace("▁", " ").strip() == c.text
    assert translator.translate_nbest("  ") == []
    (greedy,) = translator.translate_nbest(SOURCES[4], beam=1)
    assert greedy.text == REFERENCES[4]


def test_nbest_per_line(translator):
    out = translator.nbest(["", SOURCES[2]], beam=3, n_best=3)
    assert out[0] == []
    assert out[1][0][0] == REFERENCES[2] and 1 <= len(out[1]) <= 3
