"""Peak memory of `hien translate` against input length: it should stay flat from 10,000 to 1,000,000 lines.

Writes a file of Hindi sentences mixed with empty lines, Latin text, emoji and long lines (about 3,000
characters, longer than the model takes in one piece), then runs

    hien translate --threads 1 -m MODEL -i FIRST_N_LINES -o OUT

in a child process for each N and reads the child's own peak RSS from wait4. Without -m a tiny model is trained
first on tests/data (a few seconds). Pin it as you would the command itself, e.g.

    taskset -c 1 nice -n 15 python benchmarks/translate_memory.py [-m MODEL] [--lines 10000 100000 1000000]
"""

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
TINY = ["--emb-dim", "32", "--enc-hidden", "32", "--enc-layers", "2", "--dec-hidden", "64", "--out-dim", "32",
        "--dropout", "0", "--vocab-size", "120", "--batch-tokens", "400", "--lr", "0.01", "--warmup-steps", "10",
        "--max-steps", "150", "--eval-every", "150", "--save-every", "150", "--label-smoothing", "0"]


def hien(*args: str) -> list[str]:
    return [sys.executable, "-m", "translate", *args]


def train_tiny(out: Path) -> Path:
    """The tests' tiny model (20 sentence pairs), trained into `out`."""
    subprocess.run(hien("train", "--src", str(DATA / "tiny.hi"), "--tgt", str(DATA / "tiny.en"), "--dev-src",
                        str(DATA / "dev.hi"), "--dev-tgt", str(DATA / "dev.en"), "--out", str(out), "--threads", "1",
                        *TINY), check=True, stderr=subprocess.DEVNULL)
    return out


def input_lines() -> itertools.cycle:
    """An endless mix: mostly sentences, every 10th line empty, some odd ones, every 1,000th about 3,000 chars."""
    sentences = [s for name in ("tiny.hi", "dev.hi") for s in (DATA / name).read_text(encoding="utf-8").splitlines()]
    odd = ["Plain Latin text, nothing to translate.", "🙂👍🏽 मैं ठीक हूँ 😀", "   ", "a\tb\x0bc\u2028d"]
    block = []
    for i in range(1000):
        if i == 999:
            block.append(" ".join(itertools.islice(itertools.cycle(sentences), 100))[:3000])
        elif i % 10 == 9:
            block.append("")
        elif i % 50 == 7:
            block.append(odd[i % len(odd)])
        else:
            block.append(sentences[i % len(sentences)])
    return itertools.cycle(block)


def write_input(path: Path, n: int) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(line + "\n" for line in itertools.islice(input_lines(), n))


def measure(model: Path, src: Path, dst: Path, beam: int | None) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of one `hien translate` run; checks that every line came out."""
    command = hien("translate", "--threads", "1", "-m", str(model), "-i", str(src), "-o", str(dst),
                   *(["--beam", str(beam)] if beam else []))
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed with exit code {proc.returncode}")
    with open(src, "rb") as a, open(dst, "rb") as b:
        if sum(1 for _ in a) != sum(1 for _ in b):
            raise SystemExit(f"{dst} does not have one line per line of {src}")
    return seconds, usage.ru_maxrss / 1024  # Linux reports kilobytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", type=Path, help="model directory (default: train a tiny one)")
    parser.add_argument("--lines", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--beam", type=int, help="beam size (default: hien's)")
    parser.add_argument("--work", type=Path, help="folder for the input and output files (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hien-memory-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        model = args.model or train_tiny(work / "tiny-model")
        print(f"model {model}, beam {args.beam or 'default'}, 1 thread", flush=True)
        print(f"{'lines':>10} {'input MiB':>10} {'seconds':>9} {'lines/s':>9} {'peak RSS MiB':>13}", flush=True)
        peaks = []
        for n in sorted(args.lines):
            src, dst = work / f"in-{n}.hi", work / f"out-{n}.en"
            write_input(src, n)
            seconds, peak = measure(model, src, dst, args.beam)
            peaks.append(peak)
            print(f"{n:>10,} {src.stat().st_size / 2**20:>10.1f} {seconds:>9.1f} {n / seconds:>9,.0f} {peak:>13.1f}",
                  flush=True)
            src.unlink()
            dst.unlink()
        print(f"peak RSS, largest input against smallest: {peaks[-1] / peaks[0]:.2f}x")


if __name__ == "__main__":
    main()
