"""Shared fixtures: a tiny corpus written for the tests and a tiny model trained on it once per session."""

from pathlib import Path

import pytest
import torch

from translate.config import ModelConfig, TrainConfig
from translate.corpus import CorpusSpec
from translate.recipe import EvalSet, Recipe
from translate.train import train

DATA = Path(__file__).parent / "data"
TINY_MODEL = ModelConfig(emb_dim=32, enc_hidden=32, enc_layers=2, dec_hidden=64, out_dim=32, dropout=0.0)
TINY_TRAIN = TrainConfig(vocab_size=120, batch_tokens=400, lr=1e-2, warmup_steps=10, max_steps=150,
                         eval_every=150, save_every=50, label_smoothing=0.0, threads=1)

torch.set_num_threads(1)


def tiny_recipe(data: Path = DATA) -> Recipe:
    """The 20-pair test corpus, with its first 4 pairs as the dev set."""
    spec = CorpusSpec(name="tiny", path=str(data / "tiny.hi"), tgt_path=str(data / "tiny.en"))
    return Recipe("hi", "en", (spec,), (EvalSet("dev", data / "dev.hi", data / "dev.en"),))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A model directory trained until it reproduces the tiny corpus (shared, read-only for tests)."""
    out = tmp_path_factory.mktemp("tiny-model")
    train(tiny_recipe(), out, DATA, TINY_MODEL, TINY_TRAIN)
    return out
