"""The run directory of `xpnet train` (cli/outdir.py, cli/lock.py): swapped in whole (a process
killed at each step of the swap leaves the old or the new directory, whole), one writer at a time,
leftovers of killed runs removed by the next run, the default DIR numbered, and what cannot be
written refused before training."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli_helpers import _ONE_THREAD, assert_refused, run_main
from helpers import SRC
from helpers import run_cli as _run_cli
from xpnet.cli import outdir, signals, train
from xpnet.errors import ConfigError

XOR = ("train", "--dataset", "xor", "--epochs", "2", "--quiet")
RUN_FILES = ["curves.png", "history.csv", "history.json", "model.npz"]


def run_cli(*args, **kwargs):
    return _run_cli(*args, env=_ONE_THREAD, timeout=120, **kwargs)


def write_run(directory: Path, marker: str) -> None:
    for i in range(5):
        (directory / f"part{i}.txt").write_text(marker)


def contents(directory: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in directory.iterdir()}


def whole(marker):
    return {f"part{i}.txt": marker for i in range(5)}


def old_run(tmp_path) -> Path:
    out = tmp_path / "run"
    out.mkdir()
    write_run(out, "old")
    return out


# --- the swap -----------------------------------------------------------------------------------

# A child that claims DIR, writes the new run and dies with SIGKILL at one step of the swap:
# before the exchange, right after it (the old run, under the staging name, not yet removed), or,
# on the fallback path of systems without an exchange, between its two renames.
_CHILD = """
import os, signal, sys
from pathlib import Path
from xpnet.cli import outdir, signals, train
out, where = Path(sys.argv[1]), sys.argv[2]
die = lambda: os.kill(os.getpid(), signal.SIGKILL)
real_exchange, real_rename = outdir._exchange, os.rename
if where == "before exchange":
    outdir._exchange = lambda a, b: die()
elif where == "after exchange":
    outdir._exchange = lambda a, b: real_exchange(a, b) and die()
elif where == "between renames":
    outdir._exchange = lambda a, b: False
    def rename(a, b):
        real_rename(a, b)
        if str(b).endswith(outdir.OLD_SUFFIX):
            die()
    os.rename = rename
with outdir.claim(out, overwrite=True) as d:
    for i in range(5):
        (d.staging / f"part{i}.txt").write_text("new")
    d.commit()
"""


def kill_in_swap(out: Path, where: str) -> None:
    env = dict(os.environ, PYTHONPATH=str(SRC))
    r = subprocess.run([sys.executable, "-c", _CHILD, str(out), where], env=env, capture_output=True, timeout=60)
    assert r.returncode == -signal.SIGKILL, r.stderr


@pytest.mark.skipif(outdir._RENAMEAT2 is None, reason="no renameat2 here: the swap takes two renames")
@pytest.mark.parametrize(("where", "left"), [("before exchange", "old"), ("after exchange", "new")])
def test_killed_in_the_swap_leaves_one_run_whole_and_the_next_run_cleans_up(tmp_path, where, left):
    out = old_run(tmp_path)
    kill_in_swap(out, where)
    assert contents(out) == whole(left)
    assert len(list(tmp_path.iterdir())) > 1  # the killed process's staging directory (and lock file)
    with outdir.claim(tmp_path / "another", overwrite=False):  # a next run in the same parent
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert contents(out) == whole(left)


def test_killed_between_the_fallback_renames_the_next_run_puts_the_old_one_back(tmp_path):
    out = old_run(tmp_path)
    kill_in_swap(out, "between renames")
    assert not out.exists()  # what the exchange avoids; the old run is whole under another name
    with outdir.claim(tmp_path / "another", overwrite=False):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"] and contents(out) == whole("old")


@pytest.mark.skipif(outdir._RENAMEAT2 is None, reason="no renameat2 here: the swap takes two renames")
def test_after_every_step_of_the_swap_the_directory_is_one_run_whole(tmp_path, monkeypatch):
    out = old_run(tmp_path)
    seen = []

    def watched(step):  # each step that changes a name or removes files, then a look at DIR
        def call(*args, **kwargs):
            result = step(*args, **kwargs)
            seen.append(contents(out) if out.is_dir() else None)
            return result

        return call

    monkeypatch.setattr(outdir, "_exchange", watched(outdir._exchange))
    monkeypatch.setattr(os, "rename", watched(os.rename))
    monkeypatch.setattr(outdir.shutil, "rmtree", watched(shutil.rmtree))
    with outdir.claim(out, overwrite=True) as d:
        write_run(d.staging, "new")
        d.commit()
    assert len(seen) >= 2  # the exchange and the removal of the old run
    assert all(s in (whole("old"), whole("new")) for s in seen), seen
    assert seen[-1] == whole("new") and sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_ctrl_c_in_the_middle_of_the_swap_keeps_the_new_run(tmp_path, monkeypatch):
    out = old_run(tmp_path)
    real_exchange = outdir._exchange

    def exchange_interrupted(a, b):  # Ctrl-C arrives while the swap runs
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)
        return real_exchange(a, b)

    monkeypatch.setattr(outdir, "_exchange", exchange_interrupted)
    with pytest.raises(signals.Interrupted), signals.handled():
        with outdir.claim(out, overwrite=True) as d:
            write_run(d.staging, "new")
            d.commit()
    assert contents(out) == whole("new") and sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_failed_run_leaves_the_old_directory_and_nothing_else(tmp_path):
    out = old_run(tmp_path)
    with pytest.raises(RuntimeError), outdir.claim(out / "deeper" / "still", overwrite=False) as d:
        write_run(d.staging, "new")
        raise RuntimeError("training failed")
    assert contents(out) == whole("old")  # the parents claim created are gone again
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


# --- one writer ----------------------------------------------------------------------------------


def test_a_second_writer_is_refused_while_the_first_runs(tmp_path, capsys):
    out = tmp_path / "run"
    with outdir.claim(out, overwrite=False) as first:  # this process is the first writer
        r = run_cli(*XOR, "--out", out)
        assert_refused(r, "--out", "another xpnet train", f"process {os.getpid()}")
        r = run_main(capsys, *XOR, "--out", out, "--overwrite")  # in this process: a lock is per open file
        assert_refused(r, "another xpnet train")
        assert list(first.staging.iterdir()) == [] and not out.exists()
        with pytest.raises(ConfigError, match="another xpnet train"):
            with outdir.claim(out, overwrite=True):
                pass
    assert list(tmp_path.iterdir()) == []  # the lock file went with the lock
    assert run_main(capsys, *XOR, "--out", out).returncode == 0
    assert sorted(p.name for p in out.iterdir()) == RUN_FILES


def test_an_out_that_links_to_a_directory_is_replaced_through_the_link(tmp_path, capsys):
    target = old_run(tmp_path)
    (tmp_path / "link").symlink_to(target)
    assert_refused(run_main(capsys, *XOR, "--out", tmp_path / "link"), "--overwrite")
    assert run_main(capsys, *XOR, "--out", tmp_path / "link", "--overwrite").returncode == 0
    assert (tmp_path / "link").is_symlink() and sorted(p.name for p in target.iterdir()) == RUN_FILES
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "run"]


# --- the default DIR --------------------------------------------------------------------------------


def test_a_second_run_with_the_default_out_writes_the_next_number(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = run_main(capsys, *XOR)
    assert first.returncode == 0 and first.stderr == "" and "wrote runs/xor" in first.stdout, first.stderr
    second = run_main(capsys, *XOR)
    assert second.returncode == 0, second.stderr
    assert second.stderr.strip() == "xpnet: runs/xor holds an earlier run; writing runs/xor-2"
    assert second.stdout.strip().endswith("wrote runs/xor-2")
    with outdir.claim(tmp_path / "runs" / "xor-3", overwrite=False):  # being written: taken too
        third = run_main(capsys, *XOR, "--json")
    assert third.returncode == 0 and '"out": "runs/xor-4"' in third.stdout, third.stderr
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["xor", "xor-2", "xor-4"]
    assert sorted(p.name for p in (tmp_path / "runs" / "xor-2").iterdir()) == RUN_FILES
    explicit = run_main(capsys, *XOR, "--out", "runs/xor")  # an explicit --out is not renumbered
    assert_refused(explicit, "--overwrite")


# --- fail before work ----------------------------------------------------------------------------------


def _dangling(tmp_path):
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    return tmp_path / "link", ["dangling", "nowhere"]


def _file_as_parent(tmp_path):
    (tmp_path / "afile").write_text("x")
    return tmp_path / "afile" / "run", ["afile", "not a directory"]


def _unwritable(tmp_path):
    (tmp_path / "ro").mkdir(mode=0o500)
    return tmp_path / "ro" / "run", ["not writable"]


OUT_CASES = {
    "dangling symlink": _dangling,
    "under /proc": lambda tmp_path: (Path("/proc/xpnet-run"), ["/proc", "kernel file system"]),
    "under /proc/self": lambda tmp_path: (Path("/proc/self/run"), ["kernel file system"]),
    "a file as parent": _file_as_parent,
    "the root directory": lambda tmp_path: (Path("/"), ["root directory"]),
    "unwritable parent": _unwritable,
}


@pytest.mark.parametrize("case", list(OUT_CASES), ids=list(OUT_CASES))
def test_an_out_that_cannot_be_written_is_refused_before_training(tmp_path, capsys, monkeypatch, case):
    if case == "unwritable parent" and os.geteuid() == 0:
        pytest.skip("root writes into read-only directories")
    out, words = OUT_CASES[case](tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    monkeypatch.setattr(train, "fit", lambda *a, **k: pytest.fail("training started"))
    assert_refused(run_main(capsys, *XOR, "--out", out), "--out", *words)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
