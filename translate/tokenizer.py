"""A thin SentencePiece wrapper: one model per language, special ids set explicitly."""

import io
from collections.abc import Iterable
from pathlib import Path

import sentencepiece as spm

from translate.config import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from translate.errors import UserError
from translate.textio import read_regular

MAX_MODEL_BYTES = 64 * 2**20  # a SentencePiece model of 8,000 pieces takes about 400 KB


class Tokenizer:
    """Text ↔ piece ids for one language. Ids never include BOS/EOS; the model code adds them."""

    def __init__(self, proto: bytes):
        self.sp = spm.SentencePieceProcessor(model_proto=proto)
        self.proto = proto

    @classmethod
    def load(cls, path: Path) -> "Tokenizer":
        """Read a `.model` file; a missing, corrupt or foreign file is a UserError."""
        try:
            return cls(read_regular(path, MAX_MODEL_BYTES))
        except OSError as err:
            raise UserError(f"cannot load tokenizer {path}: {err.strerror or err}") from None
        except RuntimeError:  # SentencePiece could not parse it
            raise UserError(f"cannot load tokenizer {path}: not a SentencePiece model") from None

    @classmethod
    def train(cls, sentences: Iterable[str], vocab_size: int, seed: int = 1) -> "Tokenizer":
        """Train a unigram model on `sentences` (soft vocabulary limit, so tiny corpora work too)."""
        buf = io.BytesIO()
        spm.set_random_generator_seed(seed)
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences), model_writer=buf, vocab_size=vocab_size, model_type="unigram",
            character_coverage=1.0, pad_id=PAD_ID, unk_id=UNK_ID, bos_id=BOS_ID, eos_id=EOS_ID,
            hard_vocab_limit=False, input_sentence_size=1_000_000, shuffle_input_sentence=True,
            max_sentence_length=8192, num_threads=2, minloglevel=2)
        return cls(buf.getvalue())

    def save(self, path: Path) -> None:
        """Write the model proto (callers write into a temp dir or use atomic_write)."""
        Path(path).write_bytes(self.proto)

    def __len__(self) -> int:
        return self.sp.get_piece_size()

    def encode(self, text: str) -> list[int]:
        """Text → piece ids."""
        return self.sp.encode(text)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Many texts → piece ids (SentencePiece's own batched, multi-threaded encoder)."""
        return self.sp.encode(texts)

    def decode(self, ids: list[int]) -> str:
        """Piece ids → text, with unknown pieces dropped rather than shown as ⁇ (and no space left where one was)."""
        return " ".join(self.sp.decode([i for i in ids if i != UNK_ID]).split())

    def pieces(self, ids: list[int]) -> list[str]:
        """Piece strings for display (e.g. attention heatmap labels)."""
        return [self.sp.id_to_piece(i) for i in ids]
