"""Strings in, strings out: normalise → tokenize → length-sorted batches → decode → detokenize → input order."""

from pathlib import Path

import torch

from translate.batching import source_tensor
from translate.checkpoint import LoadedModel, load_model
from translate.config import DecodeConfig
from translate.normalize import normalize
from translate.search import Hypothesis, greedy


class Translator:
    """Translate lists of sentences with one loaded model; shared by training (dev BLEU), the CLI and the app."""

    def __init__(self, loaded: LoadedModel, decode: DecodeConfig = DecodeConfig()):
        self.loaded = loaded
        self.decode = decode
        self.device = next(loaded.model.parameters()).device

    @classmethod
    def from_dir(cls, model_dir: Path, decode: DecodeConfig = DecodeConfig(), device: str = "cpu") -> "Translator":
        return cls(load_model(model_dir, device=device), decode)

    def _decode_ids(self, src_ids: list[list[int]]) -> list[Hypothesis]:
        src, src_len = source_tensor(src_ids)
        return greedy(self.loaded.model, src.to(self.device), src_len, self.decode.max_len_a, self.decode.max_len_b)

    @torch.no_grad()
    def translate(self, lines: list[str]) -> list[str]:
        """One translation per input line, in input order; empty input gives empty output."""
        texts = [normalize(line) for line in lines]
        limit = self.loaded.model.cfg.max_src_len
        ids = [seq[:limit] for seq in self.loaded.src_tok.encode_batch(texts)]
        out = [""] * len(lines)
        order = sorted((i for i in range(len(lines)) if ids[i]), key=lambda i: len(ids[i]))
        for start in range(0, len(order), self.decode.batch_size):
            chunk = order[start : start + self.decode.batch_size]
            for i, hyp in zip(chunk, self._decode_ids([ids[i] for i in chunk])):
                out[i] = self.loaded.tgt_tok.decode(hyp.tokens)
        return out
