"""Every ```python block of README.md runs on its own as pasted (in a fresh interpreter, in an
empty directory, which it leaves empty), except blocks that need CuPy and a GPU."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import SRC

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```$", README.read_text(), flags=re.S | re.M)


def _needs_gpu(code: str) -> bool:
    return re.search(r"^\s*import cupy|^\s*from cupy", code, flags=re.M) is not None


def test_the_readme_has_python_blocks():
    assert len(BLOCKS) >= 4 and sum(not _needs_gpu(b) for b in BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)), ids=[f"block{i + 1}" for i in range(len(BLOCKS))])
def test_each_python_block_runs_on_its_own(index, tmp_path):
    code = BLOCKS[index]
    if _needs_gpu(code):
        from xpnet.backend import cuda_device_count

        if cuda_device_count()[0] == 0:
            pytest.skip("needs CuPy and a CUDA device")
    for module in re.findall(r"^\s*(?:import|from) (torch|sklearn|onnxruntime|onnx|ndonnx)\b", code, flags=re.M):
        pytest.importorskip(module)
    env = dict(os.environ, PYTHONPATH=str(SRC), OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"README block {index + 1} failed:\n{code}\n{r.stderr}"
    assert list(tmp_path.iterdir()) == [], "a README example wrote into the current directory"
