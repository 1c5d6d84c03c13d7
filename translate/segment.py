"""Splitting input that is longer than the model handles (text-level): at sentence ends, then spaces, then pieces.

Nothing is ever dropped: every piece of the source lands in exactly one segment, in order.
"""

import re
from collections.abc import Callable

Encode = Callable[[list[str]], list[list[int]]]

# After a danda, double danda, ?, ! or . followed by a space; a danda ends a sentence even without the space.
_SENTENCE_END = re.compile(r"(?<=[।॥?!.])\s+|(?<=[।॥])(?=\S)")


def split_sentences(text: str) -> list[str]:
    """Sentences of a normalised text; each end mark stays with its sentence."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def split_long(text: str, encode: Encode, limit: int) -> list[list[int]]:
    """Source ids of `text` in segments of at most `limit` pieces: one per sentence, longer sentences cut further."""
    sentences = split_sentences(text)
    out = []
    for sentence, ids in zip(sentences, encode(sentences)):
        out.extend([ids] if len(ids) <= limit else _split_words(sentence, encode, limit))
    return out


def _split_words(sentence: str, encode: Encode, limit: int) -> list[list[int]]:
    """Pack whole words into chunks of about `limit` pieces; a chunk that is still too long is cut by pieces."""
    words = sentence.split()
    chunks, current, size = [], [], 0
    for word, n in zip(words, map(len, encode(words))):
        if current and size + n > limit:
            chunks.append(" ".join(current))
            current, size = [], 0
        current.append(word)
        size += n
    chunks.append(" ".join(current))
    return [ids[i : i + limit] for ids in encode(chunks) for i in range(0, len(ids), limit)]
