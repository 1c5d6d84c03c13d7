"""Parallel corpora: reading (aligned text, TSV, Hugging Face datasets), normalising, filtering, mixing."""

import random
import sys
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from translate.errors import UserError
from translate.normalize import has_devanagari, match_key, normalize

Pairs = list[tuple[str, str]]
FILTERS = ("empty", "script", "too_long", "ratio", "duplicate", "contaminated")


@dataclass(frozen=True)
class CorpusSpec:
    """One training source: aligned files `path.{src,tgt}` ("text"), a TSV, or a datasets id/builder ("hf")."""

    name: str
    path: str
    format: str = "text"
    weight: float = 1.0  # copies of each pair (fractions sample); used to up- or down-weight a domain
    cap: int = 0  # if > 0, keep at most this many pairs (random sample) before weighting
    columns: tuple[str, ...] = ()  # TSV column languages, default (src_lang, tgt_lang)
    split: str = "train"
    data_files: tuple[str, ...] = ()
    subset: str = ""
    tgt_path: str = ""  # with format "text": explicit source and target files instead of a path prefix


@dataclass
class FilterStats:
    """How many pairs a corpus had, and how many each filter dropped."""

    read: int = 0
    dropped: Counter = field(default_factory=Counter)
    kept: int = 0


def read_lines(path: Path) -> list[str]:
    """Lines of a UTF-8 file split on \\n only (str.splitlines would split on U+2028 and shift alignment)."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise UserError(f"cannot read {path}: {err.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise UserError(f"{path}: line {line}: invalid UTF-8") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def read_parallel(src_path: Path, tgt_path: Path) -> Pairs:
    """Two line-aligned files → pairs; a line-count mismatch is an error, never a silent shift."""
    src, tgt = read_lines(src_path), read_lines(tgt_path)
    if len(src) != len(tgt):
        raise UserError(f"misaligned corpus: {src_path} has {len(src)} lines, {tgt_path} has {len(tgt)}")
    return list(zip(src, tgt))


def read_tsv(path: Path, columns: tuple[str, ...], src_lang: str, tgt_lang: str) -> Pairs:
    """Tab-separated pairs; `columns` names the language of each column."""
    if src_lang not in columns or tgt_lang not in columns:
        raise UserError(f"{path}: columns {', '.join(columns)} do not include both {src_lang} and {tgt_lang}")
    i, j = columns.index(src_lang), columns.index(tgt_lang)
    pairs = []
    for n, line in enumerate(read_lines(path), 1):
        cells = line.split("\t")
        if len(cells) != len(columns):
            raise UserError(f"{path}: line {n}: expected {len(columns)} tab-separated columns, got {len(cells)}")
        pairs.append((cells[i], cells[j]))
    return pairs


def read_hf(spec: CorpusSpec, src_lang: str, tgt_lang: str) -> Pairs:
    """A Hugging Face dataset (hub id such as cfilt/iitb-english-hindi, or json/csv/parquet with data_files).

    Rows are either {"translation": {lang: text}} (the hub's translation schema) or flat {lang: text} columns.
    """
    import datasets  # slow import, only needed here

    try:
        ds = datasets.load_dataset(spec.path, spec.subset or None, split=spec.split,
                                   data_files=list(spec.data_files) or None)
    except Exception as err:  # noqa: BLE001 (datasets raises many types for a missing or offline dataset)
        raise UserError(f"cannot load dataset {spec.path}: {str(err).splitlines()[0]}") from None
    if "translation" in ds.column_names:
        try:
            pairs = [(row[src_lang], row[tgt_lang]) for row in ds["translation"]]
        except (KeyError, TypeError):
            raise UserError(f"dataset {spec.path}: translation rows need {src_lang} and {tgt_lang} keys") from None
    else:
        missing = {src_lang, tgt_lang} - set(ds.column_names)
        if missing:
            raise UserError(f"dataset {spec.path} has no column(s) {', '.join(sorted(missing))}")
        pairs = list(zip(ds[src_lang], ds[tgt_lang]))
    return [("" if s is None else str(s), "" if t is None else str(t)) for s, t in pairs]  # missing cells: "empty"


def read_corpus(spec: CorpusSpec, data_dir: Path, src_lang: str, tgt_lang: str) -> Pairs:
    """Read one corpus spec; relative paths are under data_dir."""
    if spec.format == "hf":
        return read_hf(spec, src_lang, tgt_lang)
    base = data_dir / spec.path
    if spec.format == "tsv":
        return read_tsv(base, spec.columns or (src_lang, tgt_lang), src_lang, tgt_lang)
    if spec.format == "text" and spec.tgt_path:
        return read_parallel(base, data_dir / spec.tgt_path)
    if spec.format == "text":
        return read_parallel(Path(f"{base}.{src_lang}"), Path(f"{base}.{tgt_lang}"))
    raise UserError(f"corpus {spec.name}: unknown format {spec.format!r} (text, tsv or hf)")


def eval_keys(sets: list[Pairs]) -> tuple[set[str], set[str]]:
    """Decontamination keys of every source and every target side of the evaluation sets."""
    src_keys = {match_key(s) for pairs in sets for s, _ in pairs}
    tgt_keys = {match_key(t) for pairs in sets for _, t in pairs}
    return src_keys - {""}, tgt_keys - {""}


def reject_reason(src: str, tgt: str, src_is_hindi: bool, max_words: int, max_ratio: float) -> str | None:
    """The first filter a normalised pair fails, or None."""
    if not src or not tgt:
        return "empty"
    hindi, english = (src, tgt) if src_is_hindi else (tgt, src)
    if not has_devanagari(hindi) or has_devanagari(english):
        return "script"
    ns, nt = len(src.split()), len(tgt.split())
    if max(ns, nt) > max_words:
        return "too_long"
    if (max(ns, nt) + 1) / (min(ns, nt) + 1) > max_ratio:
        return "ratio"
    return None


def clean(pairs: Pairs, stats: FilterStats, seen: set, contamination: tuple[set[str], set[str]],
          src_is_hindi: bool, max_words: int = 80, max_ratio: float = 3.0) -> Pairs:
    """Normalise and filter; `seen` carries exact duplicates across corpora (first corpus wins)."""
    src_keys, tgt_keys = contamination
    kept = []
    for raw_src, raw_tgt in pairs:
        src, tgt = normalize(raw_src), normalize(raw_tgt)
        reason = reject_reason(src, tgt, src_is_hindi, max_words, max_ratio)
        if reason is None and (src, tgt) in seen:
            reason = "duplicate"
        if reason is None and (match_key(src) in src_keys or match_key(tgt) in tgt_keys):
            reason = "contaminated"
        if reason:
            stats.dropped[reason] += 1
            continue
        seen.add((src, tgt))
        kept.append((src, tgt))
    stats.read, stats.kept = len(pairs), len(kept)
    return kept


def mix(pairs: Pairs, spec: CorpusSpec, seed: int) -> Pairs:
    """Apply a corpus's cap (random sample) and weight (whole copies plus a random fraction)."""
    rng = random.Random(seed * 1_000_003 + zlib.crc32(spec.name.encode()))
    if spec.cap and len(pairs) > spec.cap:
        pairs = rng.sample(pairs, spec.cap)
    whole, frac = int(spec.weight), spec.weight - int(spec.weight)
    return pairs * whole + rng.sample(pairs, round(frac * len(pairs)))


def print_stats(table: dict[str, FilterStats], mixed: dict[str, int]) -> None:
    """One row per corpus on stderr: read, dropped per filter, kept, and pairs after weighting."""
    head = ["corpus", "read", *FILTERS, "kept", "mixed"]
    rows = [[name, s.read, *(s.dropped[f] for f in FILTERS), s.kept, mixed[name]] for name, s in table.items()]
    total = ["TOTAL", *(sum(r[i] for r in rows) for i in range(1, len(head)))]
    width = max(len(str(r[0])) for r in [head, *rows, total])
    for row in [head, *rows, total]:
        print(f"{row[0]:<{width}} " + " ".join(f"{c:>12}" for c in row[1:]), file=sys.stderr)
