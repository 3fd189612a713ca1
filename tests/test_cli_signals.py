"""SIGINT and SIGTERM (cli/signals.py, xpnet/_startup.py): sent to `xpnet train` at several
moments (inside the package's import, a quarter and half a second in, in the middle of training)
each ends the process with one line and status 130 or 143, no traceback, and nothing on disk;
the swap of the run directory holds them back until it is done."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cli_helpers import _ONE_THREAD
from helpers import SRC
from xpnet import _startup
from xpnet.cli import signals

LINES = {signal.SIGINT: ("xpnet: interrupted", 130), signal.SIGTERM: ("xpnet: terminated (SIGTERM)", 143)}


def start(out: Path, sigint=signal.SIG_DFL) -> subprocess.Popen:
    """xpnet train in a child whose SIGINT is `sigint` at start (whatever the test runner's is)."""
    env = dict(os.environ, **_ONE_THREAD, PYTHONPATH=str(SRC))
    cmd = [sys.executable, "-m", "xpnet", "train", "--dataset", "digits", "--epochs", "100000", "--quiet"]

    def dispositions():
        signal.signal(signal.SIGINT, sigint)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    return subprocess.Popen(
        [*cmd, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
        preexec_fn=dispositions,
    )


def training(work: Path):
    return lambda: any(p.name.endswith(".xpnet-tmp") for p in work.iterdir())  # from just before training


def wait_for(condition, proc, timeout=60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the moment never came"
        time.sleep(0.001)


def importing_numpy(proc):
    """True once the child maps NumPy's compiled core: xpnet's import is under way (NumPy comes
    in through xpnet.backend, after xpnet._startup, which is the package's first import)."""

    def check():
        try:
            return "_multiarray_umath" in Path(f"/proc/{proc.pid}/maps").read_text()
        except OSError:
            return False

    return check


MOMENTS = ["while importing", "after 0.25 s", "after 0.5 s", "while training"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("moment", MOMENTS)
def test_a_signal_at_any_moment_gives_one_line_its_status_and_leaves_nothing(tmp_path, sig, moment):
    if moment == "while importing" and not Path("/proc/self/maps").exists():
        pytest.skip("needs /proc/PID/maps to see the moment")
    work = tmp_path / "work"
    work.mkdir()
    began = time.monotonic()
    proc = start(work / "run")
    try:
        if moment == "while training":  # the staging directory exists from just before training
            wait_for(training(work), proc)
            time.sleep(0.3)
        else:  # never before xpnet's first line runs (on a loaded machine the interpreter may start slowly)
            if Path("/proc/self/maps").exists():
                wait_for(importing_numpy(proc), proc)
            if moment != "while importing":
                time.sleep(max(0.0, float(moment.split()[1]) - (time.monotonic() - began)))
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    line, status = LINES[sig]
    assert proc.returncode == status, (proc.returncode, err)
    assert err.strip() == line and out == "", err
    assert list(work.iterdir()) == []  # no run directory, staging directory or lock file


def test_a_sigint_ignored_by_whoever_started_xpnet_stays_ignored(tmp_path):
    proc = start(tmp_path / "run", sigint=signal.SIG_IGN)  # as a shell starts a background job
    try:
        wait_for(training(tmp_path), proc)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143 and err.strip() == "xpnet: terminated (SIGTERM)", err
    assert list(tmp_path.iterdir()) == []


def test_signals_wait_for_the_end_of_a_deferred_block():
    with pytest.raises(signals.Interrupted) as caught, signals.handled():
        with signals.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)  # a handler would run here, were the signal not held back
            finished = True
        time.sleep(0.01)  # ...it runs now
    assert finished and caught.value.signum == signal.SIGTERM and caught.value.status == 143


def test_signals_wait_even_when_another_thread_receives_them():
    started, release = threading.Event(), threading.Event()
    other = threading.Thread(target=lambda: (started.set(), release.wait(10)))  # e.g. a BLAS worker
    other.start()
    started.wait()
    finished = False
    try:
        with pytest.raises(signals.Interrupted) as caught, signals.handled():
            with signals.deferred():
                signal.pthread_kill(other.ident, signal.SIGINT)  # that thread does not block it
                time.sleep(0.05)
                finished = True
    finally:
        release.set()
        other.join()
    assert finished and caught.value.status == 130


def test_a_second_signal_does_not_cut_the_first_ones_cleanup_short():
    cleaned = False
    with pytest.raises(signals.Interrupted) as caught, signals.handled():
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        finally:
            with signals.deferred():  # as the run directory's cleanup
                os.kill(os.getpid(), signal.SIGTERM)  # another signal, during the cleanup
                time.sleep(0.01)
                cleaned = True
    assert cleaned and caught.value.status == 130  # the first one's
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the previous handler is back


def test_a_swallowed_interrupt_does_not_make_the_process_deaf():
    with pytest.raises(signals.Interrupted) as caught, signals.handled():
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        except KeyboardInterrupt:  # a library that catches it and goes on
            pass
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)
    assert caught.value.status == 143


def test_importing_xpnet_as_a_library_changes_no_signal_handler():
    code = "import signal as s, xpnet; print(s.getsignal(2) is s.default_int_handler, s.getsignal(15) == s.SIG_DFL)"
    env = dict(os.environ, PYTHONPATH=str(SRC))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert r.stdout.split() == ["True", "True"], (r.stdout, r.stderr)


COMMAND_LINES = {
    ("python", "-m", "xpnet", "train"): True,
    ("python", "-X", "importtime", "-m", "xpnet"): True,
    ("python", "-mxpnet", "train"): True,
    ("/venv/bin/python", "/venv/bin/xpnet", "train"): True,
    ("python", "-m", "pytest", "tests"): False,
    ("python", "-m", "xpnet.trask"): False,
    ("python", "-c", "import xpnet"): False,
    ("python", "script.py", "-m", "xpnet"): False,
    ("python",): False,
}


@pytest.mark.parametrize("argv", list(COMMAND_LINES), ids=[" ".join(a) for a in COMMAND_LINES])
def test_only_the_xpnet_command_takes_the_start_up_handlers(monkeypatch, argv):
    monkeypatch.setattr(sys, "orig_argv", list(argv), raising=False)
    assert _startup.is_the_command() is COMMAND_LINES[argv]
