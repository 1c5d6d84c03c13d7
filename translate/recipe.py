"""Training recipes: which corpora (with weights and caps), dev sets and decontamination sets, from TOML."""

import sys
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, get_origin

from translate.corpus import (
    CorpusSpec,
    FilterStats,
    Pairs,
    clean,
    eval_keys,
    mix,
    print_stats,
    read_corpus,
    read_parallel,
)
from translate.errors import UserError
from translate.normalize import normalize

DEFAULT_DATA_DIR = Path("../shared/corpora")


@dataclass(frozen=True)
class EvalSet:
    """A named pair of line-aligned files."""

    name: str
    src: Path
    tgt: Path

    def read(self) -> Pairs:
        """Normalised pairs (unfiltered: every line of an evaluation set counts)."""
        return [(normalize(s), normalize(t)) for s, t in read_parallel(self.src, self.tgt)]


@dataclass(frozen=True)
class Recipe:
    """Everything that decides the training data, plus optional [model] and [train] settings."""

    src_lang: str
    tgt_lang: str
    corpora: tuple[CorpusSpec, ...]
    dev: tuple[EvalSet, ...]
    decontaminate: tuple[EvalSet, ...] = ()
    model: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)


def reweight(recipe: Recipe, weights: dict[str, float]) -> Recipe:
    """The recipe with some corpora's weights changed (e.g. a second, domain-weighted training stage)."""
    unknown = sorted(set(weights) - {c.name for c in recipe.corpora})
    if unknown:
        raise UserError(f"--weight: no corpus named {unknown[0]} in the recipe "
                        f"(it has {', '.join(c.name for c in recipe.corpora)})")
    return replace(recipe, corpora=tuple(replace(c, weight=weights.get(c.name, c.weight)) for c in recipe.corpora))


def eval_set(prefix: str, data_dir: Path, src_lang: str, tgt_lang: str) -> EvalSet:
    """`eval/NAME` → EvalSet(NAME, data_dir/eval/NAME.src, data_dir/eval/NAME.tgt)."""
    base = data_dir / prefix
    return EvalSet(Path(prefix).name, Path(f"{base}.{src_lang}"), Path(f"{base}.{tgt_lang}"))


def corpus_spec(entry: dict[str, Any], where: str) -> CorpusSpec:
    """A [[corpus]] table → CorpusSpec; unknown keys, wrong types and negative weights or caps are UserErrors."""
    entry = {k: tuple(v) if isinstance(v, list) else v for k, v in entry.items()}
    if not isinstance(entry.get("path"), str):
        raise UserError(f"{where}: every [[corpus]] needs a path")
    entry.setdefault("name", Path(entry["path"]).name)
    where = f"{where}: corpus {entry['name']}"
    types = {f.name: f.type for f in fields(CorpusSpec)}
    for key, value in entry.items():
        if key not in types:
            raise UserError(f"{where}: unknown setting {key}")
        want = get_origin(types[key]) or types[key]
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            entry[key] = value = float(value)
        ok = isinstance(value, want) and not isinstance(value, bool)
        if not ok or (want is tuple and not all(isinstance(v, str) for v in value)):
            raise UserError(f"{where}: {key} must be {'a list of strings' if want is tuple else want.__name__}")
        if key in ("weight", "cap") and value < 0:
            raise UserError(f"{where}: {key} must not be negative")
    return CorpusSpec(**entry)


def load_recipe(path: Path, data_dir: Path) -> Recipe:
    """Parse a recipe TOML; relative corpus paths are under data_dir."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise UserError(f"cannot read recipe {path}: {err.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"recipe {path}: {err}") from None
    src, tgt = raw.get("src_lang", "hi"), raw.get("tgt_lang", "en")
    corpora = [corpus_spec(entry, f"recipe {path}") for entry in raw.get("corpus", [])]
    if not corpora:
        raise UserError(f"recipe {path}: no [[corpus]] entries")
    dev = tuple(eval_set(p, data_dir, src, tgt) for p in raw.get("dev", []))
    decon = tuple(eval_set(p, data_dir, src, tgt) for p in raw.get("decontaminate", []))
    return Recipe(src, tgt, tuple(corpora), dev, decon, raw.get("model", {}), raw.get("train", {}))


def build_training_pairs(recipe: Recipe, data_dir: Path, seed: int) -> Pairs:
    """Read, normalise, filter, dedupe, decontaminate (against dev and decontamination sets) and mix."""
    contamination = eval_keys([s.read() for s in (*recipe.dev, *recipe.decontaminate)])
    seen: set = set()
    table: dict[str, FilterStats] = {}
    mixed: dict[str, int] = {}
    pairs: Pairs = []
    for spec in recipe.corpora:
        stats = table.setdefault(spec.name, FilterStats())
        kept = clean(read_corpus(spec, data_dir, recipe.src_lang, recipe.tgt_lang), stats, seen, contamination,
                     src_is_hindi=recipe.src_lang == "hi")
        weighted = mix(kept, spec, seed)
        mixed[spec.name] = len(weighted)
        pairs.extend(weighted)
    print_stats(table, mixed)
    if not pairs:
        raise UserError("the training corpus is empty after filtering")
    print(f"training pairs: {len(pairs)}", file=sys.stderr)
    return pairs
