"""`hien train` killed with SIGKILL at the awkward moments: every file on disk still loads, and resuming after each
kill ends at exactly the weights of a run that was never interrupted.

test_core_train kills one run between two saves; this one kills the same run five times in a row: right after the
first save, halfway through writing the best model at an evaluation, right after that evaluation, between saves,
and halfway through a later save. The run stops itself at the chosen moment (SIGSTOP) and the test kills it.
"""

import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import torch
from test_core_train import SMALL, assert_same_run, files_args, metrics

from translate import cli
from translate.checkpoint import LAST, STATE, WEIGHTS, load_model, load_train_state

# Runs `hien train ARGS...`, stopping itself when EVENT happens for the COUNT-th time in this process:
# "before:NAME" / "after:NAME" around the rename that completes the atomic write of NAME, or "step" at a train step.
STOPPING_RUN = """
import os, signal, sys
from pathlib import Path
import translate.train

event, count, seen = sys.argv[1], int(sys.argv[2]), 0

def reached(name):
    global seen
    if event == name:
        seen += 1
        if seen == count:
            os.kill(os.getpid(), signal.SIGSTOP)

real_replace, real_step = os.replace, translate.train.train_step

def replace(src, dst):
    reached("before:" + Path(dst).name)
    real_replace(src, dst)
    reached("after:" + Path(dst).name)

def train_step(*args, **kwargs):
    reached("step")
    return real_step(*args, **kwargs)

os.replace, translate.train.train_step = replace, train_step
from translate.cli import main
sys.exit(main(sys.argv[3:]))
"""

# dropout and scheduled sampling draw random numbers, so the RNG state must survive each kill too
ARGS = [*SMALL, "--dropout", "0.1", "--sampling-ratio", "0.2", "--seed", "5", "--max-steps", "80", "--save-every",
        "20", "--eval-every", "25"]


def run_and_kill(out: Path, event: str, count: int, resume: bool) -> None:
    """Start the run, wait until it stops itself at the event, then SIGKILL it from here."""
    command = [sys.executable, "-c", STOPPING_RUN, event, str(count), *files_args(out), *ARGS,
               *(["--resume"] if resume else [])]
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                env={**os.environ, "OMP_NUM_THREADS": "1"})
        guard = threading.Timer(300, proc.kill)
        guard.start()
        try:
            _, status = os.waitpid(proc.pid, os.WUNTRACED)
            stopped = os.WIFSTOPPED(status)
            proc.kill()
            proc.wait()
        finally:
            guard.cancel()
        err.seek(0)
        assert stopped, f"the run ended before {event} #{count}: " + err.read().decode()[-2000:]
    assert proc.returncode == -signal.SIGKILL


def check_everything_loads(out: Path) -> int:
    """Every weights file there loads with the one loader, and so does the resume file; returns its step."""
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "src.model", "tgt.model", LAST, STATE} <= names, names  # config.json is written last
    for weights in (WEIGHTS, LAST):
        if weights in names:
            loaded = load_model(out, weights=weights)
            assert all(torch.isfinite(p).all() for p in loaded.model.parameters())
    return load_train_state(out)["progress"]["step"]


def test_kill_9_at_five_moments_and_resume_to_the_same_weights(tmp_path):
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    kills = [  # (event, count in that process, step of the resume file afterwards, model.safetensors there?)
        ("after:" + STATE, 1, 20, False),  # just after the first save
        ("before:config.json", 1, 20, True),  # step 25's evaluation: best weights written, config.json not yet
        ("after:config.json", 1, 20, True),  # just after that evaluation saved the best model
        ("step", 25, 40, True),  # at step 45, between saves
        ("before:" + LAST, 1, 40, True),  # step 60's save: last.safetensors half written
    ]
    for i, (event, count, step, has_best) in enumerate(kills):
        run_and_kill(killed, event, count, resume=i > 0)
        assert check_everything_loads(killed) == step, event
        assert (killed / WEIGHTS).exists() == has_best, event
    assert list(killed.glob(".last.safetensors.*.tmp"))  # the last kill did interrupt a write

    assert cli.main([*files_args(killed), *ARGS, "--resume"]) == 0
    assert cli.main([*files_args(whole), *ARGS]) == 0

    assert_same_run(killed, whole)
    assert [r["step"] for r in metrics(killed)] == [r["step"] for r in metrics(whole)]
    assert [r for r in metrics(killed) if "dev_bleu" in r] == [r for r in metrics(whole) if "dev_bleu" in r]
    assert sorted(p.name for p in killed.iterdir()) == sorted(p.name for p in whole.iterdir())  # no temp files
