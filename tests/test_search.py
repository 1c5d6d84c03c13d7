"""Greedy and beam search against scripted decoders (answers worked out by hand) and the tiny trained model."""

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from translate.batching import source_tensor
from translate.checkpoint import load_model
from translate.config import BOS_ID, EOS_ID
from translate.normalize import normalize
from translate.search import NEG_INF, beam_search, block_repeats, greedy

DATA = Path(__file__).parent / "data"
VOCAB, SRC = 10, 12  # ids 4..9 are words
A, B, C, D = 4, 5, 6, 7


@dataclass(frozen=True)
class Prefixes:
    """Scripted decoder state: every row's inputs so far (N, t), BOS first."""

    seen: torch.Tensor

    def select(self, index: torch.Tensor) -> "Prefixes":
        return Prefixes(self.seen[index])


@dataclass(frozen=True)
class Memory:
    rows: torch.Tensor
    width: int

    def select(self, index: torch.Tensor) -> "Memory":
        return Memory(self.rows[index], self.width)


class Scripted:
    """A stand-in model: next-token log-probabilities are a function of the tokens produced so far.

    The "attention" of each step holds the token just fed in at source position 0, so a hypothesis's attention rows
    spell out BOS + its own tokens: a check that beam reordering kept each row with its hypothesis.
    """

    def __init__(self, next_log_probs: Callable[[tuple[int, ...]], torch.Tensor]):
        self.next_log_probs = next_log_probs

    def encode(self, src: torch.Tensor, src_len: torch.Tensor) -> tuple[Memory, Prefixes]:
        return Memory(torch.arange(src.size(0)), src.size(1)), Prefixes(src.new_zeros(src.size(0), 0))

    def step(self, prev: torch.Tensor, state: Prefixes, enc: Memory) -> tuple[torch.Tensor, Prefixes, torch.Tensor]:
        seen = torch.cat([state.seen, prev[:, None]], dim=1)
        logits = torch.stack([self.next_log_probs(tuple(row[1:])) for row in seen.tolist()])
        attn = torch.zeros(prev.size(0), enc.width)
        attn[:, 0] = prev.float()
        return logits, Prefixes(seen), attn


def table(rows: dict[tuple[int, ...], dict[int, float]]) -> Scripted:
    """Probabilities per prefix (other tokens impossible); an unlisted prefix ends for sure."""

    def next_log_probs(prefix: tuple[int, ...]) -> torch.Tensor:
        probs = torch.zeros(VOCAB, dtype=torch.float64)
        for token, p in rows.get(prefix, {EOS_ID: 1.0}).items():
            probs[token] = p
        return probs.log().float()

    return Scripted(next_log_probs)


def spelled(attn: torch.Tensor) -> list[int]:
    """The tokens a scripted hypothesis's attention rows record."""
    return attn[:, 0].round().long().tolist()


def sources(*lengths: int) -> tuple[torch.Tensor, torch.Tensor]:
    return source_tensor([[A] * (n - 1) for n in lengths])


# Greedy takes A (0.6) then C (0.45) then EOS: p = 0.27. B then EOS has p = 0.4 but starts worse.
TRAP = table({(): {A: 0.6, B: 0.4}, (A,): {C: 0.45, D: 0.3, EOS_ID: 0.25}, (B,): {EOS_ID: 1.0}})


def test_greedy_falls_into_the_trap():
    (hyp,) = greedy(TRAP, *sources(SRC))
    assert hyp.tokens == [A, C]
    assert hyp.score == pytest.approx(math.log(0.27))


def test_beam_finds_the_better_path_that_greedy_misses():
    (nbest,) = beam_search(TRAP, *sources(SRC), beam=2, alpha=0.0, n_best=2)
    # step 0 keeps A (.6) and B (.4); step 1's top-4 are B EOS .4, AC .27, AD .18, A EOS .15: B EOS is within the
    # top 2 so it finishes, AC and AD stay alive; step 2 ends AC (.27), filling the 2 finished slots.
    assert [h.tokens for h in nbest] == [[B], [A, C]]
    assert [h.score for h in nbest] == pytest.approx([math.log(0.4), math.log(0.27)])
    assert [h.norm_score for h in nbest] == pytest.approx([math.log(0.4), math.log(0.27)])


def test_length_normalisation_changes_the_winner():
    (nbest,) = beam_search(TRAP, *sources(SRC), beam=2, alpha=1.0, n_best=2)
    # log(.4) / 2 = -0.458 < log(.27) / 3 = -0.436: per-step, the longer translation is better.
    assert [h.tokens for h in nbest] == [[A, C], [B]]
    assert [h.norm_score for h in nbest] == pytest.approx([math.log(0.27) / 3, math.log(0.4) / 2])


def test_an_ending_outside_the_top_beam_is_not_finished():
    # Step 1 with beam 2: AC .27 and AD .18 beat A EOS .15, so "A" alone never finishes; B EOS .4 does.
    (nbest,) = beam_search(TRAP, *sources(SRC), beam=2, alpha=0.0, n_best=2)
    assert [A] not in [h.tokens for h in nbest]
    (wide,) = beam_search(TRAP, *sources(SRC), beam=4, alpha=0.0, n_best=4)
    assert [h.tokens for h in wide] == [[B], [A, C], [A, D], [A]]
    assert [h.score for h in wide] == pytest.approx([math.log(p) for p in (0.4, 0.27, 0.18, 0.15)])


def test_attention_rows_follow_each_hypothesis():
    for hyp in beam_search(TRAP, *sources(SRC), beam=4, alpha=0.0, n_best=4)[0]:
        assert hyp.attn.shape == (len(hyp.tokens) + 1, SRC)
        assert spelled(hyp.attn) == [BOS_ID, *hyp.tokens]


def test_unfinished_beams_stop_at_each_sentences_own_limit():
    never_ends = table({})
    never_ends.next_log_probs = lambda prefix: torch.tensor([-1e9] * 4 + [math.log(0.5), math.log(0.49)]
                                                            + [-1e9] * 4).float()
    src, src_len = sources(3, 6)
    for nbest in (beam_search(never_ends, src, src_len, beam=2, max_len_a=1.0, max_len_b=0, n_best=2),
                  [[h] for h in greedy(never_ends, src, src_len, max_len_a=1.0, max_len_b=0)]):
        assert [len(h.tokens) for h in nbest[0]] == [3] * len(nbest[0])
        assert [len(h.tokens) for h in nbest[1]] == [6] * len(nbest[1])
        assert all(h.attn.shape == (len(h.tokens) + 1, n) for hyps, n in zip(nbest, (3, 6)) for h in hyps)


def random_model(seed: int) -> Scripted:
    """Peaked pseudo-random distributions that depend on the prefix; EOS gets likelier as the prefix grows."""

    def next_log_probs(prefix: tuple[int, ...]) -> torch.Tensor:
        gen = torch.Generator().manual_seed(hash((seed, prefix)) % 2**31)
        logits = torch.randn(VOCAB, generator=gen) * 3
        logits[:EOS_ID] = -1e4
        logits[EOS_ID] += len(prefix)
        return torch.log_softmax(logits, -1)

    return Scripted(next_log_probs)


def path_score(model: Scripted, tokens: list[int]) -> float:
    seq = [*tokens, EOS_ID]
    return sum(float(model.next_log_probs(tuple(tokens[:i]))[tok]) for i, tok in enumerate(seq))


def repeats(tokens: list[int], n: int) -> bool:
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return len(grams) != len(set(grams))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), beam=st.integers(1, 5), alpha=st.sampled_from([0.0, 0.6, 1.0]),
       lengths=st.lists(st.integers(1, 6), min_size=1, max_size=4), norep=st.sampled_from([0, 2, 3]))
def test_beam_search_invariants(seed, beam, alpha, lengths, norep):
    model = random_model(seed)
    src, src_len = sources(*lengths)
    limits = {"max_len_a": 1.0, "max_len_b": 2, "no_repeat_ngram": norep}
    results = beam_search(model, src, src_len, beam=beam, alpha=alpha, n_best=beam, **limits)
    for nbest, n in zip(results, lengths):
        assert 1 <= len(nbest) <= beam
        assert [h.norm_score for h in nbest] == sorted((h.norm_score for h in nbest), reverse=True)
        assert len({tuple(h.tokens) for h in nbest}) == len(nbest)
        for h in nbest:
            assert len(h.tokens) <= n + 2 and EOS_ID not in h.tokens
            assert h.score == pytest.approx(path_score(model, h.tokens), abs=1e-4)
            assert h.norm_score == pytest.approx(h.score / (len(h.tokens) + 1) ** alpha, abs=1e-4)
            assert spelled(h.attn) == [BOS_ID, *h.tokens]
            assert not (norep and repeats(h.tokens, norep))
    alone = [beam_search(model, *sources(n), beam=beam, alpha=alpha, n_best=beam, **limits)[0] for n in lengths]
    assert [[h.tokens for h in r] for r in results] == [[h.tokens for h in r] for r in alone]
    one = [r[0] for r in beam_search(model, src, src_len, beam=1, alpha=alpha, **limits)]
    fast = greedy(model, src, src_len, alpha=alpha, **limits)
    assert [h.tokens for h in one] == [h.tokens for h in fast]
    assert [h.norm_score for h in one] == pytest.approx([h.norm_score for h in fast], abs=1e-5)
    assert [h.score for h in one] == pytest.approx([h.score for h in fast], abs=1e-5)
    assert all(torch.equal(x.attn, y.attn) for x, y in zip(one, fast))


def test_block_repeats_bans_only_the_token_that_would_repeat_an_ngram():
    seq = torch.tensor([[A, B, C, A, B], [A, B, A, B, D]])
    banned = [(row == NEG_INF).nonzero().flatten().tolist()
              for row in block_repeats(torch.zeros(2, VOCAB), seq, 3)]
    assert banned == [[C], []]  # "A B" was followed by C before; row 2 ends in "B D", new
    assert [(row == NEG_INF).nonzero().flatten().tolist()
            for row in block_repeats(torch.zeros(2, VOCAB), seq, 2)] == [[C], []]
    assert torch.equal(block_repeats(torch.zeros(1, VOCAB), torch.tensor([[A, A]]), 3), torch.zeros(1, VOCAB))
    assert torch.equal(block_repeats(torch.zeros(2, VOCAB), seq, 0), torch.zeros(2, VOCAB))


# A decoder stuck in a loop: A B A B ... is always likeliest (A after anything but A), C second, EOS last.
LOOP = Scripted(lambda prefix: torch.log_softmax(torch.tensor(
    [-1e4] * 3 + [-2.0] + [4.0 if (not prefix or prefix[-1] != A) else 0.0,
                           4.0 if prefix and prefix[-1] == A else 0.0, 1.0] + [-1e4] * 3), -1))


def test_blocking_breaks_a_loop_in_greedy_and_beam_search():
    limits = {"max_len_a": 1.0, "max_len_b": 0}
    (looping,) = greedy(LOOP, *sources(6), **limits)
    assert looping.tokens == [A, B, A, B, A, B]
    (blocked,) = greedy(LOOP, *sources(6), no_repeat_ngram=3, **limits)
    assert blocked.tokens == [A, B, A, B, C, A]  # "A B A" again is banned at step 4: C instead
    assert not repeats(blocked.tokens, 3)
    assert blocked.score == pytest.approx(path_score(LOOP, blocked.tokens), abs=1e-4)
    (nbest,) = beam_search(LOOP, *sources(6), beam=3, n_best=3, no_repeat_ngram=2, **limits)
    assert all(not repeats(h.tokens, 2) for h in nbest)
    assert nbest[0].tokens[:2] == [A, B]


def test_rejects_bad_settings():
    with pytest.raises(ValueError):
        beam_search(TRAP, *sources(3), beam=2, n_best=3)
    with pytest.raises(ValueError):
        beam_search(TRAP, *sources(3), beam=0)


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_model(tiny_model_dir)


@pytest.fixture(scope="module")
def tiny_texts() -> list[str]:
    return [normalize(line) for line in (DATA / "tiny.hi").read_text(encoding="utf-8").splitlines()]


def tiny_batch(loaded, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    return source_tensor(loaded.src_tok.encode_batch(texts))


def test_beam_of_one_equals_greedy_on_the_tiny_model(tiny, tiny_texts):
    src, src_len = tiny_batch(tiny, tiny_texts)
    fast = greedy(tiny.model, src, src_len)
    beam = [nbest[0] for nbest in beam_search(tiny.model, src, src_len, beam=1)]
    assert [h.tokens for h in beam] == [h.tokens for h in fast]
    for b, g in zip(beam, fast):
        assert b.score == pytest.approx(g.score, abs=1e-5)
        assert torch.allclose(b.attn, g.attn, atol=1e-6)


def test_a_batch_decodes_like_one_sentence_at_a_time(tiny, tiny_texts):
    src, src_len = tiny_batch(tiny, tiny_texts)
    batched = beam_search(tiny.model, src, src_len, beam=3, n_best=3)
    for text, nbest in zip(tiny_texts, batched):
        (alone,) = beam_search(tiny.model, *tiny_batch(tiny, [text]), beam=3, n_best=3)
        assert [h.tokens for h in nbest] == [h.tokens for h in alone]
        assert [h.score for h in nbest] == pytest.approx([h.score for h in alone], abs=1e-4)
        assert all(torch.allclose(x.attn, y.attn, atol=1e-5) for x, y in zip(nbest, alone))
    greedy_batched = greedy(tiny.model, src, src_len)
    greedy_alone = [greedy(tiny.model, *tiny_batch(tiny, [t]))[0] for t in tiny_texts]
    assert [h.tokens for h in greedy_batched] == [h.tokens for h in greedy_alone]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_decoding_on_cuda_matches_cpu(tiny_model_dir, tiny_texts):
    cpu, gpu = load_model(tiny_model_dir), load_model(tiny_model_dir, device="cuda")
    src, src_len = tiny_batch(cpu, tiny_texts)
    want = beam_search(cpu.model, src, src_len, beam=3, n_best=2)
    got = beam_search(gpu.model, src.cuda(), src_len, beam=3, n_best=2)
    assert [[h.tokens for h in n] for n in got] == [[h.tokens for h in n] for n in want]
    assert [h.tokens for h in greedy(gpu.model, src.cuda(), src_len)] == [h.tokens for h in greedy(cpu.model, src,
                                                                                                   src_len)]
