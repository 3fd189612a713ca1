"""The backend a command runs on: --backend / --device, and torch's CPU threads
(backend/threads.py: a default that does not oversubscribe the CPU)."""

from __future__ import annotations

from ..backend import get_backend
from ..backend.threads import limit_cpu_threads


def cli_backend(args):
    backend = get_backend(args.backend, device=args.device)
    limit_cpu_threads(backend)
    return backend
