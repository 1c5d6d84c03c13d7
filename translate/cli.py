"""`hien` command line: train, translate, evaluate. User mistakes print one line and exit non-zero."""

import argparse
import json
import os
import signal
import sys
import threading
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import NoReturn

from translate.config import DecodeConfig, ModelConfig, TrainConfig, build, out_of_range, replace
from translate.errors import UserError
from translate.recipe import DEFAULT_DATA_DIR

SHIPPED_MODEL = Path(__file__).resolve().parent.parent / "checkpoints" / "hi-en"


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in one line, `PROG: error: ...` and a pointer to --help, exit 2."""

    def error(self, message: str, prog: str | None = None) -> NoReturn:
        self.exit(2, f"{self.prog.split()[0]}: error: {message} (see {prog or self.prog} --help)\n")

    def parse_args(self, args=None, namespace=None) -> argparse.Namespace:
        """As argparse's, but an unknown flag points at the help of the subcommand it was given to."""
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            command = getattr(parsed, "command", None)
            self.error(f"unrecognized arguments: {' '.join(extra)}", f"{self.prog} {command}" if command else None)
        return parsed


def add_config_flags(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """One --flag per dataclass field (default None = keep the recipe's or the built-in value)."""
    group = parser.add_argument_group(cls.__name__)
    for f in fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.type in (bool, "bool"):
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None)
        else:
            kind = {"int": int, "float": float}.get(str(f.type), f.type)
            group.add_argument(flag, dest=f.name, type=kind, default=None, metavar=f.name.upper())


def flag_values(args: argparse.Namespace, cls: type) -> dict:
    return {f.name: getattr(args, f.name) for f in fields(cls) if getattr(args, f.name, None) is not None}


def train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model from a recipe or from a pair of files")
    p.add_argument("--recipe", type=Path, help="TOML recipe (corpora, weights, dev sets, settings)")
    p.add_argument("--src", type=Path, help="training source file (one sentence per line)")
    p.add_argument("--tgt", type=Path, help="training target file, line-aligned with --src")
    p.add_argument("--dev-src", type=Path)
    p.add_argument("--dev-tgt", type=Path)
    p.add_argument("--src-lang", default="hi")
    p.add_argument("--tgt-lang", default="en")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                   help=f"where recipe paths point (default {DEFAULT_DATA_DIR})")
    p.add_argument("--out", type=Path, required=True, help="model directory to write")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--init-from", type=Path, help="start from this model directory's weights and tokenizers "
                                                  "(fine-tuning or training on; new optimizer and schedule)")
    p.add_argument("--weight", type=corpus_weight, action="append", default=[], metavar="CORPUS=W",
                   help="override one recipe corpus's weight (repeatable), e.g. --weight iitb-sample=3")
    add_config_flags(p, ModelConfig, skip=("src_vocab", "tgt_vocab"))
    add_config_flags(p, TrainConfig)
    p.set_defaults(func=run_train)


def corpus_weight(text: str) -> tuple[str, float]:
    """argparse type: NAME=W with W ≥ 0."""
    name, _, value = text.partition("=")
    try:
        weight = float(value)
    except ValueError:
        weight = float("nan")
    if not name or not 0 <= weight < float("inf"):
        raise argparse.ArgumentTypeError(f"expected CORPUS=WEIGHT with a weight ≥ 0, got {text!r}")
    return name, weight


def files_recipe(args: argparse.Namespace):
    from translate.corpus import CorpusSpec
    from translate.recipe import EvalSet, Recipe

    missing = [n for n in ("src", "tgt", "dev_src", "dev_tgt") if getattr(args, n) is None]
    if missing:
        raise UserError("give --recipe, or all of --src --tgt --dev-src --dev-tgt (missing: "
                        + ", ".join("--" + m.replace("_", "-") for m in missing) + ")")
    spec = CorpusSpec(name="train", path=str(args.src.resolve()), tgt_path=str(args.tgt.resolve()))
    return Recipe(args.src_lang, args.tgt_lang, (spec,), (EvalSet("dev", args.dev_src, args.dev_tgt),))


def run_train(args: argparse.Namespace) -> None:
    from translate.recipe import load_recipe, reweight
    from translate.train import train

    recipe = load_recipe(args.recipe, args.data_dir) if args.recipe else files_recipe(args)
    if args.weight:
        recipe = reweight(recipe, dict(args.weight))
    model_cfg = replace(build(ModelConfig, recipe.model, "recipe [model]"), **flag_values(args, ModelConfig))
    train_cfg = replace(build(TrainConfig, recipe.train, "recipe [train]"), **flag_values(args, TrainConfig))
    if model_cfg.tie_embeddings and model_cfg.out_dim != model_cfg.emb_dim:
        raise UserError(f"--tie-embeddings needs --out-dim equal to --emb-dim ({model_cfg.out_dim} != "
                        f"{model_cfg.emb_dim})")
    bad = out_of_range(model_cfg) or out_of_range(train_cfg)
    if bad:
        raise UserError(f"--{bad[0].replace('_', '-')} must be {bad[1]}")
    train(recipe, args.out, args.data_dir, model_cfg, train_cfg, resume=args.resume, init_from=args.init_from)


def positive(text: str) -> int:
    """argparse type: an integer ≥ 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def no_repeat(text: str) -> int:
    """argparse type: an n-gram size to block, 0 (off) or at least 2."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value != 0 and value < 2:
        raise argparse.ArgumentTypeError(f"must be 0 (off) or at least 2, got {value}")
    return value


def add_decode_flags(p: argparse.ArgumentParser) -> None:
    """The model and search options shared by translate and evaluate."""
    p.add_argument("-m", "--model", type=Path, default=SHIPPED_MODEL, help="model directory (default: %(default)s)")
    p.add_argument("--beam", type=positive, help=f"beam size; 1 = greedy (default {DecodeConfig.beam})")
    p.add_argument("--alpha", type=float, help="length normalisation exponent (default: the model's, else "
                                               f"{DecodeConfig.alpha})")
    p.add_argument("--no-repeat-ngram", type=no_repeat, metavar="N",
                   help="never repeat an N-gram within a translation; 0 = off (default: the model's, else off)")
    p.add_argument("--batch-size", type=positive, help=f"sentences per batch (default {DecodeConfig.batch_size})")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N, or auto (CUDA when available)")
    p.add_argument("--threads", type=positive, help="CPU threads for PyTorch (default: its own choice; 1 is best "
                                                    "when other work keeps the cores busy)")


def pick_device(name: str):
    """A torch.device from --device: auto means CUDA when available; an unusable device is a UserError."""
    import torch

    try:
        device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name)
    except RuntimeError as err:
        raise UserError(f"--device {name}: {err}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {name}: CUDA is not available")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise UserError(f"--device {name}: there are only {torch.cuda.device_count()} CUDA device(s)")
    return device


def load_translator(args: argparse.Namespace, n_best: int = 1):
    """The Translator the flags describe; with --n-best larger than the default beam, the beam grows to match."""
    from translate.translator import Translator

    if args.beam is not None and args.beam < n_best:
        raise UserError(f"--n-best {n_best} needs --beam of at least {n_best} (got {args.beam})")
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    translator = Translator.from_dir(model_dir(args), device=pick_device(args.device))
    beam = args.beam if args.beam is not None else max(translator.decode.beam, n_best)
    translator.decode = replace(translator.decode, beam=beam, alpha=args.alpha, no_repeat_ngram=args.no_repeat_ngram,
                                batch_size=args.batch_size)
    return translator


def model_dir(args: argparse.Namespace) -> Path:
    """-m, with a hint when the default (the shipped model) is not there."""
    if args.model == SHIPPED_MODEL and not SHIPPED_MODEL.is_dir():
        raise UserError(f"the shipped model {SHIPPED_MODEL} is missing: pass -m MODEL_DIR")
    return args.model


def translate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("translate", help="translate text line by line (stdin to stdout by default)",
                       description="Translate one sentence per line; exactly one output line per input line.")
    add_decode_flags(p)
    p.add_argument("-i", "--input", type=Path, help="input file (default: stdin)")
    p.add_argument("-o", "--output", type=Path, help="output file, written atomically (default: stdout)")
    p.add_argument("--n-best", type=positive, default=1,
                   help="write each line's N best translations as a JSON list of {text, score}, one line per input")
    p.set_defaults(func=run_translate)


def run_translate(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from translate.textio import STDIN, check_output, open_input, open_output, read_chunks

    check_output(args.output)
    with open_input(args.input) as (stream, name, size):
        translator = load_translator(args, args.n_best)
        chunk_lines = 1 if name == STDIN and sys.stdin.isatty() else 2000  # typing at a terminal: answer each line
        with open_output(args.output) as out, tqdm(total=size, unit="B", unit_scale=True, unit_divisor=1024,
                                                   desc="translating", file=sys.stderr, mininterval=1.0,
                                                   disable=size is None) as bar:
            for chunk in read_chunks(stream, name, size=chunk_lines):
                out.write("".join(line + "\n" for line in output_lines(translator, chunk.lines, args.n_best)))
                out.flush()
                bar.update(chunk.nbytes)


def output_lines(translator, lines: list[str], n_best: int) -> list[str]:
    """One output line per input line: the translation, or with n_best > 1 a JSON list of {text, score}."""
    from translate.textio import one_line

    if n_best == 1:
        return [one_line(text) for text in translator.translate(lines)]
    return [json.dumps([{"text": one_line(t), "score": round(s, 4)} for t, s in cands], ensure_ascii=False)
            for cands in translator.nbest(lines, n_best=n_best)]


def evaluate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score translations with sacreBLEU (BLEU and chrF++)",
                       description="Translate --src (or take --hyp) and score it against references; or score the "
                                   "named test sets in DATA_DIR/eval.")
    add_decode_flags(p)
    p.add_argument("--src", type=Path, help="source file to translate")
    p.add_argument("--hyp", type=Path, help="score this existing output instead of translating")
    p.add_argument("--ref", type=Path, action="append", default=[], help="reference file (repeat for several)")
    p.add_argument("--testset", help="a set from DATA_DIR/eval: NAME.hi and NAME.en")
    p.add_argument("--all", action="store_true", help="score every set in DATA_DIR/eval and print one table")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="corpora folder (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=run_evaluate)


def languages(args: argparse.Namespace) -> tuple[str, str]:
    """Source and target language of the model (hi → en when scoring --hyp without a model)."""
    from translate.checkpoint import read_config

    if args.hyp is not None and not (Path(args.model) / "config.json").is_file():
        return "hi", "en"
    meta = read_config(model_dir(args))
    return meta.get("src_lang", "hi"), meta.get("tgt_lang", "en")


def evaluation_jobs(args: argparse.Namespace) -> list[tuple[str | None, Path | None, list[Path]]]:
    """(test set name, source, references) to score, from the flags; inconsistent flags are a UserError."""
    from translate.evaluate import all_testsets, find_testset

    picked = [flag for flag, on in (("--src/--ref", args.src or args.ref), ("--testset", args.testset),
                                    ("--all", args.all)) if on]
    if len(picked) != 1:
        raise UserError("give one of --src/--ref, --testset NAME or --all"
                        + (f" (got {', '.join(picked)})" if picked else ""))
    if args.all and args.hyp:
        raise UserError("--hyp scores one file: use it with --ref or --testset, not --all")
    if args.src and args.hyp:
        raise UserError("give --src (to translate) or --hyp (to score existing output), not both")
    if picked == ["--src/--ref"]:
        if not args.ref or not (args.src or args.hyp):
            raise UserError("give --ref and one of --src or --hyp")
        return [(None, args.src, args.ref)]
    src_lang, tgt_lang = languages(args)
    if args.testset:
        found = find_testset(args.testset, args.data_dir, src_lang, tgt_lang)
        return [(None, found.src, [found.tgt])]
    sets = all_testsets(args.data_dir, src_lang, tgt_lang)
    if not sets:
        raise UserError(f"no test sets with both .{src_lang} and .{tgt_lang} files in {args.data_dir / 'eval'}")
    return [(s.name, s.src, [s.tgt]) for s in sets]


def run_evaluate(args: argparse.Namespace) -> None:
    from translate.evaluate import evaluate_files, format_score, format_table

    jobs = evaluation_jobs(args)
    translate = None if args.hyp else load_translator(args).translate
    scores = [evaluate_files(refs, hyp=args.hyp, src=None if args.hyp else src, translate=translate, name=name)
              for name, src, refs in jobs]
    if args.json:
        print(json.dumps([s.as_dict() for s in scores] if args.all else scores[0].as_dict(), ensure_ascii=False))
    else:
        print(format_table(scores) if args.all else format_score(scores[0]))


def export_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a model directory for shipping (optionally with fp16 weights)")
    p.add_argument("-m", "--model", type=Path, required=True, help="model directory to export")
    p.add_argument("-o", "--out", type=Path, required=True, help="directory to write")
    p.add_argument("--fp16", action="store_true", help="store the weights as float16 (half the size)")
    p.add_argument("--beam", type=positive, help="default beam size stored with the model (chosen on dev sets)")
    p.add_argument("--alpha", type=float, help="default length normalisation stored with the model")
    p.add_argument("--no-repeat-ngram", type=no_repeat, metavar="N", help="default n-gram blocking stored with the "
                   "model (0 = off)")
    p.add_argument("--average", nargs="+", metavar="FILE", help="export the mean of these weights files of -m "
                   "(checkpoint averaging, e.g. model.safetensors last.safetensors)")
    p.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> None:
    import torch

    from translate.checkpoint import STATE, WEIGHTS, load_averaged, load_model, save_model

    if args.out.resolve() == args.model.resolve():
        raise UserError("-o must be a different directory from -m")
    if (args.out / STATE).exists():
        raise UserError(f"{args.out} holds a training run: export into another directory")
    loaded = load_averaged(args.model, args.average) if args.average else load_model(args.model)
    name, dtype = ("float16", torch.float16) if args.fp16 else ("float32", torch.float32)
    meta = {k: v for k, v in loaded.meta.items() if k not in ("format", "version", "model")}
    if args.average:
        meta["averaged"] = args.average
    chosen = (("beam", args.beam), ("alpha", args.alpha), ("no_repeat_ngram", args.no_repeat_ngram))
    decode = {k: v for k, v in chosen if v is not None}
    if decode:
        meta["decode"] = {**meta.get("decode", {}), **decode}
    try:
        save_model(args.out, loaded.model, loaded.src_tok, loaded.tgt_tok, {**meta, "dtype": name}, dtype=dtype)
    except OSError as err:
        raise UserError(f"cannot write {args.out}: {err.strerror or err}") from None
    size = (args.out / WEIGHTS).stat().st_size / 2**20
    print(f"exported {args.model} to {args.out} ({name} weights, {size:.1f} MiB)", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="hien", description="Offline Hindi↔English RNN translation")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train_parser(sub)
    translate_parser(sub)
    evaluate_parser(sub)
    export_parser(sub)
    return parser


class Terminated(BaseException):
    """SIGTERM, turned into an exception so that cleanup (temp files) runs as it does for Ctrl-C."""


@contextmanager
def sigterm_raises():
    """While running a command in the main thread, SIGTERM raises Terminated instead of killing at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `hien` and `python -m translate`."""
    args = build_parser().parse_args(argv)
    try:
        with sigterm_raises():
            args.func(args)
    except Terminated:
        print("hien: terminated", file=sys.stderr)
        return 143
    except UserError as err:
        print(f"hien: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hien: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `hien translate < big.txt | head`: stop quietly, like other filters
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as err:  # the system's part: a full disk, a vanished file
        print(f"hien: error: {err}", file=sys.stderr)
        return 1
    return 0
