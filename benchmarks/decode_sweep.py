"""Choose the search settings on dev sets: BLEU and chrF++ for a grid of (beam, alpha, no-repeat n-gram size).

    python benchmarks/decode_sweep.py -m runs/hi-en --sets everyday-dev iitb-dev --beams 1 5 --alphas 0.6 1.0 \
        --no-repeat 0 3
"""

import argparse
import time
from itertools import product
from pathlib import Path

import torch

from translate.checkpoint import load_model
from translate.config import DecodeConfig
from translate.corpus import read_lines
from translate.evaluate import find_testset, score
from translate.recipe import DEFAULT_DATA_DIR
from translate.translator import Translator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", type=Path, required=True)
    parser.add_argument("--weights", default="model.safetensors")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--sets", nargs="+", default=["everyday-dev", "iitb-dev"])
    parser.add_argument("--beams", nargs="+", type=int, default=[1, 5])
    parser.add_argument("--alphas", nargs="+", type=float, default=[0.6, 1.0])
    parser.add_argument("--no-repeat", nargs="+", type=int, default=[0], help="n-gram sizes to block (0 = off)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    loaded = load_model(args.model, weights=args.weights)
    sets = {name: find_testset(name, args.data_dir, loaded.src_lang, loaded.tgt_lang) for name in args.sets}
    data = {name: (read_lines(s.src), read_lines(s.tgt)) for name, s in sets.items()}
    print(f"{'beam':>4} {'alpha':>5} {'norep':>5} " + " ".join(f"{n + ' BLEU/chrF++':>26}" for n in sets)
          + f" {'mean BLEU':>9} {'s':>6}")
    for beam, alpha, norep in product(args.beams, args.alphas, args.no_repeat):
        if beam == 1 and alpha != args.alphas[0]:
            continue  # alpha does not change greedy output
        translator = Translator(loaded, DecodeConfig(beam=beam, alpha=alpha, no_repeat_ngram=norep, batch_size=64))
        start = time.perf_counter()
        scores = [score(translator.translate(src), [ref]) for src, ref in data.values()]
        cells = " ".join(f"{s.bleu:>15.2f} / {s.chrf:>7.2f}  " for s in scores)
        mean = sum(s.bleu for s in scores) / len(scores)
        print(f"{beam:>4} {alpha:>5} {norep:>5} {cells} {mean:>9.2f} {time.perf_counter() - start:>6.0f}", flush=True)


if __name__ == "__main__":
    main()
