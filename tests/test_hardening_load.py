"""Loading accepts only our format: hostile or broken model directories give one line and exit 2, and run nothing.

Each case breaks one file of a copy of the tiny model and runs `hien translate -m DIR` (in-process, or as a
subprocess where a regression could hang or eat memory); a pickle payload would create a marker directory if
anything ever unpickled it.
"""

import io
import json
import os
import pickle
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
import torch

from translate import cli
from translate.checkpoint import LAST, STATE, WEIGHTS

DATA = Path(__file__).parent / "data"


class Payload:
    """Unpickling this calls os.mkdir(marker): proof that code from the file ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def pickle_bytes(marker: Path) -> bytes:
    return pickle.dumps(Payload(marker))


def torch_bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


@pytest.fixture
def marker(tmp_path) -> Path:
    """Where a payload would leave its mark; the payload is checked to be live, so its absence means something."""
    path = tmp_path / "PWNED"
    pickle.loads(pickle_bytes(path))  # on purpose: the payload works when unpickled
    assert path.is_dir()
    path.rmdir()
    return path


@pytest.fixture
def model(tiny_model_dir, tmp_path) -> Path:
    """A private copy of the tiny model directory (with its training files) to break."""
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


def edit_config(model: Path, change) -> None:
    config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    change(config)
    (model / "config.json").write_text(json.dumps(config), encoding="utf-8")


def check_refused(capsys, argv: list[str], message: str, alone: bool = True) -> None:
    """cli.main gives 2, prints nothing on stdout and one stderr line `hien: error: ...` with `message` (alone: and
    nothing else on stderr; training prints its progress first)."""
    code = cli.main(argv)
    out, err = capsys.readouterr()
    assert code == 2 and out == "", err
    lines = err.splitlines()
    assert lines[-1].startswith("hien: error: ") and message in lines[-1], err
    assert len(lines) == 1 or not alone, err
    assert "Traceback" not in err


def translate_args(model: Path) -> list[str]:
    return ["translate", "-m", str(model), "-i", str(DATA / "dev.hi"), "--beam", "1", "--threads", "1"]


# --- pickles in place of our files ----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "payload", "message"), [
    (WEIGHTS, "pickle", "is not a valid safetensors file"),
    (WEIGHTS, "torch", "is not a valid safetensors file"),
    ("src.model", "pickle", "not a SentencePiece model"),
    ("tgt.model", "torch", "not a SentencePiece model"),
    ("config.json", "pickle", "is not valid JSON"),
])
def test_a_pickle_in_place_of_a_model_file_is_refused_and_never_run(model, marker, capsys, name, payload, message):
    data = pickle_bytes(marker) if payload == "pickle" else torch_bytes({"weights": Payload(marker)})
    (model / name).write_bytes(data)
    check_refused(capsys, translate_args(model), message)
    assert not marker.exists()


def test_a_pickle_in_place_of_the_training_state_is_refused_and_never_run(model, marker, capsys):
    (model / STATE).write_bytes(torch_bytes({"model": Payload(marker), "progress": {}}))
    argv = ["train", "--src", str(DATA / "tiny.hi"), "--tgt", str(DATA / "tiny.en"), "--dev-src",
            str(DATA / "dev.hi"), "--dev-tgt", str(DATA / "dev.en"), "--out", str(model), "--resume", "--threads", "1"]
    check_refused(capsys, argv, "not a training state written by hien")
    assert not marker.exists()
    (model / STATE).write_bytes(torch_bytes({"progress": {"step": 3}}))  # loads safely, but is not a run's state
    check_refused(capsys, argv, "does not match this run", alone=False)


def test_a_fresh_process_never_runs_a_pickled_payload(model, marker):
    for name in (WEIGHTS, "src.model"):
        good = (model / name).read_bytes()
        (model / name).write_bytes(pickle_bytes(marker))
        code, out, err, _ = run_bounded(translate_args(model))
        assert code == 2 and out == ""
        assert len(err.splitlines()) == 1 and err.startswith("hien: error: "), err
        assert not marker.exists()
        (model / name).write_bytes(good)


# --- truncated and inconsistent files -------------------------------------------------------------------------


@pytest.mark.parametrize("keep", [0, 7, 8, 100, 0.5, -1])
def test_a_truncated_safetensors_file_is_refused(model, capsys, keep):
    for name in (WEIGHTS, LAST):
        data = (model / name).read_bytes()
        cut = int(len(data) * keep) if isinstance(keep, float) else keep % len(data)
        (model / name).write_bytes(data[:cut])
    check_refused(capsys, translate_args(model), "is not a valid safetensors file")


@pytest.mark.parametrize(("change", "message"), [
    (lambda c: c["model"].update(enc_hidden=c["model"]["enc_hidden"] + 8), "does not match config.json"),
    (lambda c: c["model"].update(dec_layers=2), "bridge_c.bias expected (128,), found (64,)"),
    (lambda c: c["model"].update(tie_embeddings=False), "out.weight expected"),
    (lambda c: c.update(version=2), "format version 2 is not supported"),
    (lambda c: c.update(version="1"), "format version '1' is not supported"),
    (lambda c: c.pop("version"), "format version None is not supported"),
    (lambda c: c.update(format="pytorch"), "not a hien-rnn model (format 'pytorch')"),
    (lambda c: c.pop("model"), "missing the model section"),
    (lambda c: c["model"].update(heads=8), "unknown setting(s) heads"),
    (lambda c: c["model"].update(emb_dim="32"), "emb_dim must be int, got '32'"),
    (lambda c: c["model"].update(max_src_len=0), "max_src_len must be positive"),
    (lambda c: c["model"].update(dropout=1.5), "dropout must be at least 0 and below 1"),
    (lambda c: c["model"].update(src_vocab=c["model"]["src_vocab"] + 1), "tokenizer sizes"),
])
def test_a_config_that_does_not_match_is_refused(model, capsys, change, message):
    edit_config(model, change)
    check_refused(capsys, translate_args(model), message)


@pytest.mark.parametrize(("text", "message"), [
    ("{", "is not valid JSON"), ("[1, 2]", "not a hien-rnn model"), ("", "is not valid JSON"),
])
def test_a_config_that_is_not_ours_is_refused(model, capsys, text, message):
    (model / "config.json").write_text(text, encoding="utf-8")
    check_refused(capsys, translate_args(model), message)


@pytest.mark.parametrize(("remove", "message"), [
    ("src.model", "cannot load tokenizer"), ("tgt.model", "cannot load tokenizer"),
    ("config.json", "no config.json"), (WEIGHTS, "weights not found"),
])
def test_a_missing_file_is_named(model, capsys, remove, message):
    (model / remove).unlink()
    check_refused(capsys, translate_args(model), f"{message}")
    if remove == WEIGHTS:  # a run that has saved but not yet evaluated: say so
        check_refused(capsys, translate_args(model), "the run has not been evaluated yet")


def test_a_training_directory_without_a_model_and_a_file_are_named(model, tmp_path, capsys):
    only_state = tmp_path / "state-only"
    only_state.mkdir()
    shutil.copy(model / STATE, only_state / STATE)
    check_refused(capsys, translate_args(only_state), "is not a model directory: no config.json")
    check_refused(capsys, translate_args(model / "config.json"), "is not a model directory")
    check_refused(capsys, translate_args(tmp_path / "absent"), "model directory not found")


# --- files that would hang or fill memory, and sizes that would allocate: in a bounded subprocess -------------


def run_bounded(argv: list[str]) -> tuple[int, str, str, int]:
    """`python -m translate ARGV`, killed after 120 s, with 8 GiB of address space: (code, stdout, stderr, peak MiB)."""
    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (8 * 2**30, 8 * 2**30))

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-m", "translate", *argv], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=err, preexec_fn=limit_memory)  # noqa: PLW1509 (no threads yet)
        timer = threading.Timer(120, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return proc.returncode, out.read().decode(), err.read().decode(), usage.ru_maxrss // 1024


@pytest.mark.parametrize(("name", "kind"), [("config.json", "zero"), ("src.model", "zero"), ("tgt.model", "fifo"),
                                            (WEIGHTS, "fifo"), (WEIGHTS, "zero")])
def test_a_device_or_fifo_in_place_of_a_file_is_refused_at_once(model, name, kind):
    (model / name).unlink()
    if kind == "zero":
        (model / name).symlink_to("/dev/zero")  # endless: reading it all would fill memory
    else:
        os.mkfifo(model / name)  # no writer: opening it to read would block for ever
    code, out, err, _ = run_bounded(translate_args(model))
    assert code == 2 and out == "", err
    assert err.splitlines() == [err.strip()] and err.startswith("hien: error: ") and "not a regular file" in err


def test_huge_sizes_in_config_are_refused_before_anything_is_allocated(model):
    # 400,000-wide embeddings would take about 1.3 GB; the shapes are checked against the weights file first
    edit_config(model, lambda c: c["model"].update(emb_dim=400_000, out_dim=400_000))
    code, out, err, peak_mib = run_bounded(translate_args(model))
    assert code == 2 and out == "" and "does not match config.json" in err, err
    assert peak_mib < 900, peak_mib


def test_an_endless_input_line_is_refused_not_swallowed(tiny_model_dir):
    code, out, err, peak_mib = run_bounded(["translate", "-m", str(tiny_model_dir), "-i", "/dev/zero"])
    assert code == 2 and out == "" and peak_mib < 900, (err, peak_mib)
    assert err.splitlines()[-1] == ("hien: error: /dev/zero: line 1 is longer than 1,048,576 bytes; is it text, one "
                                    "sentence per line?")  # after the progress bar
