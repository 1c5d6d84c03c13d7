"""`hien translate` and `hien export`: line alignment, streaming, clean failures, atomic output."""

import io
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from translate import cli
from translate.textio import read_chunks
from translate.translator import Translator

DATA = Path(__file__).parent / "data"
SOURCES = (DATA / "tiny.hi").read_text(encoding="utf-8").splitlines()
REFERENCES = (DATA / "tiny.en").read_text(encoding="utf-8").splitlines()

AWKWARD = [
    SOURCES[0],
    "",
    "   \t  ",
    " ".join(itertools.islice(itertools.cycle(SOURCES), 200))[:5000],
    "Only Latin letters here, nothing to translate.",
    "🙂👍🏽 😀",
    "a\x00b\x01c\x1b[31mred\x1b[0m\x7f",
    "splitlines would break: \x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029 here",
    "windows line end\r",
    SOURCES[1],
]


def hien(args: list[str], monkeypatch, capsys, stdin: bytes = b"") -> tuple[int, str, str]:
    """Run the CLI in-process with `stdin`; returns (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


def check_awkward(out: str) -> None:
    lines = out.split("\n")
    assert lines[-1] == "" and len(lines) - 1 == len(AWKWARD)
    lines.pop()
    assert lines[0] == REFERENCES[0] and lines[-1] == REFERENCES[1]
    assert lines[1] == lines[2] == ""
    assert len(lines[3]) > 500  # the long line is translated in full, not cut at the model's limit


def test_stdin_to_stdout_keeps_one_line_per_input_line(tiny_model_dir, monkeypatch, capsys):
    data = "\n".join(AWKWARD).encode()  # no newline after the last line
    code, out, err = hien(["translate", "-m", str(tiny_model_dir), "--beam", "2"], monkeypatch, capsys, data)
    assert code == 0, err
    check_awkward(out)
    assert "translating" not in err  # no progress bar for stdin


def test_file_to_file_is_the_same_and_stdout_stays_empty(tiny_model_dir, tmp_path, monkeypatch, capsys):
    src, dst = tmp_path / "in.hi", tmp_path / "out.en"
    src.write_bytes(("\n".join(AWKWARD) + "\n").encode())
    code, out, err = hien(["translate", "-m", str(tiny_model_dir), "-i", str(src), "-o", str(dst), "--beam", "2"],
                          monkeypatch, capsys)
    assert code == 0, err
    assert out == ""
    assert "translating" in err  # progress bar on stderr
    check_awkward(dst.read_text(encoding="utf-8"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.hi", "out.en"]


def test_output_may_replace_its_own_input(tiny_model_dir, tmp_path, monkeypatch, capsys):
    path = tmp_path / "text"
    path.write_text("\n".join(SOURCES[:3]) + "\n", encoding="utf-8")
    code, _, err = hien(["translate", "-m", str(tiny_model_dir), "-i", str(path), "-o", str(path)], monkeypatch,
                        capsys)
    assert code == 0, err
    assert path.read_text(encoding="utf-8").splitlines() == REFERENCES[:3]


def test_invalid_utf8_fails_cleanly_and_leaves_no_output(tiny_model_dir, tmp_path, monkeypatch, capsys):
    src, dst = tmp_path / "bad.hi", tmp_path / "out.en"
    src.write_bytes(SOURCES[0].encode() + b"\n\n" + b"ok \xff\xfe broken\n" + SOURCES[1].encode() + b"\n")
    dst.write_text("previous output\n")
    code, out, err = hien(["translate", "-m", str(tiny_model_dir), "-i", str(src), "-o", str(dst)], monkeypatch,
                          capsys)
    assert code == 2
    assert out == ""
    message = err.strip().splitlines()[-1]
    assert message.startswith("hien: error:") and str(src) in message and "line 3" in message
    assert "Traceback" not in err
    assert dst.read_text() == "previous output\n"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.hi", "out.en"]  # no temp file left


def test_invalid_utf8_mid_stream_on_stdin_exits_non_zero_after_earlier_output(tiny_model_dir, monkeypatch, capsys):
    data = ("धन्यवाद।\n" * 2001).encode() + b"\xc3\x28\n"
    args = ["translate", "-m", str(tiny_model_dir), "--beam", "1", "--threads", "1"]
    code, out, err = hien(args, monkeypatch, capsys, data)
    assert code == 2
    assert out.split("\n")[:2000] == ["Thank you."] * 2000  # the first chunk was written before the bad line
    assert err.strip() == "hien: error: <stdin>: line 2002: invalid UTF-8 (byte 1 of the line)"


def test_interrupt_removes_the_partial_output(tiny_model_dir, tmp_path, monkeypatch, capsys):
    src, dst = tmp_path / "in.hi", tmp_path / "out.en"
    src.write_text("धन्यवाद।\n" * 2500, encoding="utf-8")
    calls = []

    def translate_then_interrupt(self, lines, beam=None):
        calls.append(len(lines))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return [""] * len(lines)

    monkeypatch.setattr(Translator, "translate", translate_then_interrupt)
    code, _, err = hien(["translate", "-m", str(tiny_model_dir), "-i", str(src), "-o", str(dst)], monkeypatch,
                        capsys)
    assert code == 130 and "interrupted" in err
    assert calls == [2000, 500]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.hi"]


@pytest.mark.parametrize(("args", "expect"), [
    (["-i", "{tmp}/missing.hi"], "cannot read {tmp}/missing.hi"),
    (["-i", "{tmp}"], "cannot read {tmp}"),
    (["-o", "{tmp}/no/such/dir/out.en"], "directory {tmp}/no/such/dir does not exist"),
    (["--beam", "1", "--n-best", "2"], "--n-best 2 needs --beam of at least 2"),
    (["--device", "tpu"], "--device tpu"),
])
def test_user_mistakes_are_one_line_errors(tiny_model_dir, tmp_path, monkeypatch, capsys, args, expect):
    args = [a.format(tmp=tmp_path) for a in args]
    code, out, err = hien(["translate", "-m", str(tiny_model_dir), *args], monkeypatch, capsys, b"x\n")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and expect.format(tmp=tmp_path) in err


def test_the_shipped_model_is_the_default(tiny_model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "SHIPPED_MODEL", tiny_model_dir)
    assert hien(["translate"], monkeypatch, capsys, SOURCES[2].encode())[:2] == (0, REFERENCES[2] + "\n")
    monkeypatch.setattr(cli, "SHIPPED_MODEL", tmp_path / "hi-en")
    code, _, err = hien(["translate"], monkeypatch, capsys, b"x\n")
    assert code == 2 and "pass -m MODEL_DIR" in err


def test_n_best_writes_one_json_list_per_line(tiny_model_dir, monkeypatch, capsys):
    data = f"{SOURCES[0]}\n\n{SOURCES[5]}\n".encode()
    code, out, err = hien(["translate", "-m", str(tiny_model_dir), "--n-best", "3"], monkeypatch, capsys, data)
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 3 and rows[1] == []
    assert rows[0][0]["text"] == REFERENCES[0] and rows[2][0]["text"] == REFERENCES[5]
    assert all(1 <= len(r) <= 3 and [c["score"] for c in r] == sorted((c["score"] for c in r), reverse=True)
               for r in (rows[0], rows[2]))


def test_reading_streams_in_chunks():
    endless = (f"line {i}\n".encode() for i in itertools.count(1))
    chunks = read_chunks(endless, "<endless>", size=1000)
    first, second = next(chunks), next(chunks)
    assert (first.first, len(first.lines), first.lines[0], first.lines[-1]) == (1, 1000, "line 1", "line 1000")
    assert (second.first, second.lines[0]) == (1001, "line 1001")


def test_subprocess_gives_translations_on_stdout_and_no_traceback(tiny_model_dir):
    command = [sys.executable, "-m", "translate", "translate", "-m", str(tiny_model_dir), "--beam", "1",
               "--threads", "1"]
    env = {**os.environ, "LC_ALL": "C", "PYTHONIOENCODING": ""}
    good = subprocess.run(command, input=f"{SOURCES[3]}\n\n🙂\n".encode(), capture_output=True, env=env, timeout=120,
                          check=False)
    assert good.returncode == 0, good.stderr
    assert good.stdout.decode("utf-8").split("\n")[:2] == [REFERENCES[3], ""]
    assert good.stdout.count(b"\n") == 3
    bad = subprocess.run(command, input=b"\xe0\xa4\n", capture_output=True, env=env, timeout=120,
                          check=False)
    assert bad.returncode == 2 and bad.stdout == b""
    assert bad.stderr.decode() == "hien: error: <stdin>: line 1: invalid UTF-8 (byte 1 of the line)\n"


@pytest.mark.parametrize("fp16", [False, True])
def test_export_round_trip(tiny_model_dir, tmp_path, monkeypatch, capsys, fp16):
    out = tmp_path / "export"
    code, _, err = hien(["export", "-m", str(tiny_model_dir), "-o", str(out), *(["--fp16"] if fp16 else [])],
                        monkeypatch, capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors", "src.model", "tgt.model"]
    dtypes = {str(t.dtype) for t in load_file(out / "model.safetensors").values()}
    assert dtypes == {"torch.float16" if fp16 else "torch.float32"}
    assert Translator.from_dir(out, None).translate(SOURCES, beam=1) == REFERENCES
    code, _, err = hien(["export", "-m", str(out), "-o", str(out)], monkeypatch, capsys)
    assert code == 2 and "different directory" in err


def test_sigterm_removes_the_partial_output(tiny_model_dir, tmp_path):
    src, dst = tmp_path / "in.hi", tmp_path / "out.en"
    src.write_text("धन्यवाद।\n" * 200_000, encoding="utf-8")
    command = [sys.executable, "-m", "translate", "translate", "-m", str(tiny_model_dir), "-i", str(src), "-o",
               str(dst), "--beam", "1", "--threads", "1"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".out.en.*.tmp")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.decode().splitlines()[-1] == "hien: terminated"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.hi"]


def test_export_stores_decoding_defaults_that_flags_override(tiny_model_dir, tmp_path, monkeypatch, capsys):
    out = tmp_path / "export"
    code, _, err = hien(["export", "-m", str(tiny_model_dir), "-o", str(out), "--beam", "3", "--alpha", "1.0",
                         "--no-repeat-ngram", "3"], monkeypatch, capsys)
    assert code == 0, err
    translator = Translator.from_dir(out)
    assert (translator.decode.beam, translator.decode.alpha, translator.decode.no_repeat_ngram) == (3, 1.0, 3)
    code, stdout, err = hien(["translate", "-m", str(out), "--alpha", "0.2", "--no-repeat-ngram", "0", "--threads",
                              "1"], monkeypatch, capsys, stdin="आप कैसे हैं\n".encode())
    assert code == 0, err
    assert stdout == "How are you\n"


def test_a_bad_decoding_default_in_config_json_is_a_one_line_error(tiny_model_dir, tmp_path, monkeypatch, capsys):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    meta = json.loads((model / "config.json").read_text(encoding="utf-8"))
    (model / "config.json").write_text(json.dumps({**meta, "decode": {"no_repeat_ngram": 1}}), encoding="utf-8")
    code, out, err = hien(["translate", "-m", str(model)], monkeypatch, capsys, b"x\n")
    assert code == 2 and out == ""
    assert err.strip() == "hien: error: config.json [decode]: no_repeat_ngram must be 0 (off) or at least 2"


def test_export_averages_weights_files(tiny_model_dir, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_model_dir, run)
    weights = load_file(run / "model.safetensors")
    save_file({k: v + 2 for k, v in weights.items()}, run / "shifted.safetensors")
    out = tmp_path / "export"
    code, _, err = hien(["export", "-m", str(run), "-o", str(out), "--average", "model.safetensors",
                         "shifted.safetensors"], monkeypatch, capsys)
    assert code == 0, err
    averaged = load_file(out / "model.safetensors")
    assert all(torch.allclose(averaged[k], v + 1) for k, v in weights.items())
    assert json.loads((out / "config.json").read_text())["averaged"] == ["model.safetensors", "shifted.safetensors"]
    code, _, err = hien(["export", "-m", str(run), "-o", str(tmp_path / "x"), "--average", "missing.safetensors"],
                        monkeypatch, capsys)
    assert code != 0 and "missing.safetensors" in err and "Traceback" not in err
