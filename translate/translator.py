"""Strings in, strings out: normalise → tokenize → length-sorted batches → decode → detokenize → input order."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from translate.batching import source_tensor
from translate.checkpoint import LoadedModel, load_model
from translate.config import DecodeConfig, build_in_range
from translate.normalize import normalize
from translate.search import Hypothesis, beam_search, greedy
from translate.segment import split_long

Scored = list[tuple[str, float]]  # (text, length-normalised score), best first


@dataclass(frozen=True)
class Candidate:
    """One translation of a text, for display.

    score: the length-normalised log-probability used for ranking. attn: (len(tgt_pieces) + 1, len(src_pieces) + 1),
    the extra row and column being the EOS step and the source EOS.
    """

    text: str
    score: float
    src_pieces: list[str]
    tgt_pieces: list[str]
    attn: np.ndarray


def model_decode_config(loaded: LoadedModel) -> DecodeConfig:
    """The search settings chosen on dev sets and stored in the model's config.json (built-in defaults otherwise)."""
    return build_in_range(DecodeConfig, loaded.meta.get("decode", {}), "config.json [decode]")


class Translator:
    """Translate lists of sentences with one loaded model; shared by training (dev BLEU), the CLI and the app."""

    def __init__(self, loaded: LoadedModel, decode: DecodeConfig | None = None):
        self.loaded = loaded
        self.decode = decode or model_decode_config(loaded)
        self.device = next(loaded.model.parameters()).device

    @classmethod
    def from_dir(cls, model_dir: Path, decode: DecodeConfig | None = None,
                 device: str | torch.device = "cpu") -> "Translator":
        """Load the model in `model_dir` (see checkpoint.load_model) onto `device`."""
        return cls(load_model(model_dir, device=device), decode)

    def translate(self, lines: list[str], beam: int | None = None) -> list[str]:
        """One translation per input line, in input order; an empty or blank line gives "".

        beam None uses decode.beam; beam 1 is greedy decoding. Lines longer than the model handles are split at
        sentence boundaries (then spaces, then pieces) and the translations rejoined with a space.
        """
        return [cands[0][0] if cands else "" for cands in self.nbest(lines, beam=beam, n_best=1)]

    def nbest(self, lines: list[str], *, beam: int | None = None, n_best: int = 1) -> list[Scored]:
        """Up to min(n_best, beam) (text, score) pairs per line, best first; [] for a blank line."""
        texts = [normalize(line) for line in lines]
        segments, owner = self._segments(texts)
        parts: list[list[Scored]] = [[] for _ in lines]
        for i, hyps in zip(owner, self.search(segments, beam=beam, n_best=n_best)):
            parts[i].append(self._scored(hyps))
        return [_join(p) for p in parts]

    def _scored(self, hyps: list[Hypothesis]) -> Scored:
        """(detokenised text, length-normalised score) of each hypothesis."""
        return [(self.loaded.tgt_tok.decode(h.tokens), h.norm_score) for h in hyps]

    def translate_nbest(self, text: str, beam: int | None = None, n_best: int = 5) -> list[Candidate]:
        """The n best translations of one text with pieces and attention; [] for blank text.

        Returns at most min(n_best, beam) candidates (beam 1: the greedy one). Long text is split as in
        `translate`: candidate k joins the k-th translations of the segments, and its pieces, attention and score
        are those of the first segment (the score is the segments' mean).
        """
        segments, _ = self._segments([normalize(text)])
        if not segments:
            return []
        results = self.search(segments, beam=beam, n_best=n_best)
        joined = _join([self._scored(hyps) for hyps in results])
        src_pieces = self.loaded.src_tok.pieces(segments[0])
        first = results[0]
        out = []
        for k, (joined_text, score) in enumerate(joined):
            hyp = first[min(k, len(first) - 1)]
            out.append(Candidate(joined_text, score, src_pieces, self.loaded.tgt_tok.pieces(hyp.tokens),
                                 hyp.attn.numpy()))
        return out

    def search(self, src_ids: list[list[int]], *, beam: int | None = None, n_best: int = 1) -> list[list[Hypothesis]]:
        """Decode source id lists in length-sorted batches of decode.batch_size; n-best lists in input order."""
        beam = self.decode.beam if beam is None else beam
        if beam < 1 or n_best < 1:
            raise ValueError(f"beam and n_best must be at least 1 (beam {beam}, n_best {n_best})")
        out: list[list[Hypothesis]] = [[] for _ in src_ids]
        order = sorted(range(len(src_ids)), key=lambda i: len(src_ids[i]))
        for start in range(0, len(order), self.decode.batch_size):
            chunk = order[start : start + self.decode.batch_size]
            src, src_len = source_tensor([src_ids[i] for i in chunk])
            for i, hyps in zip(chunk, self._decode(src.to(self.device), src_len, beam, min(n_best, beam))):
                out[i] = hyps
        return out

    def _decode(self, src: torch.Tensor, src_len: torch.Tensor, beam: int, n_best: int) -> list[list[Hypothesis]]:
        """One batch src (B, S): greedy for beam 1, beam search otherwise."""
        d, model = self.decode, self.loaded.model
        if beam == 1:
            return [[h] for h in greedy(model, src, src_len, max_len_a=d.max_len_a, max_len_b=d.max_len_b,
                                        alpha=d.alpha, no_repeat_ngram=d.no_repeat_ngram)]
        return beam_search(model, src, src_len, beam=beam, alpha=d.alpha, max_len_a=d.max_len_a,
                           max_len_b=d.max_len_b, n_best=n_best, no_repeat_ngram=d.no_repeat_ngram)

    def _segments(self, texts: list[str]) -> tuple[list[list[int]], list[int]]:
        """Source ids of every segment that fits the model, and the index of the text each came from."""
        limit = self.loaded.model.cfg.max_src_len
        encode = self.loaded.src_tok.encode_batch
        segments, owner = [], []
        for i, (text, ids) in enumerate(zip(texts, encode(texts))):
            if not text:
                continue
            for segment in [ids] if len(ids) <= limit else split_long(text, encode, limit):
                if segment:
                    segments.append(segment)
                    owner.append(i)
        return segments, owner


def _join(parts: list[Scored]) -> Scored:
    """Candidates of a line from its segments' candidates: k-th with k-th (or the last), mean score."""
    if not parts:
        return []
    out = []
    for k in range(max(len(p) for p in parts)):
        picks = [p[min(k, len(p) - 1)] for p in parts]
        out.append((" ".join(text for text, _ in picks if text), sum(s for _, s in picks) / len(picks)))
    return out
