"""The command line: `xpnet backends`, `xpnet example NAME`, `xpnet train`, `xpnet evaluate`,
`xpnet predict` (parser.py; one module per command).

Errors xpnet raises on purpose (XpnetError) print one line to stderr, naming the flag
(flags.py), and exit with status 2; SIGINT and SIGTERM one line and 130 or 143 (signals.py).
Everything `train` needs is checked (data set, options, output directory, size) before it trains,
and its output directory appears only once complete (outdir.claim). Progress goes to stderr;
results (the summary line or one JSON object with --json) go to stdout.
"""

from __future__ import annotations

import sys

from ..errors import XpnetError
from . import signals
from .distributed import handle_error
from .flags import flag_message
from .parser import build_parser

__all__ = ["build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    try:
        with signals.handled():  # SIGINT and SIGTERM: one line and 130 or 143, after the cleanup
            parser = build_parser()
            args = parser.parse_args(argv)
            try:
                return args.func(args)
            except (XpnetError, OSError) as exc:  # OSError: what no check foresees (a full disk)
                message = flag_message(exc, args)  # flags, not parameters
                status = handle_error(exc, message)  # --distributed: which rank says it, ending the job
                if status is not None:
                    return status
                print(f"xpnet: error: {message}", file=sys.stderr)
                return 2
            except KeyboardInterrupt as exc:  # a signal on one rank of a distributed run ends the job
                status = handle_error(exc)
                if status is not None:
                    return status
                raise
    except signals.Interrupted as exc:
        print(f"xpnet: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:  # raised by hand, or a handler this process had before main()
        print("xpnet: interrupted", file=sys.stderr)
        return 130
