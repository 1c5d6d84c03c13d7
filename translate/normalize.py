"""Text normalisation shared by training, decontamination and translation (strings in, strings out)."""

import re
import unicodedata

ZWNJ, ZWJ = "\u200c", "\u200d"
# Typographic quotes become plain ones; SentencePiece's word-boundary mark ▁ (U+2581) is a space to it, so it becomes
# one here (else a line of only ▁ would normalise to text that encodes to no pieces).
_QUOTES = str.maketrans({
    "\u2581": " ",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u0060": "'", "\u00b4": "'",
})
_SPACE = re.compile(r"\s+")


def is_devanagari(ch: str) -> bool:
    """True for characters of the Devanagari blocks."""
    return "\u0900" <= ch <= "\u097f" or "\ua8e0" <= ch <= "\ua8ff"


def _keep(ch: str, prev: str) -> bool:
    """Drop control and invisible format characters; keep ZWJ/ZWNJ only right after Devanagari."""
    if ch in (ZWJ, ZWNJ):
        return is_devanagari(prev)
    cat = unicodedata.category(ch)
    if cat in ("Cc", "Cs", "Co", "Cn"):
        return ch in "\t\n\r"  # become spaces below
    return cat != "Cf"


def normalize(text: str) -> str:
    """NFC, one nukta form, no invisible/control characters, plain quotes, single spaces; the danda stays."""
    text = unicodedata.normalize("NFC", text).translate(_QUOTES)
    out, prev = [], ""
    for ch in text:
        if _keep(ch, prev):
            out.append(ch)
            prev = ch
    # NFC again: removing an invisible character can leave a base and its mark adjacent (keeps this idempotent)
    return unicodedata.normalize("NFC", _SPACE.sub(" ", "".join(out)).strip())


def match_key(text: str) -> str:
    """A loose key for decontamination: normalised, nukta and punctuation removed, lower-cased."""
    text = normalize(text).replace("\u093c", "").lower()
    kept = "".join(" " if unicodedata.category(ch)[0] in "PS" else ch for ch in text)
    return _SPACE.sub(" ", kept).strip()


def has_devanagari(text: str) -> bool:
    """True when any character is Devanagari."""
    return any(is_devanagari(ch) for ch in text)
