"""File I/O: UTF-8 checked line by line, chunked reading, atomic output files, bounded reads of small files.

Lines are split on \\n only (a trailing \\r is dropped), never on the other separators str.splitlines knows, so that
output lines always align with input lines.
"""

import errno
import os
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

from translate.errors import UserError

STDIN = "<stdin>"
MAX_LINE_BYTES = 2**20  # a sentence per line is far shorter; an endless line (/dev/zero, a binary file) is refused


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
    """Lines of a binary stream in chunks of `size`, so memory stays flat however long the input is.

    A line over MAX_LINE_BYTES is a UserError rather than a read without end.
    """
    lines: list[str] = []
    first, nbytes = 1, 0
    try:
        for number, raw in enumerate(_bounded_lines(stream), start=1):
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                raise UserError(f"{name}: line {number} is longer than {MAX_LINE_BYTES:,} bytes; is it text, one "
                                "sentence per line?")
            lines.append(decode_line(raw, name, number))
            nbytes += len(raw)
            if len(lines) == size:
                yield Chunk(lines, first, nbytes)
                lines, first, nbytes = [], number + 1, 0
    except OSError as err:
        raise UserError(f"cannot read {name}: {err.strerror or err}") from None
    if lines:
        yield Chunk(lines, first, nbytes)


def _bounded_lines(stream: BinaryIO | Iterable[bytes]) -> Iterator[bytes]:
    """The stream's lines, each read at most MAX_LINE_BYTES + 1 bytes at a time (any iterable of lines works too)."""
    readline = getattr(stream, "readline", None)
    return iter(lambda: readline(MAX_LINE_BYTES + 1), b"") if readline else iter(stream)


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


def read_regular(path: Path, limit: int) -> bytes:
    """All bytes of a regular file of at most `limit` bytes, else OSError: a FIFO or a device such as /dev/zero in
    its place (say a symlink in a downloaded model) is refused at once instead of blocking or filling memory."""
    with open(path, "rb", opener=lambda name, flags: os.open(name, flags | os.O_NONBLOCK)) as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if info.st_size > limit:
            raise OSError(errno.EFBIG, f"larger than {limit:,} bytes", str(path))
        return f.read(limit)


def check_output(path: Path | None) -> None:
    """Fail early, before any work, when an output file could not be created."""
    if path is None or str(path) == "-":
        return
    parent = Path(path).parent
    if not parent.exists():
        raise UserError(f"cannot write {path}: directory {parent} does not exist")
    if not parent.is_dir():
        raise UserError(f"cannot write {path}: {parent} is not a directory")
    if Path(path).is_dir():
        raise UserError(f"cannot write {path}: it is a directory")


@contextmanager
def open_output(path: Path | None) -> Iterator[TextIO]:
    """A text stream for stdout, or for a file written atomically: a temp file beside it, renamed at the end.

    On any error (or Ctrl-C) the temp file is deleted, so a partial output file is never left behind and an
    existing file at `path` stays as it was (replaced files keep their permissions). A symlink is written through
    to its target; a device or FIFO (/dev/null, /dev/stdout, `>(...)`) is written in place, never replaced.
    """
    if path is None or str(path) == "-":
        yield utf8_stdout()
        return
    check_output(path)
    target = Path(os.path.realpath(path))
    if target.exists() and not target.is_file():
        with _open_special(path) as out:
            yield out
        return
    mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o666 & ~_umask()
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as err:
        raise UserError(f"cannot write {path}: {err.strerror or err}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)  # mkstemp makes the file private
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _open_special(path: Path) -> TextIO:
    """A device or FIFO opened for writing (renaming a temp file over it would replace the device itself)."""
    try:
        return open(path, "w", encoding="utf-8", newline="\n")
    except OSError as err:
        raise UserError(f"cannot write {path}: {err.strerror or err}") from None


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
