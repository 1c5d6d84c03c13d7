"""Streaming line I/O for the CLI: UTF-8 checked line by line, chunked reading, atomic output files.

Lines are split on \\n only (a trailing \\r is dropped), never on the other separators str.splitlines knows, so that
output lines always align with input lines.
"""

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

from translate.errors import UserError

STDIN = "<stdin>"


@dataclass(frozen=True)
class Chunk:
    """Consecutive input lines, the number of the first one (1-based), and how many bytes they took."""

    lines: list[str]
    first: int
    nbytes: int


def decode_line(raw: bytes, name: str, number: int) -> str:
    """One raw line without its line end; invalid UTF-8 is a UserError naming the file and line."""
    try:
        return raw.decode("utf-8").removesuffix("\n").removesuffix("\r")
    except UnicodeDecodeError as err:
        raise UserError(f"{name}: line {number}: invalid UTF-8 (byte {err.start + 1} of the line)") from None


def read_chunks(stream: BinaryIO, name: str, size: int = 2000) -> Iterator[Chunk]:
    """Lines of a binary stream in chunks of `size`, so memory stays flat however long the input is."""
    lines: list[str] = []
    first, nbytes = 1, 0
    try:
        for number, raw in enumerate(stream, start=1):
            lines.append(decode_line(raw, name, number))
            nbytes += len(raw)
            if len(lines) == size:
                yield Chunk(lines, first, nbytes)
                lines, first, nbytes = [], number + 1, 0
    except OSError as err:
        raise UserError(f"cannot read {name}: {err.strerror or err}") from None
    if lines:
        yield Chunk(lines, first, nbytes)


@contextmanager
def open_input(path: Path | None) -> Iterator[tuple[BinaryIO, str, int | None]]:
    """(binary stream, display name, size in bytes or None) for a file, or for stdin when path is None or "-"."""
    if path is None or str(path) == "-":
        yield sys.stdin.buffer, STDIN, None
        return
    try:
        stream = open(path, "rb")  # noqa: SIM115 (closed below; the context manager is this function)
    except OSError as err:
        raise UserError(f"cannot read {path}: {err.strerror or err}") from None
    with stream:
        yield stream, str(path), os.fstat(stream.fileno()).st_size


def check_output(path: Path | None) -> None:
    """Fail early, before any work, when an output file could not be created."""
    if path is None or str(path) == "-":
        return
    parent = Path(path).parent
    if not parent.is_dir():
        raise UserError(f"cannot write {path}: directory {parent} does not exist")
    if Path(path).is_dir():
        raise UserError(f"cannot write {path}: it is a directory")


@contextmanager
def open_output(path: Path | None) -> Iterator[TextIO]:
    """A text stream for stdout, or for a file written atomically: a temp file beside it, renamed at the end.

    On any error (or Ctrl-C) the temp file is deleted, so a partial output file is never left behind and an
    existing file at `path` stays as it was.
    """
    if path is None or str(path) == "-":
        yield utf8_stdout()
        return
    check_output(path)
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise UserError(f"cannot write {path}: {err.strerror or err}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private; give it the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def utf8_stdout() -> TextIO:
    """sys.stdout, switched to UTF-8 with \\n line ends whatever the locale says (translations hold any text)."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(encoding="utf-8", newline="\n")
    return sys.stdout


def one_line(text: str) -> str:
    """Guarantee that a translation cannot break line alignment."""
    return text.replace("\r", " ").replace("\n", " ")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
