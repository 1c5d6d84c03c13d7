"""Id-level batching: length-bucketed token batches for training, padded tensors for both training and decoding."""

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from translate.config import BOS_ID, EOS_ID, PAD_ID


@dataclass(frozen=True)
class Batch:
    """src (B, S) with EOS, src_len (B,), tgt_in (B, T) = BOS + y, tgt_out (B, T) = y + EOS."""

    src: Tensor
    src_len: Tensor
    tgt_in: Tensor
    tgt_out: Tensor

    def to(self, device: torch.device) -> "Batch":
        return Batch(self.src.to(device), self.src_len, self.tgt_in.to(device), self.tgt_out.to(device))

    @property
    def n_tokens(self) -> int:
        return int((self.tgt_out != PAD_ID).sum())


def pad(seqs: list[list[int]]) -> Tensor:
    """Right-pad id lists into a (B, max_len) LongTensor."""
    out = torch.full((len(seqs), max(len(s) for s in seqs)), PAD_ID, dtype=torch.long)
    for i, seq in enumerate(seqs):
        out[i, : len(seq)] = torch.tensor(seq, dtype=torch.long)
    return out


def source_tensor(src_ids: list[list[int]]) -> tuple[Tensor, Tensor]:
    """Source id lists → src (B, S) ending in EOS, src_len (B,)."""
    seqs = [ids + [EOS_ID] for ids in src_ids]
    return pad(seqs), torch.tensor([len(s) for s in seqs], dtype=torch.long)


def collate(src_ids: list[list[int]], tgt_ids: list[list[int]]) -> Batch:
    """Build a teacher-forcing batch from aligned id lists."""
    src, src_len = source_tensor(src_ids)
    return Batch(src, src_len, pad([[BOS_ID] + t for t in tgt_ids]), pad([t + [EOS_ID] for t in tgt_ids]))


def token_batches(src_lens: np.ndarray, tgt_lens: np.ndarray, batch_tokens: int, seed: int) -> list[np.ndarray]:
    """Index batches of similar length holding at most ~batch_tokens padded tokens each, in shuffled order.

    Deterministic for a given seed, so a resumed run sees the same batches in the same order.
    """
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(src_lens)), src_lens, tgt_lens))
    batches, start, longest = [], 0, 0
    for pos, idx in enumerate(order):
        longest = max(longest, src_lens[idx] + 1, tgt_lens[idx] + 1)
        if (pos - start + 1) * longest > batch_tokens and pos > start:
            batches.append(order[start:pos])
            start, longest = pos, max(src_lens[idx], tgt_lens[idx]) + 1
    batches.append(order[start:])
    rng.shuffle(batches)
    return batches
