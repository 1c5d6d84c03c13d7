"""Tensor-level pieces: batching, the BiGRU→LSTM network (shapes, masks, padding), input feeding, checkpoints."""

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from translate.batching import collate, source_tensor, token_batches
from translate.checkpoint import LAST, WEIGHTS, load_model, save_model
from translate.config import BOS_ID, EOS_ID, PAD_ID, ModelConfig, TrainConfig
from translate.errors import UserError
from translate.model import Seq2Seq, count_parameters
from translate.search import greedy
from translate.train import train_step

CFG = ModelConfig(src_vocab=40, tgt_vocab=50, emb_dim=8, enc_hidden=6, enc_layers=2, dec_hidden=10, dec_layers=2,
                  out_dim=8, dropout=0.0)
SRC_LENS = [5, 2, 1, 4]  # without EOS
TGT_LENS = [3, 6, 1, 2]


def make_model(**changes) -> Seq2Seq:
    torch.manual_seed(0)
    return Seq2Seq(replace(CFG, **changes)).eval()


def make_batch(seed: int = 0):
    """A batch of random ids (all above the special ids) with the lengths above."""
    g = torch.Generator().manual_seed(seed)
    src = [torch.randint(4, CFG.src_vocab, (n,), generator=g).tolist() for n in SRC_LENS]
    tgt = [torch.randint(4, CFG.tgt_vocab, (n,), generator=g).tolist() for n in TGT_LENS]
    return collate(src, tgt)


# --- batching ------------------------------------------------------------------------------------------------


def test_collate_adds_eos_bos_and_padding():
    batch = collate([[5, 6], [7]], [[8], [9, 10, 11]])
    assert batch.src.tolist() == [[5, 6, EOS_ID], [7, EOS_ID, PAD_ID]]
    assert batch.src_len.tolist() == [3, 2]
    assert batch.tgt_in.tolist() == [[BOS_ID, 8, PAD_ID, PAD_ID], [BOS_ID, 9, 10, 11]]
    assert batch.tgt_out.tolist() == [[8, EOS_ID, PAD_ID, PAD_ID], [9, 10, 11, EOS_ID]]
    assert batch.n_tokens == 6
    src, src_len = source_tensor([[4], [4, 5, 6]])
    assert src.shape == (2, 4) and src_len.tolist() == [2, 4]


def test_token_batches_cover_every_pair_once_within_budget():
    rng = np.random.default_rng(0)
    src_lens, tgt_lens = rng.integers(1, 30, 200), rng.integers(1, 30, 200)
    batches = token_batches(src_lens, tgt_lens, batch_tokens=120, seed=7)
    assert sorted(np.concatenate(batches).tolist()) == list(range(200))
    for b in batches:
        longest = max(src_lens[b].max(), tgt_lens[b].max()) + 1
        assert len(b) == 1 or len(b) * longest <= 120
    again = token_batches(src_lens, tgt_lens, batch_tokens=120, seed=7)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))
    other = token_batches(src_lens, tgt_lens, batch_tokens=120, seed=8)
    assert not all(np.array_equal(a, b) for a, b in zip(batches, other))


# --- the network ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("input_feeding", [False, True])
def test_shapes(input_feeding):
    model, batch = make_model(input_feeding=input_feeding), make_batch()
    b, s, t = batch.src.size(0), batch.src.size(1), batch.tgt_in.size(1)
    enc, state = model.encode(batch.src, batch.src_len)
    assert enc.enc_out.shape == (b, s, 2 * CFG.enc_hidden)
    assert enc.keys.shape == (b, s, CFG.dec_hidden)
    assert torch.equal(enc.src_mask, batch.src != PAD_ID)
    assert state.h.shape == state.c.shape == (CFG.dec_layers, b, CFG.dec_hidden)
    assert state.feed.shape == (b, CFG.out_dim)
    assert model(batch.src, batch.src_len, batch.tgt_in).shape == (b, t, CFG.tgt_vocab)
    logits, new_state, attn = model.step(batch.tgt_in[:, 0], state, enc)
    assert logits.shape == (b, CFG.tgt_vocab) and attn.shape == (b, s)
    assert new_state.h.shape == state.h.shape and new_state.feed.shape == state.feed.shape
    expected_input = CFG.emb_dim + (CFG.out_dim if input_feeding else 0)
    assert model.lstm.input_size == expected_input


@pytest.mark.parametrize("input_feeding", [False, True])
def test_attention_gives_padding_zero_weight(input_feeding):
    model, batch = make_model(input_feeding=input_feeding), make_batch()
    enc, state = model.encode(batch.src, batch.src_len)
    pad = batch.src == PAD_ID
    assert pad.any()
    _, attn = model.attend(torch.randn(batch.src.size(0), 3, CFG.dec_hidden) * 10, enc)
    assert torch.all(attn.masked_select(pad.unsqueeze(1).expand_as(attn)) == 0)
    torch.testing.assert_close(attn.sum(-1), torch.ones(attn.shape[:2]))
    for t in range(3):
        _, state, attn = model.step(batch.tgt_in[:, t], state, enc)
        assert torch.all(attn[pad] == 0) and torch.all(attn[~pad] > 0)


def test_packed_batch_equals_each_sentence_unpadded():
    model, batch = make_model(), make_batch()
    enc, state = model.encode(batch.src, batch.src_len)
    logits = model(batch.src, batch.src_len, batch.tgt_in)
    for i, (n, m) in enumerate(zip(batch.src_len.tolist(), TGT_LENS)):
        src_i, tgt_i = batch.src[i : i + 1, :n], batch.tgt_in[i : i + 1, : m + 1]
        enc_i, state_i = model.encode(src_i, batch.src_len[i : i + 1])
        torch.testing.assert_close(enc.enc_out[i, :n], enc_i.enc_out[0])
        torch.testing.assert_close(enc.enc_out[i, n:], torch.zeros_like(enc.enc_out[i, n:]))
        torch.testing.assert_close(state.h[:, i], state_i.h[:, 0])
        torch.testing.assert_close(state.c[:, i], state_i.c[:, 0])
        torch.testing.assert_close(logits[i, : m + 1], model(src_i, batch.src_len[i : i + 1], tgt_i)[0])


@pytest.mark.parametrize("input_feeding", [False, True])
def test_teacher_forcing_equals_step_by_step_decoding(input_feeding):
    model, batch = make_model(input_feeding=input_feeding), make_batch()
    logits = model(batch.src, batch.src_len, batch.tgt_in)
    enc, state = model.encode(batch.src, batch.src_len)
    for t in range(batch.tgt_in.size(1)):
        step_logits, state, _ = model.step(batch.tgt_in[:, t], state, enc)
        torch.testing.assert_close(step_logits, logits[:, t])


def test_state_select_reorders_the_batch():
    model, batch = make_model(input_feeding=True), make_batch()
    enc, state = model.encode(batch.src, batch.src_len)
    index = torch.tensor([2, 0, 0])
    picked, picked_enc = state.select(index), enc.select(index)
    assert torch.equal(picked.h, state.h[:, index]) and torch.equal(picked.c, state.c[:, index])
    assert torch.equal(picked.feed, state.feed[index])
    assert torch.equal(picked_enc.enc_out, enc.enc_out[index]) and torch.equal(picked_enc.src_mask, enc.src_mask[index])
    logits, _, _ = model.step(batch.tgt_in[index, 0], picked, picked_enc)
    full, _, _ = model.step(batch.tgt_in[:, 0], state, enc)
    torch.testing.assert_close(logits, full[index])


def test_tied_embeddings():
    model = make_model()
    assert model.out.weight is model.tgt_embed.weight
    untied = make_model(tie_embeddings=False)
    assert count_parameters(untied) - count_parameters(model) == CFG.tgt_vocab * CFG.out_dim
    with pytest.raises(ValueError, match="tie_embeddings"):
        make_model(out_dim=12)


@pytest.mark.parametrize("input_feeding", [False, True])
def test_training_steps_reduce_the_loss(input_feeding):
    model, batch = make_model(input_feeding=input_feeding), make_batch()
    opt = torch.optim.Adam(model.parameters())
    cfg = TrainConfig(label_smoothing=0.0)
    losses = [train_step(model, opt, batch, cfg, lr=1e-2) / batch.n_tokens for _ in range(40)]
    assert losses[-1] < 0.3 * losses[0]


# --- checkpoints ---------------------------------------------------------------------------------------------


def test_save_load_gives_identical_outputs(tiny_model_dir, tmp_path):
    loaded = load_model(tiny_model_dir)
    save_model(tmp_path, loaded.model, loaded.src_tok, loaded.tgt_tok, loaded.meta)
    again = load_model(tmp_path)
    assert again.meta["model"] == loaded.meta["model"] and again.model.cfg == loaded.model.cfg
    state, state_again = loaded.model.state_dict(), again.model.state_dict()
    assert state.keys() == state_again.keys() and all(torch.equal(state[k], state_again[k]) for k in state)
    assert "out.weight" not in load_file(str(tmp_path / WEIGHTS))  # the tied matrix is stored once
    assert again.model.out.weight is again.model.tgt_embed.weight
    src, src_len = source_tensor(loaded.src_tok.encode_batch(["मैं ठीक हूँ।", "यह मेरा घर है।"]))
    tgt_in = collate([[4]] * 2, [[5, 6, 7]] * 2).tgt_in
    assert torch.equal(loaded.model(src, src_len, tgt_in), again.model(src, src_len, tgt_in))
    hyps, hyps_again = greedy(loaded.model, src, src_len), greedy(again.model, src, src_len)
    assert [h.tokens for h in hyps] == [h.tokens for h in hyps_again]
    assert [loaded.tgt_tok.decode(h.tokens) for h in hyps] == ["I am fine.", "This is my house."]


def test_training_keeps_last_weights_beside_the_best(tiny_model_dir):
    last = load_model(tiny_model_dir, weights=LAST)
    assert last.model.cfg == load_model(tiny_model_dir).model.cfg
    assert not last.model.training


def copy_model(src, dst):
    shutil.copytree(src, dst)
    return dst, json.loads((dst / "config.json").read_text(encoding="utf-8"))


def test_load_model_rejects_another_format_version(tiny_model_dir, tmp_path):
    model_dir, config = copy_model(tiny_model_dir, tmp_path / "m")
    (model_dir / "config.json").write_text(json.dumps({**config, "version": 2}), encoding="utf-8")
    with pytest.raises(UserError, match="format version 2 is not supported"):
        load_model(model_dir)


def test_load_model_rejects_weights_of_the_wrong_shape(tiny_model_dir, tmp_path):
    model_dir, config = copy_model(tiny_model_dir, tmp_path / "m")
    config["model"]["enc_hidden"] += 8
    (model_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(UserError, match="does not match config.json: .* expected .* found"):
        load_model(model_dir)


def test_load_model_rejects_a_missing_directory(tmp_path):
    with pytest.raises(UserError, match="model directory not found"):
        load_model(tmp_path / "nope")
