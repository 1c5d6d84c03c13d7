"""Decoding strategies as plain functions over `model.encode` and `model.step` (ids in, ids out), batched.

Both functions need only `encode(src, src_len) -> (enc, state)` and `step(prev, state, enc) -> (logits, state,
attn)`, where `enc` and `state` know how to `select(index)` rows of the batch. They decode every sentence of a batch
together (beam search flattens batch × beam into rows); the only Python loops are over time steps.
"""

from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

from translate.config import BOS_ID, EOS_ID

NEG_INF = float("-inf")


class Decodable(Protocol):
    """What decoding needs from a model (Seq2Seq, or a scripted stand-in in the tests)."""

    def encode(self, src: Tensor, src_len: Tensor) -> tuple[Any, Any]: ...

    def step(self, prev: Tensor, state: Any, enc: Any) -> tuple[Tensor, Any, Tensor]: ...


@dataclass(frozen=True)
class Hypothesis:
    """One output: token ids (no BOS/EOS), total log-probability, attention (len(tokens) + 1, S) incl. EOS step.

    `norm_score` is the length-normalised score used for ranking: score / (len(tokens) + 1) ** alpha.
    """

    tokens: list[int]
    score: float
    attn: Tensor
    norm_score: float


def max_lengths(src_len: Tensor, a: float, b: int) -> Tensor:
    """Per-sentence output length limit a * source length + b."""
    return (src_len.float() * a).long() + b


def length_penalty(steps: Tensor | int, alpha: float) -> Tensor | float:
    """Divisor for length normalisation; `steps` counts the scored steps, EOS included."""
    return steps**alpha


def block_repeats(log_probs: Tensor, seq: Tensor, n: int) -> Tensor:
    """log_probs (N, V) with -inf on every token that would complete an n-gram already in seq (N, T); n 0 is off.

    A row's last n - 1 tokens are compared with each earlier window of n - 1 tokens; where they match, the token
    that followed that window is banned (as fairseq's and Hugging Face's no-repeat-ngram blocking).
    """
    if n < 2 or seq.size(1) < n:
        return log_probs
    prefix = seq[:, seq.size(1) - n + 1 :]
    windows = seq[:, :-1].unfold(1, n - 1, 1)  # (N, T - n + 1, n - 1), each followed by seq[:, j + n - 1]
    match = (windows == prefix[:, None, :]).all(-1)
    hits = torch.zeros_like(log_probs).scatter_add_(1, seq[:, n - 1 :], match.to(log_probs.dtype))
    return log_probs.masked_fill(hits > 0, NEG_INF)


def _log_probs(model: Decodable, prev: Tensor, state: Any, enc: Any) -> tuple[Tensor, Any, Tensor]:
    """One step in fp32: log-probabilities (N, V), next state, attention (N, S)."""
    logits, state, attn = model.step(prev, state, enc)
    return torch.log_softmax(logits.float(), dim=-1), state, attn.float()


@torch.no_grad()
def greedy(model: Decodable, src: Tensor, src_len: Tensor, *, max_len_a: float = 1.5, max_len_b: int = 10,
           alpha: float = 0.6, no_repeat_ngram: int = 0) -> list[Hypothesis]:
    """Batched greedy decoding of src (B, S) with src_len (B,); one Hypothesis per sentence, in input order.

    A sentence that reaches its length limit a * src_len + b is ended with EOS (scored as the model scores it).
    With no_repeat_ngram n >= 2, no n-gram appears twice in an output (see block_repeats).
    """
    enc, state = model.encode(src, src_len)
    batch, device = src.size(0), src.device
    limits = max_lengths(src_len, max_len_a, max_len_b).to(device)
    prev = torch.full((batch,), BOS_ID, dtype=torch.long, device=device)
    done = torch.zeros(batch, dtype=torch.bool, device=device)
    scores = torch.zeros(batch, device=device)
    tokens, attns = [], []
    for t in range(int(limits.max()) + 1):
        log_probs, state, attn = _log_probs(model, prev, state, enc)
        if no_repeat_ngram and tokens:
            log_probs = block_repeats(log_probs, torch.stack(tokens, 1), no_repeat_ngram)
        prev = log_probs.argmax(-1).masked_fill(t >= limits, EOS_ID)  # force an end at the limit
        scores += log_probs.gather(1, prev[:, None]).squeeze(1).masked_fill(done, 0.0)
        tokens.append(prev.masked_fill(done, EOS_ID))
        attns.append(attn)
        done |= prev == EOS_ID
        if bool(done.all()):
            break
    return _collect(torch.stack(tokens, 1), torch.stack(attns, 1), scores, src_len, alpha)


def _collect(tokens: Tensor, attns: Tensor, scores: Tensor, src_len: Tensor, alpha: float) -> list[Hypothesis]:
    """Cut each row of tokens (B, T) at its first EOS; attention (B, T, S) keeps the EOS step and real positions."""
    hyps = []
    for row, attn, score, n_src in zip(tokens.tolist(), attns.cpu(), scores.tolist(), src_len.tolist()):
        end = row.index(EOS_ID) if EOS_ID in row else len(row)
        hyps.append(Hypothesis(row[:end], score, attn[: end + 1, :n_src], score / length_penalty(end + 1, alpha)))
    return hyps


@dataclass
class _History:
    """Per-step beam records (each (B, K) or (B, K, S)) for backtracking finished hypotheses at the end."""

    tokens: list[Tensor]  # token appended to make alive slot j after step t
    parents: list[Tensor]  # the alive slot at step t that slot j after step t came from
    attn: list[Tensor]  # attention computed at step t by alive slot k


@dataclass
class _Finished:
    """Up to K finished hypotheses per sentence: raw and normalised score, end step and alive slot, all (B, K)."""

    score: Tensor
    norm: Tensor
    end: Tensor
    slot: Tensor
    count: Tensor  # (B,)


@torch.no_grad()
def beam_search(model: Decodable, src: Tensor, src_len: Tensor, *, beam: int, alpha: float = 0.6,
                max_len_a: float = 1.5, max_len_b: int = 10, n_best: int = 1,
                no_repeat_ngram: int = 0) -> list[list[Hypothesis]]:
    """Batched beam search over src (B, S) with src_len (B,); per sentence its n-best list, best first.

    Every step expands all B × beam alive hypotheses at once and keeps the 2 × beam best candidates per sentence.
    A candidate ending in EOS is finished when it ranks within the top `beam` (as in fairseq); the next alive beam is
    the `beam` best candidates that do not end. A sentence is done when it has `beam` finished hypotheses or reaches
    its length limit a * src_len + b, where every alive hypothesis is ended with EOS. Finished hypotheses are ranked
    by score / (length + 1) ** alpha. With beam 1 this follows the greedy path. With no_repeat_ngram n >= 2, no
    n-gram appears twice in a hypothesis (see block_repeats).
    """
    if beam < 1 or not 1 <= n_best <= beam:
        raise ValueError(f"need beam >= 1 and 1 <= n_best <= beam (beam {beam}, n_best {n_best})")
    batch, device = src.size(0), src.device
    enc, state = model.encode(src, src_len)
    rows = torch.arange(batch, device=device).repeat_interleave(beam)
    enc, state = enc.select(rows), state.select(rows)
    limits = max_lengths(src_len, max_len_a, max_len_b).to(device)
    scores = torch.full((batch, beam), NEG_INF, device=device)
    scores[:, 0] = 0.0  # every beam starts identical: expand only the first one
    prev = torch.full((batch * beam,), BOS_ID, dtype=torch.long, device=device)
    fin = _Finished(torch.zeros(batch, beam, device=device), torch.full((batch, beam), NEG_INF, device=device),
                    *torch.zeros(2, batch, beam, dtype=torch.long, device=device),
                    torch.zeros(batch, dtype=torch.long, device=device))
    history = _History([], [], [])
    alive = torch.zeros(batch * beam, 0, dtype=torch.long, device=device)  # tokens of each alive hypothesis
    done = torch.zeros(batch, dtype=torch.bool, device=device)
    for t in range(int(limits.max()) + 1):
        log_probs, state, attn = _log_probs(model, prev, state, enc)
        log_probs = block_repeats(log_probs, alive, no_repeat_ngram)
        history.attn.append(attn.view(batch, beam, -1))
        log_probs = log_probs.view(batch, beam, -1)
        at_limit = (t >= limits)[:, None, None]
        not_eos = torch.arange(log_probs.size(-1), device=device) != EOS_ID
        log_probs = log_probs.masked_fill(at_limit & not_eos, NEG_INF)
        cand = (scores[:, :, None] + log_probs).view(batch, -1)
        top, index = cand.topk(min(2 * beam, cand.size(1)), dim=1)
        slot, token = index // log_probs.size(-1), index % log_probs.size(-1)
        ends = token == EOS_ID
        _finish(fin, top[:, :beam], slot[:, :beam], ends[:, :beam] & ~done[:, None], t, alpha)
        keep = torch.sort(ends.int(), dim=1, stable=True).indices[:, :beam]  # best non-EOS candidates first
        scores = top.gather(1, keep).masked_fill(ends.gather(1, keep), NEG_INF)
        parents, token = slot.gather(1, keep), token.gather(1, keep)
        history.tokens.append(token)
        history.parents.append(parents)
        done |= (fin.count >= beam) | (t >= limits)
        if bool(done.all()):
            break
        reorder = (torch.arange(batch, device=device)[:, None] * beam + parents).view(-1)
        state, prev = state.select(reorder), token.view(-1)
        if no_repeat_ngram:
            alive = torch.cat([alive[reorder], prev[:, None]], dim=1)
    return _best(fin, history, src_len, n_best)


def _finish(fin: _Finished, score: Tensor, slot: Tensor, ends: Tensor, t: int, alpha: float) -> None:
    """Append the candidates (B, K) that end at step t, best first, while a sentence has room for them."""
    beam = fin.score.size(1)
    ends = ends & torch.isfinite(score)
    position = fin.count[:, None] + ends.long().cumsum(1) - 1
    ends = ends & (position < beam)
    target = torch.where(ends, position, beam)  # column `beam` is a discard pile
    for field, value in (("score", score), ("norm", score / length_penalty(t + 1, alpha)),
                         ("end", torch.full_like(slot, t)), ("slot", slot)):
        old = getattr(fin, field)
        grown = torch.cat([old, old[:, :1]], dim=1).scatter(1, target, value.to(old.dtype))
        setattr(fin, field, grown[:, :beam])
    fin.count += ends.sum(1)


def _best(fin: _Finished, history: _History, src_len: Tensor, n_best: int) -> list[list[Hypothesis]]:
    """Rank finished hypotheses by normalised score and rebuild the n best per sentence from the history."""
    norm, order = fin.norm.topk(n_best, dim=1)
    score, end, slot = fin.score.gather(1, order), fin.end.gather(1, order), fin.slot.gather(1, order)
    tokens, attn = _backtrack(history, end, slot)
    norm, score, end = norm.tolist(), score.tolist(), end.tolist()
    out = []
    for b, n_src in enumerate(src_len.tolist()):
        out.append([Hypothesis(tokens[b, k, : end[b][k]].tolist(), score[b][k], attn[b, k, : end[b][k] + 1, :n_src],
                               norm[b][k]) for k in range(n_best) if k == 0 or norm[b][k] > NEG_INF])
    return out


def _backtrack(history: _History, end: Tensor, slot: Tensor) -> tuple[Tensor, Tensor]:
    """Follow parent pointers back from (end step, slot) pairs (B, N): tokens (B, N, T) and attention (B, N, T, S)."""
    steps = len(history.attn)
    batch, n = end.shape
    src = history.attn[0].size(-1)
    tokens = torch.full((batch, n, steps), EOS_ID, dtype=torch.long, device=end.device)
    attn = torch.zeros(batch, n, steps, src, device=end.device)
    cur = slot.clone()
    for t in reversed(range(steps)):
        cur = torch.where(end == t, slot, cur)
        live = end >= t
        rows = history.attn[t].gather(1, cur[:, :, None].expand(-1, -1, src))
        attn[:, :, t] = rows.masked_fill(~live[:, :, None], 0.0)
        if t > 0:
            tokens[:, :, t - 1] = torch.where(live, history.tokens[t - 1].gather(1, cur), EOS_ID)
            cur = torch.where(live, history.parents[t - 1].gather(1, cur), cur)
    return tokens.cpu(), attn.cpu()
