"""Sizes refused before training (cli/sizing.py, cli/options.py): a network that cannot fit is
refused at once with the estimate, within a small address space; --max-memory sets the limit
or turns the check off; malformed --layers and --max-memory are one line naming the flag."""

from __future__ import annotations

import resource

import pytest

from cli_helpers import _ONE_THREAD, assert_refused, run_main
from helpers import run_cli as _run_cli
from xpnet.cli.options import parse_layers
from xpnet.cli.sizing import parse_size, state_per_parameter
from xpnet.errors import ConfigError
from xpnet.optim import optimizer_from_options

DIGITS = ("train", "--dataset", "digits", "--backend", "numpy", "--epochs", "1", "--quiet")
ADDRESS_SPACE = 3 << 30  # bytes: the interpreter, NumPy and scikit-learn fit; a refused network would not


def run_cli(*args, limit=None, **kwargs):
    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return _run_cli(*args, env=_ONE_THREAD, timeout=120, preexec_fn=cap if limit else None, **kwargs)


MALFORMED = ["²", "64,,32", ",", "8,x", "0", "64,-1", "٦٤", "1e3", "64;32", "0x40"]


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_layers_are_refused_naming_the_flag(text):
    with pytest.raises(ConfigError, match="^--layers: expected comma-separated positive integers"):
        parse_layers(text)


def test_well_formed_layers():
    assert parse_layers("64, 32") == [64, 32] and parse_layers("") == [] and parse_layers(" ") == []
    assert parse_layers("007") == [7]


@pytest.mark.parametrize("text", ["²", "64,,32", ","])
def test_malformed_layers_on_the_command_line(tmp_path, capsys, text):
    assert_refused(run_main(capsys, *DIGITS, "--layers", text, "--out", tmp_path / "run"), "--layers", repr(text))
    assert list(tmp_path.iterdir()) == []


def test_a_network_that_cannot_fit_is_refused_at_once_with_the_figure(tmp_path):
    r = run_cli(*DIGITS, "--layers", "1000000000", "--out", tmp_path / "run", limit=ADDRESS_SPACE)
    # parameters alone: (64 + 1) x 1e9 + (1e9 + 1) x 10 float32 values, 279.4 GiB
    assert_refused(r, "--layers 1000000000", "parameters: 279 GiB", "memory available", "--max-memory")
    assert list(tmp_path.iterdir()) == []


def test_max_memory_sets_the_limit_or_turns_the_check_off(tmp_path, capsys):
    r = run_main(capsys, *DIGITS, "--layers", "2000", "--max-memory", "1M", "--out", tmp_path / "a")
    assert_refused(r, "--layers 2000", "the --max-memory limit (1 MiB)", "MiB")
    assert list(tmp_path.iterdir()) == []
    for i, size in enumerate(["1G", "none"]):
        r = run_main(capsys, *DIGITS, "--layers", "2000", "--max-memory", size, "--out", tmp_path / f"ok{i}")
        assert r.returncode == 0 and r.stderr == "", r.stderr


@pytest.mark.parametrize("text", ["1x", "-5G", "0", "", "G", "1.5G"])
def test_malformed_max_memory(text):
    with pytest.raises(ConfigError, match="^--max-memory: expected a positive number of bytes"):
        parse_size(text)


def test_sizes():
    assert (
        parse_size("64G") == 64 * 2**30 and parse_size("1536MiB") == 1.5 * 2**30 and parse_size("500m") == 500 * 2**20
    )
    assert parse_size("123") == 123 and parse_size("none") is None


@pytest.mark.parametrize(("name", "momentum", "k"), [("sgd", None, 0), ("momentum", None, 1), ("adam", None, 2)])
def test_optimizer_state_is_read_off_the_optimizer(name, momentum, k):
    assert state_per_parameter(optimizer_from_options(name, momentum=momentum)) == k
