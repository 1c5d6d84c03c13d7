"""Training: overfitting a tiny corpus, kill-and-resume equality, training options, and CLI errors."""

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from translate import cli
from translate.batching import collate, source_tensor
from translate.checkpoint import LAST, STATE, WEIGHTS, load_model, load_train_state
from translate.config import BOS_ID, PAD_ID, ModelConfig, TrainConfig
from translate.corpus import CorpusSpec
from translate.model import Seq2Seq
from translate.normalize import normalize
from translate.recipe import EvalSet, Recipe
from translate.search import greedy
from translate.train import lr_at, sampled_inputs, train, train_step

DATA = Path(__file__).parent / "data"
SMALL = ["--emb-dim", "16", "--enc-hidden", "16", "--enc-layers", "1", "--dec-hidden", "32", "--out-dim", "16",
         "--vocab-size", "100", "--batch-tokens", "100", "--lr", "0.01", "--warmup-steps", "10", "--threads", "1"]


def files_args(out: Path, data: Path = DATA) -> list[str]:
    return ["train", "--src", str(data / "tiny.hi"), "--tgt", str(data / "tiny.en"), "--dev-src", str(data / "dev.hi"),
            "--dev-tgt", str(data / "dev.en"), "--out", str(out)]


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]


def assert_same_run(resumed: Path, whole: Path) -> None:
    """A resumed run's weights, config and progress equal an uninterrupted run's, bit for bit."""
    for name in (LAST, WEIGHTS):  # bit for bit (the safetensors header's key order may differ between processes)
        got, want = load_file(resumed / name), load_file(whole / name)
        assert got.keys() == want.keys()
        assert all(torch.equal(got[k], want[k]) for k in got), name
    assert json.loads((resumed / "config.json").read_bytes()) == json.loads((whole / "config.json").read_bytes())
    assert load_train_state(resumed)["progress"] == load_train_state(whole)["progress"]


def write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


# --- end to end ----------------------------------------------------------------------------------------------

FOUR = [("मुझे पानी चाहिए।", "I need water."), ("यह मेरा घर है।", "This is my house."),
        ("ट्रेन देर से आई।", "The train came late."), ("क्या आप हिंदी बोलते हैं?", "Do you speak Hindi?")]


def test_four_pairs_overfit_to_exact_translations(tmp_path):
    write(tmp_path / "four.hi", [s for s, _ in FOUR])
    write(tmp_path / "four.en", [t for _, t in FOUR])
    spec = CorpusSpec("four", str(tmp_path / "four.hi"), tgt_path=str(tmp_path / "four.en"))
    recipe = Recipe("hi", "en", (spec,), (EvalSet("dev", DATA / "dev.hi", DATA / "dev.en"),))
    model_cfg = ModelConfig(emb_dim=32, enc_hidden=32, enc_layers=1, dec_hidden=64, out_dim=32, dropout=0.0)
    cfg = TrainConfig(vocab_size=60, batch_tokens=40, lr=1e-2, warmup_steps=5, max_steps=120, eval_every=60,
                      save_every=60, label_smoothing=0.0, threads=1)
    out = tmp_path / "run"
    train(recipe, out, tmp_path, model_cfg, cfg)

    loaded = load_model(out)
    src, src_len = source_tensor(loaded.src_tok.encode_batch([normalize(s) for s, _ in FOUR]))
    hyps = greedy(loaded.model, src, src_len)
    assert [loaded.tgt_tok.decode(h.tokens) for h in hyps] == [t for _, t in FOUR]

    for name in ("config.json", "src.model", "tgt.model", WEIGHTS, LAST, STATE, "metrics.jsonl"):
        assert (out / name).is_file(), name
    assert (out / "training_curves.png").read_bytes().startswith(b"\x89PNG")
    records = metrics(out)
    assert [r["step"] for r in records if "loss" in r] == [50, 100, 120]
    assert [r["step"] for r in records if "dev_bleu" in r] == [60, 120]
    assert all(math.isfinite(r["loss"]) for r in records if "loss" in r)
    dev_losses = [r["dev_loss"] for r in records if "dev_loss" in r]
    assert len(dev_losses) == 2 and all(0 < x < 100 for x in dev_losses)  # held-out sentences: overfitting is fine
    meta = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert meta["step"] in (60, 120) and meta["train"]["max_steps"] == 120 and meta["model"]["enc_layers"] == 1
    assert load_train_state(out)["progress"]["step"] == 120


KILLED_RUN = """
import os, signal, sys
import translate.train
real_step, calls = translate.train.train_step, 0
def train_step(*args, **kwargs):
    global calls
    calls += 1
    if calls == int(sys.argv[1]):
        os.kill(os.getpid(), signal.SIGKILL)
    return real_step(*args, **kwargs)
translate.train.train_step = train_step
from translate.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_killed_and_resumed_run_ends_at_the_same_weights(tmp_path):
    # dropout and scheduled sampling draw random numbers, so the RNG state must survive the kill too
    args = [*SMALL, "--dropout", "0.1", "--sampling-ratio", "0.2", "--seed", "3", "--max-steps", "70",
            "--save-every", "20", "--eval-every", "30"]
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    proc = subprocess.run([sys.executable, "-c", KILLED_RUN, "55", *files_args(killed), *args], check=False,
                          capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert load_train_state(killed)["progress"]["step"] == 40  # steps 41-54 are lost
    assert max(r["step"] for r in metrics(killed)) == 50

    assert cli.main([*files_args(killed), *args, "--resume"]) == 0
    assert cli.main([*files_args(whole), *args]) == 0

    assert_same_run(killed, whole)
    logs = [metrics(killed), metrics(whole)]
    assert [r["step"] for r in logs[0]] == [r["step"] for r in logs[1]]  # the lost step-50 line is not doubled
    assert [r for r in logs[0] if "dev_bleu" in r] == [r for r in logs[1] if "dev_bleu" in r]


def test_bf16_and_scheduled_sampling_run_end_to_end(tmp_path):
    out = tmp_path / "run"
    args = [*files_args(out), *SMALL, "--max-steps", "12", "--eval-every", "12", "--bf16", "--sampling-ratio", "0.5"]
    assert cli.main(args) == 0
    assert load_train_state(out)["progress"]["step"] == 12
    meta = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert meta["train"]["bf16"] is True and meta["train"]["sampling_ratio"] == 0.5
    assert (out / "training_curves.png").is_file()


def test_recipe_settings_and_flags(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr("translate.train.train", lambda recipe, out, data_dir, model_cfg, cfg, resume, init_from: seen.update(
        recipe=recipe, data_dir=data_dir, model=model_cfg, train=cfg, resume=resume))
    (tmp_path / "r.toml").write_text('dev = ["eval/dev"]\n[[corpus]]\npath = "train/x"\n'
                                     "[model]\nemb_dim = 16\nout_dim = 16\n[train]\nmax_steps = 5\nlr = 1\n",
                                     encoding="utf-8")
    argv = ["train", "--recipe", str(tmp_path / "r.toml"), "--data-dir", str(tmp_path), "--out", "o",
            "--max-steps", "7", "--no-tie-embeddings", "--input-feeding"]
    assert cli.main(argv) == 0
    assert seen["model"] == ModelConfig(emb_dim=16, out_dim=16, tie_embeddings=False, input_feeding=True)
    assert (seen["train"].max_steps, seen["train"].lr) == (7, 1.0)
    assert seen["recipe"].dev[0].src == tmp_path / "eval" / "dev.hi" and seen["resume"] is False
    assert cli.main(["train", "--recipe", str(tmp_path / "r.toml"), "--out", "o"]) == 0
    assert seen["data_dir"] == Path("../shared/corpora")  # the default


# --- training pieces -----------------------------------------------------------------------------------------


def test_learning_rate_warms_up_then_decays_to_the_floor():
    cfg = TrainConfig(lr=1.0, warmup_steps=10, max_steps=110, min_lr_ratio=0.1)
    assert lr_at(0, cfg) == pytest.approx(0.1) and lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(60, cfg) == pytest.approx(0.55)
    assert lr_at(110, cfg) == pytest.approx(0.1) and lr_at(500, cfg) == pytest.approx(0.1)


def tiny_batch_and_model(**changes):
    torch.manual_seed(0)
    cfg = ModelConfig(src_vocab=30, tgt_vocab=30, emb_dim=8, enc_hidden=8, enc_layers=1, dec_hidden=16, out_dim=8,
                      dropout=0.1, **changes)
    batch = collate([[5, 6, 7], [8]], [[9, 10], [11, 12, 13, 14]])
    return Seq2Seq(cfg), batch


def test_scheduled_sampling_replaces_inputs_with_predictions():
    model, batch = tiny_batch_and_model()
    assert torch.equal(sampled_inputs(model, batch, 0.0), batch.tgt_in)
    model.eval()  # no dropout, so the predictions below are the ones sampled_inputs sees
    mixed = sampled_inputs(model, batch, 1.0)
    pred = model(batch.src, batch.src_len, batch.tgt_in).argmax(-1)
    real = batch.tgt_in[:, 1:] != PAD_ID
    assert torch.all(mixed[:, 0] == BOS_ID)
    assert torch.all(mixed[batch.tgt_in == PAD_ID] == PAD_ID)
    assert torch.equal(mixed[:, 1:][real], pred[:, :-1][real])


@pytest.mark.parametrize(("bf16", "sampling_ratio", "input_feeding"), [(True, 0.0, False), (False, 0.5, False),
                                                                        (True, 0.5, True)])
def test_train_step_options_run_on_cpu(bf16, sampling_ratio, input_feeding):
    model, batch = tiny_batch_and_model(input_feeding=input_feeding)
    opt = torch.optim.Adam(model.parameters())
    cfg = TrainConfig(bf16=bf16, sampling_ratio=sampling_ratio)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    losses = [train_step(model, opt, batch, cfg, lr=1e-2) for _ in range(3)]
    assert all(math.isfinite(x) and x > 0 for x in losses)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert not torch.equal(before["lstm.weight_hh_l0"], model.state_dict()["lstm.weight_hh_l0"])


# --- user errors ---------------------------------------------------------------------------------------------


def check_one_line_error(capsys, argv: list[str], message: str, alone: bool = True) -> None:
    """main() returns 2 and prints `hien: error: ...` (alone: as the only stderr line), never a traceback."""
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert "Traceback" not in err
    assert lines[-1].startswith("hien: error: ") and message in lines[-1], err
    assert not alone or len(lines) == 1, err


@pytest.mark.parametrize(("extra", "message"), [
    (["--max-steps", "0"], "--max-steps must be positive"),
    (["--batch-tokens", "-5"], "--batch-tokens must be positive"),
    (["--emb-dim", "16", "--out-dim", "12"], "needs --out-dim equal to --emb-dim"),
    (["--enc-layers", "0"], "--enc-layers must be positive"),
    (["--max-src-len", "0"], "--max-src-len must be positive"),
    (["--dropout", "1"], "--dropout must be at least 0 and below 1"),
    (["--lr", "-0.1"], "--lr must be positive"),
    (["--lr", "nan"], "--lr must be positive"),
    (["--label-smoothing", "5"], "--label-smoothing must be at least 0 and below 1"),
    (["--warmup-steps", "-1"], "--warmup-steps must be 0 or more"),
])
def test_bad_options_are_one_line_errors(tmp_path, capsys, extra, message):
    check_one_line_error(capsys, [*files_args(tmp_path / "out"), *extra], message)
    assert not (tmp_path / "out").exists()


def test_missing_misaligned_and_empty_corpora_are_one_line_errors(tmp_path, capsys):
    check_one_line_error(capsys, [*files_args(tmp_path / "o", data=tmp_path)], "cannot read")
    write(tmp_path / "tiny.hi", ["एक", "दो"])
    write(tmp_path / "tiny.en", ["one"])
    (tmp_path / "dev.hi").write_bytes((DATA / "dev.hi").read_bytes())
    (tmp_path / "dev.en").write_bytes((DATA / "dev.en").read_bytes())
    check_one_line_error(capsys, [*files_args(tmp_path / "o", data=tmp_path)], "misaligned corpus")
    write(tmp_path / "tiny.hi", [])
    write(tmp_path / "tiny.en", [])
    check_one_line_error(capsys, [*files_args(tmp_path / "o", data=tmp_path)], "empty after filtering", alone=False)
    write(tmp_path / "dev.en", ["one line too many", "", ""])
    check_one_line_error(capsys, [*files_args(tmp_path / "o", data=tmp_path)], "misaligned corpus")


def test_missing_training_flags_and_bad_recipes_are_one_line_errors(tmp_path, capsys):
    check_one_line_error(capsys, ["train", "--out", str(tmp_path)], "missing: --src, --tgt, --dev-src, --dev-tgt")
    recipe = tmp_path / "r.toml"
    check_one_line_error(capsys, ["train", "--recipe", str(recipe), "--out", str(tmp_path)], "cannot read recipe")
    recipe.write_text('[[corpus]]\npath = "x"\n[train]\nmax_step = 3\n', encoding="utf-8")
    check_one_line_error(capsys, ["train", "--recipe", str(recipe), "--out", str(tmp_path)],
                         "recipe [train]: unknown setting(s) max_step")
    recipe.write_text('[[corpus]]\npath = "x"\n[model]\ndropout = "lots"\n', encoding="utf-8")
    check_one_line_error(capsys, ["train", "--recipe", str(recipe), "--out", str(tmp_path)],
                         "dropout must be float, got 'lots'")


def test_resume_without_a_run_and_reusing_an_output_dir_are_one_line_errors(tmp_path, capsys):
    check_one_line_error(capsys, [*files_args(tmp_path / "none"), "--resume"], "nothing to resume")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / STATE).write_bytes(b"")
    check_one_line_error(capsys, files_args(tmp_path / "run"), "already holds a training run")
    check_one_line_error(capsys, [*files_args(tmp_path / "run"), "--resume"], "config.json", alone=False)
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}", encoding="utf-8")
    check_one_line_error(capsys, files_args(tmp_path / "model"), "already holds a training run or model")


@pytest.mark.parametrize(("argv", "message", "hint"), [
    (["--max-steps", "many"], "argument --max-steps: invalid int value: 'many'", "hien train"),
    (["--bogus", "1"], "unrecognized arguments: --bogus 1", "hien train"),
    (["--weight", "iitb=-1"], "argument --weight: expected CORPUS=WEIGHT with a weight ≥ 0, got 'iitb=-1'",
     "hien train"),
    ([], "the following arguments are required: COMMAND", "hien"),
    (["frob"], "argument COMMAND: invalid choice: 'frob' (choose from ", "hien"),
    (["export", "-m", "x"], "the following arguments are required: -o/--out", "hien export"),
    (["translate", "--beam", "0"], "argument --beam: must be at least 1, got 0", "hien translate"),
    (["evaluate", "--no-repeat-ngram", "1"], "argument --no-repeat-ngram: must be 0 (off) or at least 2, got 1",
     "hien evaluate"),
])
def test_usage_mistakes_are_one_line_errors(tmp_path, capsys, argv, message, hint):
    if argv[:1] in (["--max-steps"], ["--bogus"], ["--weight"]):
        argv = [*files_args(tmp_path), *argv]
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1, err
    assert err.startswith(f"hien: error: {message}") and err.endswith(f" (see {hint} --help)\n"), err


def test_module_entry_point_prints_one_line_and_no_traceback(tmp_path):
    write(tmp_path / "tiny.hi", ["एक", "दो"])
    write(tmp_path / "tiny.en", ["one"])
    for name in ("dev.hi", "dev.en"):
        (tmp_path / name).write_bytes((DATA / name).read_bytes())
    proc = subprocess.run([sys.executable, "-m", "translate", *files_args(tmp_path / "o", data=tmp_path)],
                          check=False, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"hien: error: misaligned corpus: {tmp_path / 'tiny.hi'} has 2 lines, {tmp_path / 'tiny.en'} has 1"]
    assert proc.stdout == ""


def test_init_from_continues_a_model_with_its_tokenizers(tiny_model_dir, tmp_path):
    from conftest import DATA, TINY_TRAIN, tiny_recipe

    out = tmp_path / "more"
    cfg = TrainConfig(**{**TINY_TRAIN.__dict__, "max_steps": 10, "eval_every": 10, "lr": 1e-3})
    train(tiny_recipe(), out, DATA, ModelConfig(emb_dim=999), cfg, init_from=tiny_model_dir)  # sizes come from it
    before, after = load_model(tiny_model_dir), load_model(out)
    assert after.src_tok.proto == before.src_tok.proto and after.tgt_tok.proto == before.tgt_tok.proto
    assert after.model.cfg == before.model.cfg
    src, src_len = source_tensor(after.src_tok.encode_batch(["आप कैसे हैं"]))
    assert after.tgt_tok.decode(greedy(after.model, src, src_len)[0].tokens) == "How are you"
    assert cli.main(["train", "--src", str(DATA / "tiny.hi"), "--tgt", str(DATA / "tiny.en"), "--dev-src",
                     str(DATA / "dev.hi"), "--dev-tgt", str(DATA / "dev.en"), "--out", str(tmp_path / "x"),
                     "--init-from", str(tiny_model_dir), "--resume"]) == 2
