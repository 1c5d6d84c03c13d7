"""Decoding strategies as plain functions over `model.encode` and `model.step` (ids in, ids out), batched."""

from dataclasses import dataclass

import torch
from torch import Tensor

from translate.config import BOS_ID, EOS_ID
from translate.model import Seq2Seq


@dataclass(frozen=True)
class Hypothesis:
    """One output: token ids (no BOS/EOS), total log-probability, attention (len(tokens) + 1, S) incl. EOS step."""

    tokens: list[int]
    score: float
    attn: Tensor


def max_lengths(src_len: Tensor, a: float, b: int) -> Tensor:
    """Per-sentence output length limit a * source length + b."""
    return (src_len.float() * a).long() + b


@torch.no_grad()
def greedy(model: Seq2Seq, src: Tensor, src_len: Tensor, max_len_a: float = 1.5,
           max_len_b: int = 10) -> list[Hypothesis]:
    """Batched greedy decoding of src (B, S); one Hypothesis per sentence, in input order."""
    enc, state = model.encode(src, src_len)
    batch = src.size(0)
    limits = max_lengths(src_len, max_len_a, max_len_b).to(src.device)
    prev = torch.full((batch,), BOS_ID, dtype=torch.long, device=src.device)
    done = torch.zeros(batch, dtype=torch.bool, device=src.device)
    scores = torch.zeros(batch, device=src.device)
    tokens, attns = [], []
    for t in range(int(limits.max()) + 1):
        logits, state, attn = model.step(prev, state, enc)
        log_probs = torch.log_softmax(logits.float(), dim=-1)
        if t == int(limits.max()):
            prev = torch.full_like(prev, EOS_ID)  # force an end at the limit
        else:
            prev = log_probs.argmax(-1).masked_fill(t >= limits, EOS_ID)
        scores += log_probs.gather(1, prev[:, None]).squeeze(1).masked_fill(done, 0.0)
        tokens.append(prev.masked_fill(done, EOS_ID))
        attns.append(attn)
        done |= prev == EOS_ID
        if bool(done.all()):
            break
    return _collect(torch.stack(tokens, 1), torch.stack(attns, 1), scores, src_len)


def _collect(tokens: Tensor, attns: Tensor, scores: Tensor, src_len: Tensor) -> list[Hypothesis]:
    """Cut each row at its first EOS; attention keeps the EOS step and the real source positions."""
    hyps = []
    for row, attn, score, n_src in zip(tokens.tolist(), attns, scores.tolist(), src_len.tolist()):
        end = row.index(EOS_ID) if EOS_ID in row else len(row)
        hyps.append(Hypothesis(row[:end], score, attn[: end + 1, :n_src].cpu()))
    return hyps
