"""Errors in the words of the command line (cli/flags.py): argparse's own errors in one line
(the usage only with --help), and every refused option named by its flag, not by the Python
parameter it becomes. In process (main(argv)): no interpreter start-up per case."""

from __future__ import annotations

import re

import pytest

from xpnet.cli import main

ARGPARSE = {
    "not an int": (["train", "--dataset", "xor", "--batch-size", "x"], "xpnet train", "--batch-size"),
    "not a float": (["train", "--dataset", "xor", "--lr", "fast"], "xpnet train", "--lr"),
    "no value": (["train", "--dataset", "xor", "--epochs"], "xpnet train", "--epochs"),
    "unknown flag": (["train", "--dataset", "xor", "--bogus"], "xpnet", "--bogus"),
    "required flag": (["train"], "xpnet train", "--dataset"),
    "no command": ([], "xpnet", "command"),
    "unknown command": (["trian"], "xpnet", "trian"),
    "evaluate without DIR": (["evaluate"], "xpnet evaluate", "dir"),
    "predict without --input": (["predict", "runs/x"], "xpnet predict", "--input"),
}


@pytest.mark.parametrize("case", list(ARGPARSE), ids=list(ARGPARSE))
def test_argparse_errors_are_one_line(capsys, case):
    argv, prog, word = ARGPARSE[case]
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert len(err.strip().splitlines()) == 1 and "usage" not in err, err
    assert err.startswith(f"{prog}: error: ") and word in err and f"(see {prog} --help)" in err, err


def test_help_still_shows_the_usage(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--help"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("usage: xpnet train")


# each option refused by the library, which names its own parameter: the flag is named instead
BY_FLAG = {
    "--batch-size": ["--batch-size", "0"],
    "--epochs": ["--epochs", "0"],
    "--lr": ["--lr", "-1"],
    "--dropout": ["--dropout", "1.0"],
    "--l2": ["--l2", "-1"],
    "--clip-norm": ["--clip-norm", "-1"],
    "--patience": ["--patience", "-1"],
    "--seed": ["--seed", "-1"],
    "--momentum": ["--optimizer", "sgd", "--momentum", "1.5"],
    "--activation": ["--activation", "swish"],
    "--optimizer": ["--optimizer", "adagrad"],
    "--loss": ["--loss", "mse"],
    "--dtype": ["--dtype", "float8"],
    "--backend": ["--backend", "tensorflow"],
    "--device": ["--device", "tpu"],
    "--device-rng": ["--backend", "numpy", "--device-rng"],
    "--val-split": ["--val-split", "1.5"],
    "--layers": ["--layers", "64,,32"],
    "--checkpoint-every": ["--checkpoint-every", "0"],
}
PYTHON_NAMES = re.compile(r"batch_size|max_norm|clip_norm|device_rng|val_split|dropout rate|l2 rate|=False|=True|None")


@pytest.mark.parametrize("name", list(BY_FLAG))
def test_refused_options_are_named_by_their_flag(tmp_path, capsys, name):
    out = tmp_path / "run"
    assert main(["train", "--dataset", "xor", "--quiet", "--out", str(out), *BY_FLAG[name]]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"xpnet: error: {name}"), err
    assert PYTHON_NAMES.search(err) is None, err
    assert list(tmp_path.iterdir()) == []
