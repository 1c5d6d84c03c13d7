"""Scoring translations with sacreBLEU (BLEU and chrF++ on detokenised text) and the named evaluation sets."""

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sacrebleu.metrics import BLEU, CHRF
from tqdm import tqdm

from translate.corpus import read_lines
from translate.errors import UserError
from translate.recipe import EvalSet, eval_set


@dataclass(frozen=True)
class Score:
    """Corpus BLEU and chrF++ with their sacreBLEU signatures; `detail` is sacreBLEU's one-line BLEU report."""

    bleu: float
    chrf: float
    bleu_signature: str
    chrf_signature: str
    lines: int
    detail: str = ""
    testset: str | None = None

    def as_dict(self) -> dict:
        """The JSON form: bleu, chrf, both signatures and lines (and testset when there is one)."""
        out = {"bleu": self.bleu, "chrf": self.chrf, "bleu_signature": self.bleu_signature,
               "chrf_signature": self.chrf_signature, "lines": self.lines}
        return out if self.testset is None else {"testset": self.testset, **out}


def score(hyps: list[str], refs: list[list[str]], testset: str | None = None) -> Score:
    """sacreBLEU BLEU and chrF++ (CHRF with word_order=2) of hyps against one or more reference streams."""
    bleu, chrf = BLEU(), CHRF(word_order=2)
    b, c = bleu.corpus_score(hyps, refs), chrf.corpus_score(hyps, refs)
    return Score(b.score, c.score, str(bleu.get_signature()), str(chrf.get_signature()), len(hyps), str(b), testset)


def read_aligned(first: Path, others: list[Path]) -> tuple[list[str], list[list[str]]]:
    """Lines of `first` and of each of `others`; any line-count mismatch is a UserError."""
    main = read_lines(first)
    rest = [read_lines(path) for path in others]
    for path, lines in zip(others, rest):
        if len(lines) != len(main):
            raise UserError(f"line-count mismatch: {first} has {len(main)} lines, {path} has {len(lines)}")
    return main, rest


def find_testset(name: str, data_dir: Path, src_lang: str = "hi", tgt_lang: str = "en") -> EvalSet:
    """`data_dir/eval/NAME.src_lang` and `NAME.tgt_lang`; an unknown name lists the sets there are."""
    found = eval_set(f"eval/{name}", Path(data_dir), src_lang, tgt_lang)
    if not (found.src.is_file() and found.tgt.is_file()):
        known = ", ".join(s.name for s in all_testsets(data_dir, src_lang, tgt_lang)) or "none"
        raise UserError(f"no test set {name!r} in {Path(data_dir) / 'eval'} (need {found.src.name} and "
                        f"{found.tgt.name}; available: {known})")
    return found


def all_testsets(data_dir: Path, src_lang: str = "hi", tgt_lang: str = "en") -> list[EvalSet]:
    """Every evaluation set in data_dir/eval that has both languages, by name."""
    folder = Path(data_dir) / "eval"
    if not folder.is_dir():
        raise UserError(f"no evaluation sets: {folder} is not a directory (see --data-dir)")
    names = sorted(p.name.removesuffix(f".{src_lang}") for p in folder.glob(f"*.{src_lang}"))
    sets = [eval_set(f"eval/{n}", Path(data_dir), src_lang, tgt_lang) for n in names]
    return [s for s in sets if s.tgt.is_file()]


def translate_all(translate: Callable[[list[str]], list[str]], lines: list[str], desc: str,
                  chunk: int = 256) -> list[str]:
    """Translate in chunks with a progress bar on stderr (hidden when stderr is not a terminal)."""
    out: list[str] = []
    with tqdm(total=len(lines), desc=desc, unit="line", file=sys.stderr, disable=not sys.stderr.isatty()) as bar:
        for start in range(0, len(lines), chunk):
            out.extend(translate(lines[start : start + chunk]))
            bar.update(min(chunk, len(lines) - start))
    return out


def format_score(s: Score) -> str:
    """The human-readable report of one score."""
    return (f"{s.detail}\nchrF2++ = {s.chrf:.2f}\nBLEU signature: {s.bleu_signature}\n"
            f"chrF++ signature: {s.chrf_signature}")


def format_table(scores: list[Score]) -> str:
    """One row per test set, then the signatures (each distinct one once)."""
    width = max([len("test set")] + [len(s.testset or "") for s in scores])
    rows = [f"{'test set':<{width}}  {'lines':>6}  {'BLEU':>6}  {'chrF++':>6}"]
    rows += [f"{s.testset:<{width}}  {s.lines:>6}  {s.bleu:>6.2f}  {s.chrf:>6.2f}" for s in scores]
    for label, sigs in (("BLEU", [s.bleu_signature for s in scores]), ("chrF++", [s.chrf_signature for s in scores])):
        rows += [f"{label} signature: {sig}" for sig in dict.fromkeys(sigs)]
    return "\n".join(rows)


def evaluate_files(refs: list[Path], *, hyp: Path | None = None, src: Path | None = None,
                   translate: Callable[[list[str]], list[str]] | None = None, name: str | None = None) -> Score:
    """Score the lines of `hyp`, or the translations of `src`, against line-aligned reference files."""
    if (hyp is None) == (src is None) or (src is not None and translate is None):
        raise ValueError("give hyp, or src with translate")
    lines, ref_lines = read_aligned(hyp if hyp is not None else src, refs)
    if src is not None:
        lines = translate_all(translate, lines, desc=name or src.name)
    return score(lines, ref_lines, name)
