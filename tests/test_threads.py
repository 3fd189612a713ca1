"""torch on the CPU starts with a thread count that does not oversubscribe the machine, and
XPNET_NUM_THREADS (or OMP_NUM_THREADS) chooses another."""

from __future__ import annotations

import pytest

from xpnet import ConfigError, get_backend
from xpnet.backend import threads


def test_the_default_is_half_the_usable_cores_at_most_4(monkeypatch):
    monkeypatch.setattr(threads, "available_cpus", lambda: 2)
    assert threads.default_threads() == 1
    monkeypatch.setattr(threads, "available_cpus", lambda: 64)
    assert threads.default_threads() == 4


def test_usable_cores_are_counted():
    assert threads.available_cpus() >= 1


def test_the_environment_chooses(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("XPNET_NUM_THREADS", "3")
    assert threads.chosen_threads() == (3, "XPNET_NUM_THREADS")
    monkeypatch.setenv("XPNET_NUM_THREADS", "many")
    with pytest.raises(ConfigError, match="XPNET_NUM_THREADS: expected a positive integer, got 'many'"):
        threads.chosen_threads()
    monkeypatch.delenv("XPNET_NUM_THREADS")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert threads.chosen_threads() == (None, "OMP_NUM_THREADS")  # torch reads it itself
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert threads.chosen_threads() == (threads.default_threads(), "default")


def test_torch_on_the_cpu_gets_the_chosen_threads(monkeypatch):
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("XPNET_NUM_THREADS", "1")
    try:
        text = threads.limit_cpu_threads(get_backend("torch"))
        assert torch.get_num_threads() == 1
        assert text == "1 thread (XPNET_NUM_THREADS; XPNET_NUM_THREADS=N to change)"
    finally:
        torch.set_num_threads(before)
    assert threads.limit_cpu_threads(get_backend("numpy")) is None


def test_every_command_s_backend_gets_the_threads(monkeypatch):
    torch = pytest.importorskip("torch")
    from types import SimpleNamespace

    from xpnet.cli.device import cli_backend

    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("XPNET_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "available_cpus", lambda: 4)  # the default: 2 threads
    try:
        torch.set_num_threads(3)
        b = cli_backend(SimpleNamespace(backend="torch", device=None))
        assert b.name == "torch" and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
