"""Training: teacher forcing over token batches, Adam with warmup and cosine decay, early stopping on dev BLEU.

State that a resumed run needs (weights, optimizer, step, RNG, data position, best score) is saved every
`save_every` steps in one atomic file, so a killed run loses at most the steps since the last save and ends at
the same weights as an uninterrupted one.
"""

import io
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import sacrebleu
import torch
import torch.nn.functional as F
from tqdm import tqdm

from translate.batching import Batch, collate, token_batches
from translate.checkpoint import (
    LAST,
    STATE,
    LoadedModel,
    atomic_write,
    load_model,
    load_train_state,
    save_model,
    save_train_state,
    weights_bytes,
)
from translate.config import PAD_ID, DecodeConfig, ModelConfig, TrainConfig
from translate.errors import UserError
from translate.model import Seq2Seq, count_parameters
from translate.recipe import EvalSet, Recipe, build_training_pairs
from translate.tokenizer import Tokenizer
from translate.translator import Translator


@dataclass
class Progress:
    """Mutable counters of a run (saved in the resume file)."""

    step: int = 0
    epoch: int = 0
    batch_index: int = 0  # next batch of the epoch
    best_bleu: float = -1.0
    bad_evals: int = 0


@dataclass(frozen=True)
class Data:
    """Tokenised training pairs and the dev sets as strings."""

    src_ids: list[list[int]]
    tgt_ids: list[list[int]]
    dev: dict[str, tuple[list[str], list[str]]]


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warmup, then cosine decay to min_lr_ratio * lr at max_steps."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def tokenize_pairs(pairs: list[tuple[str, str]], src_tok: Tokenizer, tgt_tok: Tokenizer,
                   max_len: int) -> tuple[list[list[int]], list[list[int]]]:
    """Encode pairs, dropping those with a side longer than max_len pieces."""
    src_ids = src_tok.encode_batch([s for s, _ in pairs])
    tgt_ids = tgt_tok.encode_batch([t for _, t in pairs])
    keep = [i for i in range(len(pairs)) if 0 < len(src_ids[i]) <= max_len and 0 < len(tgt_ids[i]) <= max_len]
    print(f"tokenised pairs: {len(keep)} (dropped {len(pairs) - len(keep)} over {max_len} pieces)", file=sys.stderr)
    return [src_ids[i] for i in keep], [tgt_ids[i] for i in keep]


def read_dev(sets: tuple[EvalSet, ...], max_lines: int) -> dict[str, tuple[list[str], list[str]]]:
    """Dev sets as (sources, references), each cut to max_lines to keep evaluation quick."""
    dev = {}
    for s in sets:
        pairs = s.read()[:max_lines]
        dev[s.name] = ([p[0] for p in pairs], [p[1] for p in pairs])
    return dev


def loss_fn(logits: torch.Tensor, tgt_out: torch.Tensor, smoothing: float) -> torch.Tensor:
    """Summed cross-entropy over real target tokens."""
    return F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), tgt_out.reshape(-1), ignore_index=PAD_ID,
                           label_smoothing=smoothing, reduction="sum")


def sampled_inputs(model: Seq2Seq, batch: Batch, ratio: float) -> torch.Tensor:
    """Scheduled sampling in two passes: replace a share of decoder inputs with the model's own predictions."""
    with torch.no_grad():
        pred = model(batch.src, batch.src_len, batch.tgt_in).argmax(-1)
    swap = torch.rand(batch.tgt_in.shape, device=pred.device) < ratio
    swap[:, 0] = False  # BOS stays
    mixed = batch.tgt_in.clone()
    mixed[:, 1:] = torch.where(swap[:, 1:], pred[:, :-1], batch.tgt_in[:, 1:])
    return mixed.masked_fill(batch.tgt_in == PAD_ID, PAD_ID)


def train_step(model: Seq2Seq, opt: torch.optim.Optimizer, batch: Batch, cfg: TrainConfig, lr: float) -> float:
    """One optimisation step; returns the summed loss."""
    model.train()
    for group in opt.param_groups:
        group["lr"] = lr
    with torch.autocast(batch.src.device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
        tgt_in = sampled_inputs(model, batch, cfg.sampling_ratio) if cfg.sampling_ratio > 0 else batch.tgt_in
        logits = model(batch.src, batch.src_len, tgt_in)
    loss = loss_fn(logits, batch.tgt_out, cfg.label_smoothing)
    opt.zero_grad(set_to_none=True)
    (loss / batch.n_tokens).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_norm)
    opt.step()
    return float(loss.detach())


@torch.no_grad()
def evaluate_dev(loaded: LoadedModel, dev: dict[str, tuple[list[str], list[str]]], bf16: bool) -> dict[str, float]:
    """Greedy-decode every dev set and score it with sacreBLEU; returns BLEU per set and their mean."""
    loaded.model.eval()
    translator = Translator(loaded, DecodeConfig(beam=1, batch_size=64))
    scores = {}
    with torch.autocast(translator.device.type, dtype=torch.bfloat16, enabled=bf16):
        for name, (src, ref) in dev.items():
            scores[name] = round(sacrebleu.corpus_bleu(translator.translate(src), [ref]).score, 2)
    scores["mean"] = round(sum(scores.values()) / max(1, len(scores)), 2)
    return scores


@torch.no_grad()
def dev_loss(loaded: LoadedModel, dev: dict[str, tuple[list[str], list[str]]], bf16: bool) -> float:
    """Teacher-forced cross-entropy per target token over all dev sets (no label smoothing, no dropout)."""
    loaded.model.eval()
    total, tokens = 0.0, 0
    device = next(loaded.model.parameters()).device
    for src, ref in dev.values():
        for start in range(0, len(src), 64):
            src_ids = [ids[: loaded.model.cfg.max_src_len] for ids in loaded.src_tok.encode_batch(src[start : start + 64])]
            batch = collate(src_ids, loaded.tgt_tok.encode_batch(ref[start : start + 64])).to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                logits = loaded.model(batch.src, batch.src_len, batch.tgt_in)
            total, tokens = total + float(loss_fn(logits, batch.tgt_out, 0.0)), tokens + batch.n_tokens
    return round(total / max(1, tokens), 4)


class Trainer:
    """Holds the explicit state of one run and the files it writes into `out`."""

    def __init__(self, out: Path, loaded: LoadedModel, data: Data, cfg: TrainConfig, meta: dict):
        self.out, self.loaded, self.data, self.cfg, self.meta = Path(out), loaded, data, cfg, meta
        self.model = loaded.model
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.progress = Progress()
        self.device = next(self.model.parameters()).device

    def batches(self, epoch: int) -> list[np.ndarray]:
        src_lens = np.array([len(s) for s in self.data.src_ids])
        tgt_lens = np.array([len(t) for t in self.data.tgt_ids])
        return token_batches(src_lens, tgt_lens, self.cfg.batch_tokens, seed=self.cfg.seed * 100_003 + epoch)

    def log(self, record: dict) -> None:
        with open(self.out / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def save(self) -> None:
        """Write last.safetensors and the resume file (weights, optimizer, RNG, position) atomically."""
        if (self.out / "config.json").exists():  # keep the step and dev BLEU that evaluate() wrote for the best
            atomic_write(self.out / LAST, weights_bytes(self.model))
        else:
            save_model(self.out, self.model, self.loaded.src_tok, self.loaded.tgt_tok, self.meta, weights=LAST)
        save_train_state(self.out, {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                                    "progress": asdict(self.progress), "rng": torch.get_rng_state()})

    def restore(self, state: dict) -> None:
        """Continue from a state written by `save` (see checkpoint.load_train_state)."""
        try:
            self.model.load_state_dict(state["model"])
            self.opt.load_state_dict(state["optimizer"])
            self.progress = Progress(**state["progress"])
            torch.set_rng_state(state["rng"])
        except (KeyError, TypeError, ValueError, RuntimeError) as err:  # another run's file, or not ours at all
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UserError(f"cannot resume from {self.out / STATE}: it does not match this run ({first})") from None
        trim_metrics(self.out / "metrics.jsonl", self.progress.step)

    def evaluate(self) -> bool:
        """Score dev sets, keep the best weights; returns True when patience has run out."""
        scores = evaluate_dev(self.loaded, self.data.dev, self.cfg.bf16)
        loss = dev_loss(self.loaded, self.data.dev, self.cfg.bf16)
        p = self.progress
        improved = scores["mean"] > p.best_bleu
        p.best_bleu, p.bad_evals = (scores["mean"], 0) if improved else (p.best_bleu, p.bad_evals + 1)
        if improved:
            save_model(self.out, self.model, self.loaded.src_tok, self.loaded.tgt_tok,
                       {**self.meta, "step": p.step, "dev_bleu": scores})
        self.log({"step": p.step, "dev_bleu": scores, "dev_loss": loss, "best": p.best_bleu})
        tqdm.write(f"step {p.step}: dev loss {loss}, dev BLEU {scores}{' (best)' if improved else ''}", file=sys.stderr)
        return p.bad_evals >= self.cfg.patience

    def run(self) -> None:
        cfg, p = self.cfg, self.progress
        bar = tqdm(total=cfg.max_steps, initial=p.step, desc="train", unit="step", file=sys.stderr, dynamic_ncols=True)
        window_loss, window_tokens, window_start = 0.0, 0, time.time()
        stop, evaluated = p.step >= cfg.max_steps, -1
        while not stop and p.epoch < cfg.max_epochs:
            batches = self.batches(p.epoch)
            while p.batch_index < len(batches) and not stop:
                idx = batches[p.batch_index]
                batch = collate([self.data.src_ids[i] for i in idx], [self.data.tgt_ids[i] for i in idx])
                lr = lr_at(p.step, cfg)
                window_loss += train_step(self.model, self.opt, batch.to(self.device), cfg, lr)
                window_tokens += batch.n_tokens
                p.step, p.batch_index = p.step + 1, p.batch_index + 1
                bar.update(1)
                if p.step % 50 == 0 or p.step == cfg.max_steps:
                    rate = window_tokens / (time.time() - window_start)
                    record = {"step": p.step, "epoch": p.epoch, "loss": window_loss / window_tokens,
                              "tok_per_s": round(rate), "lr": lr}
                    bar.set_postfix(loss=f"{record['loss']:.3f}", tok_s=round(rate), lr=f"{lr:.2e}")
                    self.log(record)
                    window_loss, window_tokens, window_start = 0.0, 0, time.time()
                stop = p.step >= cfg.max_steps
                if p.step % cfg.eval_every == 0 or stop:
                    stop = self.evaluate() or stop
                    evaluated = p.step
                if p.step % cfg.save_every == 0 or stop:
                    self.save()
            if p.batch_index >= len(batches):
                p.epoch, p.batch_index = p.epoch + 1, 0
        bar.close()
        if evaluated != p.step:  # ran out of epochs between evaluations
            self.evaluate()
        self.save()
        plot_curves(self.out)


def trim_metrics(path: Path, step: int) -> None:
    """Drop metric lines written after the step a resumed run continues from."""
    if path.exists():
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if json.loads(ln)["step"] <= step]
        atomic_write(path, "".join(ln + "\n" for ln in lines).encode())


def plot_curves(out: Path) -> None:
    """training_curves.png: training loss and dev BLEU against steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    train = [r for r in records if "loss" in r]
    dev = [r for r in records if "dev_bleu" in r]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot([r["step"] for r in train], [r["loss"] for r in train], label="train (label-smoothed)")
    with_loss = [r for r in dev if "dev_loss" in r]
    ax1.plot([r["step"] for r in with_loss], [r["dev_loss"] for r in with_loss], marker="o", label="dev")
    ax1.set(xlabel="step", ylabel="cross-entropy per target token", title="Loss")
    ax1.legend()
    for name in dev[0]["dev_bleu"] if dev else []:
        ax2.plot([r["step"] for r in dev], [r["dev_bleu"][name] for r in dev], marker="o", label=name)
    ax2.set(xlabel="step", ylabel="BLEU (greedy)", title="Dev BLEU")
    if dev:
        ax2.legend()
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=90)
    plt.close(fig)
    atomic_write(out / "training_curves.png", png.getvalue())


def pick_device(cfg: TrainConfig) -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda")
    torch.set_num_threads(cfg.threads)
    return torch.device("cpu")


def new_model(pairs: list[tuple[str, str]], model_cfg: ModelConfig, cfg: TrainConfig, device: torch.device,
              meta: dict) -> LoadedModel:
    """Tokenizers trained on the pairs, and a freshly initialised model with vocabularies of their sizes."""
    src_tok = Tokenizer.train([s for s, _ in pairs], cfg.vocab_size, cfg.seed)
    tgt_tok = Tokenizer.train([t for _, t in pairs], cfg.vocab_size, cfg.seed)
    model_cfg = ModelConfig(**{**asdict(model_cfg), "src_vocab": len(src_tok), "tgt_vocab": len(tgt_tok)})
    try:
        model = Seq2Seq(model_cfg).to(device)
    except (RuntimeError, OverflowError) as err:  # sizes beyond this machine's memory, or beyond any
        raise UserError(f"cannot build the model: {str(err).strip().splitlines()[0]}") from None
    return LoadedModel(model, src_tok, tgt_tok, meta)


def initial_model(init_from: Path, recipe: Recipe, device: torch.device) -> LoadedModel:
    """Weights and tokenizers of an existing model directory, to continue training it (e.g. fine-tuning)."""
    loaded = load_model(init_from, device=device)
    if (loaded.src_lang, loaded.tgt_lang) != (recipe.src_lang, recipe.tgt_lang):
        raise UserError(f"--init-from {init_from} translates {loaded.src_lang}→{loaded.tgt_lang}, "
                        f"the recipe {recipe.src_lang}→{recipe.tgt_lang}")
    return loaded


def train(recipe: Recipe, out: Path, data_dir: Path, model_cfg: ModelConfig, cfg: TrainConfig,
          resume: bool = False, init_from: Path | None = None) -> None:
    """Build the data, the tokenizers and the model (or reload them with --resume, or start from --init-from)."""
    out = Path(out)
    if resume and init_from is not None:
        raise UserError("--init-from starts a new run from a model; --resume continues a run: use one of them")
    if resume and not (out / STATE).exists():  # fail before reading and filtering the corpora
        raise UserError(f"nothing to resume: {out / STATE} not found")
    if not resume and ((out / STATE).exists() or (out / "config.json").exists()):
        raise UserError(f"{out} already holds a training run or model: pass --resume to continue it, "
                        "or choose another --out")
    if not recipe.dev:
        raise UserError("training needs at least one dev set (for BLEU-based model selection)")
    torch.manual_seed(cfg.seed)
    device = pick_device(cfg)
    if resume:  # a broken or foreign run fails here, before the corpora are read
        loaded, state = load_model(out, weights=LAST, device=device), load_train_state(out)
    elif init_from is not None:
        loaded = initial_model(init_from, recipe, device)
    pairs = build_training_pairs(recipe, data_dir, cfg.seed)
    dev = read_dev(recipe.dev, cfg.dev_max_lines)
    meta = {"src_lang": recipe.src_lang, "tgt_lang": recipe.tgt_lang, "train": asdict(cfg)}
    if not resume and init_from is None:
        loaded = new_model(pairs, model_cfg, cfg, device, meta)
    src_ids, tgt_ids = tokenize_pairs(pairs, loaded.src_tok, loaded.tgt_tok, cfg.max_len)
    if not src_ids:
        raise UserError("no training pair is short enough to train on")
    trainer = Trainer(out, loaded, Data(src_ids, tgt_ids, dev), cfg, meta)
    print(f"model: {count_parameters(loaded.model):,} parameters on {device}", file=sys.stderr)
    if resume:
        trainer.restore(state)
        for tmp in out.glob(".*.tmp"):  # half-written files of a killed run (atomic_write's temp files)
            tmp.unlink(missing_ok=True)
        print(f"resuming at step {trainer.progress.step}", file=sys.stderr)
    else:
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.jsonl").unlink(missing_ok=True)
    trainer.run()
