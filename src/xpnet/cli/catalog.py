"""`xpnet backends` and `xpnet example NAME`: what this machine offers, and the seed programs."""

from __future__ import annotations

import json

from ..backend import get_backend, list_backends
from ..trask import get_program


def cmd_backends(args) -> int:
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
    program = get_program(args.name)
    backend = get_backend(args.backend, device=args.device)
    kwargs = {}
    if args.name == "cross-entropy":
        kwargs["plot"] = args.plot
    result = program.run(backend, **kwargs)
    result.pop("_model", None)
    if args.json:
        print(json.dumps(result))
    else:
        print(program.report(result))
        if result.get("plot"):
            print(f"Loss curve saved to {result['plot']}")
    return 0
