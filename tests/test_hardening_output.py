"""Output safety of `hien translate -o`: places it cannot write, special files, and Ctrl-C at any moment.

Whatever happens, the output path holds either what it held before or the complete translation, never half of
it, and no temp file is left behind.
"""

import io
import itertools
import os
import resource
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from translate import cli, textio

DATA = Path(__file__).parent / "data"
SOURCES = (DATA / "tiny.hi").read_text(encoding="utf-8").splitlines()
REFERENCES = (DATA / "tiny.en").read_text(encoding="utf-8").splitlines()


def hien(args: list[str], monkeypatch, capsys, stdin: bytes = b"") -> tuple[int, str, str]:
    """Run the CLI in-process with `stdin`; returns (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


def translate_args(model: Path, *extra: str) -> list[str]:
    return ["translate", "-m", str(model), "--beam", "1", "--threads", "1", *extra]


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def read_only_dir(tmp_path: Path) -> Path:
    """A directory this process cannot create files in: a chmod 555 one, or for root (whom modes do not stop) /sys,
    where nobody can create files."""
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir(mode=0o555)
        return folder
    return Path("/sys")


def test_places_that_cannot_be_written_are_one_line_errors_and_leave_nothing(tiny_model_dir, tmp_path, monkeypatch,
                                                                            capsys):
    (tmp_path / "notes.txt").write_text("a file, not a directory\n", encoding="utf-8")
    (tmp_path / "folder").mkdir()
    read_only = read_only_dir(tmp_path)
    before = listing(read_only)
    cases = [(tmp_path / "missing" / "dir" / "out.en", "directory {tmp}/missing/dir does not exist"),
             (tmp_path / "notes.txt" / "out.en", "{tmp}/notes.txt is not a directory"),
             (tmp_path / "folder", "it is a directory"),
             (read_only / "hien-out.en", "Permission denied"),
             (Path("/proc/hien-out.en"), "cannot write /proc/hien-out.en")]
    for path, message in cases:
        code, out, err = hien(translate_args(tiny_model_dir, "-o", str(path)), monkeypatch, capsys, b"x\n")
        assert code == 2 and out == "", err
        assert err.splitlines() == [err.strip()] and err.startswith("hien: error: cannot write "), err
        assert message.format(tmp=tmp_path) in err
    assert listing(tmp_path) == ["folder", "notes.txt", *(["read-only"] if read_only.parent == tmp_path else [])]
    assert listing(tmp_path / "folder") == [] and listing(read_only) == before
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "a file, not a directory\n"


def test_a_fifo_is_written_in_place_not_replaced(tiny_model_dir, tmp_path, monkeypatch, capsys):
    # the same path as /dev/null or /dev/stdout: renaming a temp file over it would replace the device itself
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text(encoding="utf-8")), daemon=True)
    reader.start()
    code, _, err = hien(translate_args(tiny_model_dir, "-o", str(fifo)), monkeypatch, capsys,
                        f"{SOURCES[0]}\n\n{SOURCES[1]}\n".encode())
    reader.join(timeout=60)
    assert code == 0, err
    assert received == [f"{REFERENCES[0]}\n\n{REFERENCES[1]}\n"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and listing(tmp_path) == ["pipe"]


def test_a_symlink_is_written_through_and_permissions_are_kept(tiny_model_dir, tmp_path, monkeypatch, capsys):
    target, link = tmp_path / "target.en", tmp_path / "link.en"
    target.write_text("old\n", encoding="utf-8")
    target.chmod(0o600)  # a private file stays private when its content is replaced
    link.symlink_to(target.name)
    code, _, err = hien(translate_args(tiny_model_dir, "-o", str(link)), monkeypatch, capsys, SOURCES[2].encode())
    assert code == 0, err
    assert link.is_symlink() and os.readlink(link) == "target.en"
    assert target.read_text(encoding="utf-8") == REFERENCES[2] + "\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert listing(tmp_path) == ["link.en", "target.en"]


def big_input(path: Path, lines: int) -> list[str]:
    """Write `lines` lines cycling through the corpus and blank lines; returns the expected translations."""
    pairs = list(itertools.islice(itertools.cycle([*zip(SOURCES, REFERENCES), ("", "")]), lines))
    path.write_text("".join(s + "\n" for s, _ in pairs), encoding="utf-8")
    return [t for _, t in pairs]


def start(model: Path, src: Path, dst: Path, **popen) -> subprocess.Popen:
    """`hien translate -i src -o dst` as a subprocess that Ctrl-C (SIGINT) interrupts, even under a shell that
    started this test with SIGINT ignored."""
    command = [sys.executable, "-m", "translate", *translate_args(model, "-i", str(src), "-o", str(dst))]
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **popen)  # noqa: PLW1509


def wait_until(check, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)


def test_ctrl_c_at_any_moment_leaves_the_old_file_or_the_complete_one(tiny_model_dir, tmp_path):
    src, dst = tmp_path / "in.hi", tmp_path / "out.en"
    expected = "".join(line + "\n" for line in big_input(src, 12_000))
    temp = lambda: list(tmp_path.glob(".out.en.*.tmp"))
    moments = {
        "while starting": lambda proc: time.sleep(0.3),
        "before the first chunk is written": lambda proc: wait_until(temp, proc),
        "after some chunks": lambda proc: wait_until(lambda: temp() and temp()[0].stat().st_size > 40_000, proc),
        "as it finishes": lambda proc: wait_until(lambda: dst.read_text(encoding="utf-8") != "previous\n", proc),
    }
    outcomes: dict[str, tuple[int, bool]] = {}
    for name, wait in moments.items():
        dst.write_text("previous\n", encoding="utf-8")
        proc = start(tiny_model_dir, src, dst)
        wait(proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode in (0, 130, -signal.SIGINT), (name, err.decode()[-2000:])
        assert dst.read_text(encoding="utf-8") in ("previous\n", expected), name
        assert listing(tmp_path) == ["in.hi", "out.en"], name  # no temp file left
        if proc.returncode == 130:
            assert err.decode().splitlines()[-1] == "hien: interrupted" and b"Traceback" not in err
        outcomes[name] = (proc.returncode, dst.read_text(encoding="utf-8") == expected)
    # the middle moments really interrupted a translation in progress
    assert outcomes["before the first chunk is written"] == (130, False), outcomes
    assert outcomes["after some chunks"] == (130, False), outcomes


def test_a_write_that_fails_midway_leaves_no_half_written_file(tiny_model_dir, tmp_path):
    # a file size limit makes a later chunk's write fail, as a full disk would
    src, dst = tmp_path / "in.hi", tmp_path / "out.en"
    big_input(src, 10_000)
    dst.write_text("previous\n", encoding="utf-8")

    def small_files():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, 50_000))

    command = [sys.executable, "-m", "translate", *translate_args(tiny_model_dir, "-i", str(src), "-o", str(dst))]
    with tempfile.TemporaryFile() as err:
        proc = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, timeout=120,
                              preexec_fn=small_files, check=False)
        err.seek(0)
        message = err.read().decode()
    assert proc.returncode == 1 and proc.stdout == b""
    assert message.splitlines()[-1].startswith("hien: error: ") and "File too large" in message, message
    assert "Traceback" not in message
    assert dst.read_text(encoding="utf-8") == "previous\n"
    assert listing(tmp_path) == ["in.hi", "out.en"]


def test_output_may_replace_its_own_input_through_a_symlink(tiny_model_dir, tmp_path, monkeypatch, capsys):
    path, alias = tmp_path / "text", tmp_path / "alias"
    path.write_text("".join(s + "\n" for s in SOURCES[:4]), encoding="utf-8")
    alias.symlink_to(path)
    code, _, err = hien(translate_args(tiny_model_dir, "-i", str(path), "-o", str(alias)), monkeypatch, capsys)
    assert code == 0, err
    assert path.read_text(encoding="utf-8").splitlines() == REFERENCES[:4] and alias.is_symlink()


def test_a_line_over_the_limit_is_refused_by_number(tiny_model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(textio, "MAX_LINE_BYTES", 100)
    src, dst = tmp_path / "in.hi", tmp_path / "out.en"
    src.write_bytes(b"a" * 100 + b"\n" + "धन्यवाद।".encode() + b"\n" + b"b" * 101 + b"\n")
    code, out, err = hien(translate_args(tiny_model_dir, "-i", str(src), "-o", str(dst)), monkeypatch, capsys)
    assert code == 2 and out == "" and listing(tmp_path) == ["in.hi"]
    assert err.splitlines()[-1] == f"hien: error: {src}: line 3 is longer than 100 bytes; is it text, one sentence " \
                                   "per line?"
    src.write_bytes(b"a" * 100 + b"\n" + "धन्यवाद।".encode())  # exactly at the limit, and no final newline
    code, _, err = hien(translate_args(tiny_model_dir, "-i", str(src), "-o", str(dst)), monkeypatch, capsys)
    assert code == 0, err
    assert dst.read_text(encoding="utf-8").splitlines()[1] == "Thank you."
