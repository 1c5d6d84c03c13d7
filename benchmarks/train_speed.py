"""Training throughput of the fused teacher-forced decoder against the input-feeding loop, side by side.

Measures target tokens per second for full training steps (forward, label-smoothed loss, backward, Adam) on
random batches of a realistic shape, alternating the variants so machine noise hits them alike.

    python benchmarks/train_speed.py [--threads 2] [--rounds 3]
"""

import argparse
import time

import torch

from translate.batching import Batch
from translate.config import ModelConfig, TrainConfig
from translate.model import Seq2Seq
from translate.train import train_step

VARIANTS = {
    "fused fp32": (ModelConfig(), False),
    "fused bf16": (ModelConfig(), True),
    "input feeding fp32": (ModelConfig(input_feeding=True), False),
    "input feeding bf16": (ModelConfig(input_feeding=True), True),
}


def random_batch(cfg: ModelConfig, batch: int, src_len: int, tgt_len: int) -> Batch:
    src = torch.randint(4, cfg.src_vocab, (batch, src_len))
    tgt = torch.randint(4, cfg.tgt_vocab, (batch, tgt_len + 1))
    return Batch(src, torch.full((batch,), src_len), tgt[:, :-1], tgt[:, 1:])


def tokens_per_second(cfg: ModelConfig, bf16: bool, steps: int, batch: Batch) -> float:
    torch.manual_seed(0)
    model = Seq2Seq(cfg)
    opt = torch.optim.Adam(model.parameters())
    train_cfg = TrainConfig(bf16=bf16)
    train_step(model, opt, batch, train_cfg, 1e-3)  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        train_step(model, opt, batch, train_cfg, 1e-3)
    return steps * batch.n_tokens / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    batch = random_batch(ModelConfig(), batch=200, src_len=24, tgt_len=22)  # ~4,400 target tokens
    results: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(args.rounds):
        for name, (cfg, bf16) in VARIANTS.items():
            results[name].append(tokens_per_second(cfg, bf16, args.steps, batch))
    base = max(results["input feeding fp32"])
    print(f"{'variant':<22}{'best tok/s':>12}{'vs input feeding fp32':>24}")
    for name, rates in results.items():
        print(f"{name:<22}{max(rates):>12,.0f}{max(rates) / base:>23.2f}x")


if __name__ == "__main__":
    main()
