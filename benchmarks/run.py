"""Run every benchmark side by side on this machine and write a dated table.

    python benchmarks/run.py              the full run (about 5-10 minutes on 2 cores)
    python benchmarks/run.py --quick      a short smoke run (seconds); its timings mean little
    python benchmarks/run.py --only seed,memory --reps 5

Writes benchmarks/results/<UTC date and time>[-quick].md and .json (or under --out). Ratios
compare measurements taken in this one run, each the best of --reps repetitions.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402  (puts this tree's src/ on the path)

SECTIONS = ("seed", "mlp", "memory", "gpu", "distributed", "growth")


def _section(name: str):
    if name == "seed":
        import seed as mod
    elif name == "mlp":
        import mlp_cpu as mod
    elif name == "memory":
        import memory as mod
    elif name == "distributed":
        import distributed as mod
    elif name == "growth":
        import growth as mod
    else:
        import gpu as mod
    return mod


def run_all(quick: bool, reps: int, only: list[str]) -> dict:
    results = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "quick": quick,
        "reps": reps,
        "machine": common.machine(),
        "rows": [],
        "skipped": {},
        "errors": {},
        "seconds": {},
    }
    for name in only:
        mod = _section(name)
        why = mod.unavailable() if hasattr(mod, "unavailable") else None
        if why:
            results["skipped"][name] = why
            print(f"[{name}] skipped: {why}", flush=True)
            continue
        t0 = time.perf_counter()
        try:
            results["rows"] += mod.run(quick, reps)
        except Exception as exc:  # one broken benchmark must not lose the others' numbers
            results["errors"][name] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        results["seconds"][name] = round(time.perf_counter() - t0, 1)
        print(f"[{name}] {results['seconds'][name]} s", flush=True)
    return results


def markdown(res: dict) -> str:
    f = common.fmt
    lines = [
        f"# xpnet benchmarks, {res['date']}{' (quick: smoke run, timings not meaningful)' if res['quick'] else ''}",
        "",
        f"Best of {res['reps']}. ratio = xpnet / reference for rates, reference / xpnet for "
        "seconds and memory: above 1 means xpnet is better. Target: the ratio the issue asks for.",
        "",
        "| benchmark | config | path | metric | xpnet | reference | ratio | target | met |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        if r["benchmark"] == "growth":
            continue  # their own table, below
        lines.append(
            f"| {r['benchmark']} | {r['config']} | {r.get('path', '')} | {r['metric']} | {f(r['xpnet'])} | "
            f"{f(r['reference'])} ({r['reference_name']}) | {f(r['ratio'])} | {f(r['target'])} | "
            f"{'-' if r['met'] is None else ('yes' if r['met'] else 'NO')} |"
        )
    extras = [r for r in res["rows"] if "growth_bytes_across_epochs" in r or "matmul_fraction" in r]
    for r in extras:
        if "growth_bytes_across_epochs" in r:
            lines.append(
                f"\n- memory, {r['path']}, {r['config']}: "
                f"growth across epochs {r['growth_bytes_across_epochs']} bytes; "
                f"peak {r['peak']} B = dataset {r['dataset']} + params {r['params']} + rest "
                f"{r['peak'] - r['dataset'] - r['params']} (activations per batch {r['activations_per_batch']})"
            )
        else:
            lines.append(
                f"\n- {r['config']}: step matmul rate {f(r['matmul_tflops_step'])} TFLOP/s, CuPy's own "
                f"{f(r['matmul_tflops_cupy'])}: fraction {f(r['matmul_fraction'])}"
            )
    for r in res["rows"]:
        if "comm_fraction" in r:  # distributed.py: what the allreduce costs a step
            lines.append(
                f"\n- {r['benchmark']} ({r['path']}): allreduce {f(r['comm_ms_per_step'])} ms per step, "
                f"{f(r['comm_fraction'])} of the time (waiting for the slowest rank included); "
                f"{f(r['allreduce_alone_ms'])} ms by itself"
            )
    if any(r["benchmark"] == "growth" for r in res["rows"]):
        import growth

        lines += [
            "",
            "Growth with the work (samples per second; ratios > 1: xpnet faster):",
            "",
            growth.table(res["rows"]),
        ]
    for k, v in res["skipped"].items():
        lines.append(f"\n- {k}: skipped ({v})")
    for k, v in res["errors"].items():
        lines.append(f"\n- {k}: ERROR {v}")
    lines += ["", "Machine: " + ", ".join(f"{k}={v}" for k, v in res["machine"].items()), ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a short smoke run (small sizes, one repetition)")
    p.add_argument(
        "--reps", type=int, default=None, help="repetitions per measurement, best kept (default 3; 1 with --quick)"
    )
    p.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of: {', '.join(SECTIONS)}")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    a = p.parse_args(argv)
    only = [s.strip() for s in a.only.split(",") if s.strip()]
    bad = [s for s in only if s not in SECTIONS]
    if bad:
        p.error(f"--only: unknown benchmark(s) {', '.join(bad)}; expected some of: {', '.join(SECTIONS)}")
    reps = a.reps if a.reps is not None else (1 if a.quick else 3)
    if reps < 1:
        p.error(f"--reps: expected an integer >= 1, got {reps}")
    res = run_all(a.quick, reps, only)
    a.out.mkdir(parents=True, exist_ok=True)
    stem = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d_%H%M%S") + ("-quick" if a.quick else "")
    md = markdown(res)
    (a.out / f"{stem}.md").write_text(md)
    (a.out / f"{stem}.json").write_text(json.dumps(res, indent=1))
    print(md)
    print(f"wrote {a.out / stem}.md and .json")
    return 1 if res["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
