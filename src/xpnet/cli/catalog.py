"""`xpnet backends`, `xpnet datasets` and `xpnet example NAME`: what this machine offers, the
embedded data sets, and the seed programs."""

from __future__ import annotations

import json
import os

from ..backend import ENV_VAR, auto_backend_name, get_backend, list_backends
from ..backend.threads import limit_cpu_threads
from ..errors import ConfigError
from ..io import EMBEDDED_NAMES, load_dataset
from ..trask import get_program
from .device import cli_backend
from .report import check_plot_path


def _print_table(table: list[tuple[str, ...]]) -> None:
    """Rows in aligned columns, two spaces apart; the last column is left ragged."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    for row in table:
        print("  ".join(f"{cell:<{w}}" for cell, w in zip(row, widths, strict=False)) + "  " + row[-1])


def cmd_backends(args) -> int:
    rows = list_backends()
    auto = auto_backend_name()
    threads = limit_cpu_threads(get_backend("torch")) if any(r.name == "torch" and r.usable for r in rows) else None
    if args.json:
        print(json.dumps({"backends": [r._asdict() for r in rows], "auto": auto, "torch_cpu_threads": threads}))
        return 0
    table = [("backend", "status", "version", "device / why not")]
    for r in rows:
        where = r.device if r.usable else r.reason
        if r.name == "torch" and threads:
            where += f", {threads}"
        table.append((r.name, "usable" if r.usable else "unusable", r.version or "-", where))
    _print_table(table)
    env = os.environ.get(ENV_VAR)
    chosen = f"; {ENV_VAR}={env} is the default here" if env else ""
    print(f"auto picks: {auto} (CuPy when a CUDA device is usable, else NumPy){chosen}")
    return 0


def cmd_datasets(args) -> int:
    """The embedded data sets `--dataset NAME` takes: shape, task, classes and source."""
    rows = []
    for name in EMBEDDED_NAMES:
        ds = load_dataset(name)
        rows.append(
            {
                "name": name,
                "samples": len(ds),
                "features": ds.n_features,
                "task": ds.task,
                "classes": ds.n_classes,
                "source": ds.source,
            }
        )
    if args.json:
        print(json.dumps(rows))
        return 0
    table = [("name", "shape", "task", "source")]
    for r in rows:
        task = f"{r['task']}, {r['classes']} classes" if r["classes"] else r["task"]
        table.append((r["name"], f"{r['samples']} x {r['features']}", task, r["source"]))
    _print_table(table)
    return 0


def cmd_example(args) -> int:
    program = get_program(args.name)
    if args.plot is not None and args.name != "cross-entropy":
        raise ConfigError(f"--plot: only the cross-entropy example draws a curve, not {args.name}")
    check_plot_path(args.plot)  # before the program trains
    backend = cli_backend(args)
    kwargs = {}
    if args.name == "cross-entropy":
        kwargs["plot"] = args.plot  # None: nothing is written unless asked
    result = program.run(backend, **kwargs)
    result.pop("_model", None)
    if args.json:
        print(json.dumps(result))
    else:
        print(program.report(result))
        if result.get("plot"):
            print(f"Loss curve saved to {result['plot']}")
    return 0
