"""The command line: `xpnet backends`, `xpnet example NAME`, `xpnet train ...`.

Errors xpnet raises on purpose (XpnetError) print one line to stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from . import __version__
from .errors import XpnetError


def _add_backend_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", default=None,
                   help="array library: auto, numpy, array_api_strict, torch, cupy, jax (default: $XPNET_BACKEND or auto)")
    p.add_argument("--device", default=None, help="cpu or gpu (a backend's device, e.g. cuda:1 or device1)")


def cmd_backends(args) -> int:
    from .backend import list_backends

    rows = list_backends()
    if args.json:
        print(json.dumps([r._asdict() for r in rows]))
        return 0
    width = max(len(r.name) for r in rows)
    for r in rows:
        state = "usable" if r.usable else "unusable"
        extra = f"  device={r.device}" if r.usable else f"  ({r.reason})"
        print(f"{r.name:<{width}}  {state}{extra}")
    return 0


def cmd_example(args) -> int:
    from .backend import get_backend
    from .examples import get_example

    mod = get_example(args.name)
    backend = get_backend(args.backend, device=args.device)
    kwargs = {}
    if args.name == "cross-entropy":
        kwargs["plot"] = args.plot
    result = mod.run(backend, **kwargs)
    result.pop("_model", None)
    if args.json:
        print(json.dumps(result))
    else:
        print(mod.report(result))
        if result.get("plot"):
            print(f"Loss curve saved to {result['plot']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xpnet", description="Train neural networks on NumPy, CuPy, PyTorch or array-api-strict.")
    parser.add_argument("--version", action="version", version=f"xpnet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("backends", help="list array backends and whether they are usable here")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_backends)

    p = sub.add_parser("example", help="run one of the seed programs")
    p.add_argument("name", help="single-neuron, two-layer, three-layer or cross-entropy")
    _add_backend_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--plot", default="cross_entropy_loss.png",
                   help="cross-entropy only: where to save the loss curve (needs matplotlib)")
    p.set_defaults(func=cmd_example)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except XpnetError as exc:
        print(f"xpnet: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("xpnet: interrupted", file=sys.stderr)
        return 130
