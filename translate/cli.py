"""`hien` command line: train, translate, evaluate. User mistakes print one line and exit non-zero."""

import argparse
import sys
from dataclasses import fields
from pathlib import Path

from translate.config import ModelConfig, TrainConfig, build, replace
from translate.errors import UserError
from translate.recipe import DEFAULT_DATA_DIR

SHIPPED_MODEL = Path(__file__).resolve().parent.parent / "checkpoints" / "hi-en"


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
    add_config_flags(p, ModelConfig, skip=("src_vocab", "tgt_vocab"))
    add_config_flags(p, TrainConfig)
    p.set_defaults(func=run_train)


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
    from translate.recipe import load_recipe
    from translate.train import train

    recipe = load_recipe(args.recipe, args.data_dir) if args.recipe else files_recipe(args)
    model_cfg = replace(build(ModelConfig, recipe.model, "recipe [model]"), **flag_values(args, ModelConfig))
    train_cfg = replace(build(TrainConfig, recipe.train, "recipe [train]"), **flag_values(args, TrainConfig))
    if model_cfg.tie_embeddings and model_cfg.out_dim != model_cfg.emb_dim:
        raise UserError(f"--tie-embeddings needs --out-dim equal to --emb-dim ({model_cfg.out_dim} != "
                        f"{model_cfg.emb_dim})")
    for name in ("batch_tokens", "max_steps", "eval_every", "save_every", "vocab_size", "max_len", "threads"):
        if getattr(train_cfg, name) <= 0:
            raise UserError(f"--{name.replace('_', '-')} must be positive")
    train(recipe, args.out, args.data_dir, model_cfg, train_cfg, resume=args.resume)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hien", description="Offline Hindi↔English RNN translation")
    sub = parser.add_subparsers(dest="command", required=True)
    train_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of `hien` and `python -m translate`."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except UserError as err:
        print(f"hien: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hien: interrupted", file=sys.stderr)
        return 130
    return 0
