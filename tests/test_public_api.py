"""The import paths users already have keep working after the move to packages by concept."""

from __future__ import annotations

import importlib
import subprocess
import sys

from helpers import SRC


def test_the_paths_users_have():
    import xpnet
    import xpnet.losses
    import xpnet.optim
    import xpnet.sklearn
    from xpnet.losses import MSE, HalfSSE, SoftmaxCrossEntropy, get_loss
    from xpnet.optim import adam

    assert callable(xpnet.mlp) and callable(xpnet.fit) and callable(adam)
    assert xpnet.losses is xpnet.nn.losses and get_loss("mse").__class__ is MSE
    assert {HalfSSE, SoftmaxCrossEntropy} <= set(xpnet.losses.LOSSES.values())
    assert {"MLPClassifier", "MLPRegressor"} <= set(dir(xpnet.sklearn))
    for name in xpnet.__all__:
        assert hasattr(xpnet, name), name


def test_xpnet_losses_imports_first_in_a_fresh_process():
    # `from xpnet.losses import X` as the first xpnet import of a program
    code = "from xpnet.losses import MSE; import xpnet.losses as L; print(L.MSE is MSE)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(SRC)}
    )
    assert out.returncode == 0 and out.stdout.strip() == "True", out.stderr


def test_every_package_imports_on_its_own():
    for name in (
        "xpnet.backend",
        "xpnet.nn",
        "xpnet.optim",
        "xpnet.training",
        "xpnet.fast",
        "xpnet.io",
        "xpnet.cli",
        "xpnet.trask",
    ):
        assert importlib.import_module(name).__doc__, name
