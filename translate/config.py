"""Frozen configuration dataclasses for the model, training and decoding, with TOML/JSON/CLI filling."""

import dataclasses
import math
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from translate.errors import UserError

T = TypeVar("T")

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the network. Encoder hidden size is per direction; the encoder output is 2 * enc_hidden wide."""

    src_vocab: int = 8000
    tgt_vocab: int = 8000
    emb_dim: int = 256
    enc_hidden: int = 256
    enc_layers: int = 2
    dec_hidden: int = 512
    dec_layers: int = 1
    out_dim: int = 256  # attentional hidden state fed to the output projection
    dropout: float = 0.2
    tie_embeddings: bool = True  # output projection shares the target embedding matrix (needs out_dim == emb_dim)
    input_feeding: bool = False  # Bahdanau-style feeding of the last attentional state: loops over time steps
    max_src_len: int = 200  # longest source the model is trained for, in pieces (longer input is split)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and schedule. Batches hold about `batch_tokens` target pieces."""

    vocab_size: int = 8000
    batch_tokens: int = 4096
    max_len: int = 100  # pieces; longer training pairs are dropped
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 400
    max_steps: int = 20000
    max_epochs: int = 100
    clip_norm: float = 1.0
    label_smoothing: float = 0.1
    sampling_ratio: float = 0.0  # scheduled sampling: share of decoder inputs replaced by model predictions
    eval_every: int = 1000
    save_every: int = 250
    patience: int = 8  # evaluations without a dev BLEU gain before stopping
    dev_max_lines: int = 600  # per dev set, to keep greedy dev decoding quick
    seed: int = 1
    threads: int = 2
    bf16: bool = False  # bfloat16 autocast for matmuls (fast on CPUs with AVX512-BF16 and on GPUs)


@dataclass(frozen=True)
class DecodeConfig:
    """Search settings used by the translator."""

    beam: int = 5
    alpha: float = 0.6  # length normalisation exponent
    max_len_a: float = 1.5  # maximum output length = a * source length + b
    max_len_b: int = 10
    no_repeat_ngram: int = 0  # n >= 2: no n-gram may appear twice in an output; 0 is off
    n_best: int = 1
    batch_size: int = 32


def build(cls: type[T], values: dict[str, Any], where: str) -> T:
    """Make a config from a dict, rejecting unknown keys and values of the wrong type with a clear message."""
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise UserError(f"{where}: unknown setting(s) {', '.join(unknown)}")
    clean = {}
    for key, value in values.items():
        want = type(getattr(cls(), key))
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not want:
            raise UserError(f"{where}: {key} must be {want.__name__}, got {value!r}")
        clean[key] = value
    return cls(**clean)


def replace(config: T, **changes: Any) -> T:
    """A copy with the non-None changes applied."""
    return dataclasses.replace(config, **{k: v for k, v in changes.items() if v is not None})


# What a numeric setting must be, where "positive" (an int of at least 1: a size, a count, a step) is not enough
_RANGES = {
    "dropout": (lambda v: 0 <= v < 1, "at least 0 and below 1"),
    "label_smoothing": (lambda v: 0 <= v < 1, "at least 0 and below 1"),
    "min_lr_ratio": (lambda v: 0 <= v <= 1, "between 0 and 1"),
    "sampling_ratio": (lambda v: 0 <= v <= 1, "between 0 and 1"),
    "warmup_steps": (lambda v: v >= 0, "0 or more"),
    "seed": (lambda v: True, "an integer"),
    "alpha": (lambda v: v >= 0, "0 or more"),
    "no_repeat_ngram": (lambda v: v == 0 or v >= 2, "0 (off) or at least 2"),
}
_POSITIVE = (lambda v: v > 0, "positive")


def out_of_range(config: object) -> tuple[str, str] | None:
    """The first numeric setting outside its range as (name, what it must be), or None when all are fine."""
    for f in fields(config):
        value = getattr(config, f.name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        ok, need = _RANGES.get(f.name, _POSITIVE)
        if (isinstance(value, float) and not math.isfinite(value)) or not ok(value):
            return f.name, need
    return None


def build_in_range(cls: type[T], values: dict[str, Any], where: str) -> T:
    """`build`, then the same one-line UserError for a numeric setting outside its range (config files)."""
    config = build(cls, values, where)
    bad = out_of_range(config)
    if bad:
        raise UserError(f"{where}: {bad[0]} must be {bad[1]}")
    return config
