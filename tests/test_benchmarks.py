"""The benchmark harness runs and writes its dated table. Timings are never asserted on: this
machine is shared and a smoke run's numbers mean nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_quick_run_writes_markdown_and_json(tmp_path):
    pytest.importorskip("torch")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    mds, jsons = list(tmp_path.glob("*-quick.md")), list(tmp_path.glob("*-quick.json"))
    assert len(mds) == 1 and len(jsons) == 1
    res = json.loads(jsons[0].read_text())
    assert res["quick"] is True and not res["errors"]
    names = {r["benchmark"] for r in res["rows"]}
    assert {"seed three-layer", "MLP 784-512-512-10", "MLP 64-32-10", "peak memory"} <= names
    assert "gpu" in res["skipped"] or "GPU MLP" in names  # skipped cleanly without a GPU
    for r in res["rows"]:
        assert r["xpnet"] > 0 and r["reference"] > 0 and r["ratio"] > 0
    text = mds[0].read_text()
    assert "| benchmark |" in text and "MLP 64-32-10" in text


def test_bad_option_is_refused(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--only", "nope", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 2 and "--only: unknown benchmark(s) nope" in proc.stderr
    assert not list(tmp_path.iterdir())


def test_gpu_check_dry_run_parts_run_on_the_cpu(tmp_path):
    """benchmarks/gpu_check.py (the GPU machine's one call) parses and its CPU-runnable parts run:
    the model file round trip on NumPy and torch CPU, the kernels part skipping with a reason."""
    pytest.importorskip("torch")
    script = str(ROOT / "benchmarks" / "gpu_check.py")
    bad = subprocess.run([sys.executable, script, "--only", "nope"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--only: unknown part(s) nope" in bad.stderr
    proc = subprocess.run(
        [sys.executable, script, "--dry-run", "--only", "checkpoint,kernels", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["dry_run"] is True and "numpy" in res["versions"]
    for name in ("numpy", "torch"):
        assert res["checkpoint"][name] == {"gpu_to_cpu_identical": True, "cpu_to_gpu_identical": True, "device": "cpu"}
    assert "dry run" in res["kernels"]["skipped"]
    assert "## Benchmark" in (tmp_path / "results.md").read_text()
