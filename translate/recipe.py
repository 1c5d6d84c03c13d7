"""Training recipes: which corpora (with weights and caps), dev sets and decontamination sets, from TOML."""

import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from translate.corpus import CorpusSpec, FilterStats, Pairs, clean, eval_keys, mix, print_stats, read_corpus
from translate.corpus import read_parallel
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


def eval_set(prefix: str, data_dir: Path, src_lang: str, tgt_lang: str) -> EvalSet:
    """`eval/NAME` → EvalSet(NAME, data_dir/eval/NAME.src, data_dir/eval/NAME.tgt)."""
    base = data_dir / prefix
    return EvalSet(Path(prefix).name, Path(f"{base}.{src_lang}"), Path(f"{base}.{tgt_lang}"))


def load_recipe(path: Path, data_dir: Path) -> Recipe:
    """Parse a recipe TOML; relative corpus paths are under data_dir."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise UserError(f"cannot read recipe {path}: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"recipe {path}: {err}") from None
    src, tgt = raw.get("src_lang", "hi"), raw.get("tgt_lang", "en")
    corpora = []
    for entry in raw.get("corpus", []):
        entry = {k: tuple(v) if isinstance(v, list) else v for k, v in entry.items()}
        entry.setdefault("name", Path(entry.get("path", "?")).name)
        try:
            corpora.append(CorpusSpec(**entry))
        except TypeError as err:
            raise UserError(f"recipe {path}: corpus {entry['name']}: {err}") from None
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
