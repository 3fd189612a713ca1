"""The GPU half of issue 17 in one call: the suite on CuPy and on torch CUDA tensors, a model file
written on the GPU read back on the CPU (and the reverse), the fused CuPy kernels against the
generic formulas, and the GPU benchmark against PyTorch eager CUDA. Results under --out ($OUT).

    python benchmarks/gpu_check.py --out "$OUT"        on the GPU machine (the exact command, with
                                                       the wheels it needs: benchmarks/README.md)
    python benchmarks/gpu_check.py --dry-run --out /tmp/gpu_check
                                                       here: the same flow on NumPy and torch CPU,
                                                       tiny sizes, in well under a minute

It stays under --budget-s (default 450 s): each part gets a share, the suite runs under pytest's
own timeouts, and a part that fails is recorded and the next one runs. Files written (the device
tool returns at most 8): results.json (everything), results.md (the tables), suite_cupy.log,
suite_torch.log, suite_kernels.log.

Benchmark: 784-2048-2048-10 at batch 256, 1024 and 4096 in float32 and mixed bfloat16, 784-512-512-10
at batch 128, and the seeds' 3-4-1 toy (full batch of 4), SGD, data on the device, one epoch over
the same batches for every contender, best of 3 after a warm-up. Contenders: xpnet on CuPy, xpnet on
torch CUDA tensors, PyTorch eager (+ torch.autocast for bfloat16). Reported per row: samples/s, the
ratio to PyTorch eager at the same precision, the step's matmul rate as a fraction of the library's
own matmul rate for the same shapes, and peak device memory (each library's allocator: CuPy's pool,
torch.cuda.max_memory_allocated).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

LR = 0.01
BIG = [784, 2048, 2048, 10]
MID = [784, 512, 512, 10]
TOY = [3, 4, 1]


# --- versions -----------------------------------------------------------------------------------


def versions() -> dict:
    info = {"python": platform.python_version(), "platform": platform.platform()}
    try:
        info["commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except Exception:  # no git on the machine: the results still say what ran
        info["commit"] = None
    for mod in ("numpy", "array_api_compat", "array_api_strict", "cupy", "torch", "pytest"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception as exc:
            info[mod] = f"missing ({type(exc).__name__})"
    try:
        import cupy

        info["cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
        info["cuda_driver"] = cupy.cuda.runtime.driverGetVersion()
        info["gpu"] = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    except Exception as exc:
        info["cupy_device"] = f"unusable ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
    try:
        import torch

        info["torch_cuda"] = torch.version.cuda
        info["torch_gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception:
        pass
    return info


# --- the suite ----------------------------------------------------------------------------------


def _counts(text: str) -> dict:
    """pytest's last summary line as numbers: {"passed": 10, "skipped": 2, ...}."""
    lines = [ln for ln in text.splitlines() if re.search(r"\d+ (passed|failed|error|skipped)", ln)]
    if not lines:
        return {}
    return {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|errors?|skipped|deselected|xfailed)", lines[-1])}


def run_pytest(name: str, args: list[str], env: dict, out: Path, timeout: float) -> dict:
    cmd = [sys.executable, "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider", *args]
    try:
        import pytest_timeout  # noqa: F401  (on the GPU machine: one stuck test must not eat the budget)

        cmd += ["--timeout", "120"]
    except ImportError:
        pass
    t0 = time.perf_counter()
    try:
        r = subprocess.run(
            cmd, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=max(timeout, 10)
        )
        text, rc = r.stdout + r.stderr, r.returncode
    except subprocess.TimeoutExpired as exc:
        text = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        text += f"\n[gpu_check] pytest stopped after {timeout:.0f} s"
        rc = "timeout"
    (out / f"suite_{name}.log").write_text(" ".join(cmd) + "\n" + text)
    failed = [ln for ln in text.splitlines() if ln.startswith(("FAILED", "ERROR"))]
    return {
        "command": " ".join(f"{k}={v}" for k, v in env.items()) + " " + " ".join(cmd[1:]),
        "rc": rc,
        "counts": _counts(text),
        "failed": failed[:40],
        "seconds": round(time.perf_counter() - t0, 1),
    }


def suite(dry: bool, out: Path, budget: float) -> dict:
    if dry:  # the flow, on the CPU: the same selection mechanics on a small subset
        return {
            "cupy (dry: numpy)": run_pytest(
                "cupy", ["tests/test_cupy_kernels.py", "-k", "numpy"], {"XPNET_TEST_BACKENDS": "numpy"}, out, budget / 3
            ),
            "torch_cuda (dry: torch cpu)": run_pytest(
                "torch", ["tests/test_inplace.py", "-k", "torch"], {"XPNET_TEST_BACKENDS": "torch"}, out, budget / 3
            ),
            "kernels": run_pytest("kernels", ["tests/test_cupy_kernels.py"], {}, out, budget / 3),
        }
    # every test case parametrised on the backend, on that backend alone; -n: the machine's cores
    par = ["-n", "8"] if _has("xdist") else []
    return {
        "cupy": run_pytest("cupy", ["tests", "-k", "cupy", *par], {"XPNET_TEST_BACKENDS": "cupy"}, out, budget * 0.45),
        "torch_cuda": run_pytest(
            "torch",
            ["tests", "-k", "torch", *par],
            {"XPNET_TEST_BACKENDS": "torch", "XPNET_TORCH_DEVICE": "cuda"},
            out,
            budget * 0.45,
        ),
        "kernels": run_pytest(
            "kernels", ["tests/test_cupy_kernels.py", "tests/test_cupy_step.py"], {}, out, budget * 0.1
        ),
    }


def _has(module: str) -> bool:
    try:
        __import__(module)
        return True
    except ImportError:
        return False


# --- a model file across devices ----------------------------------------------------------------


def checkpoint_round_trip(gpu_backends: list[str], device: str = "gpu") -> dict:
    """Train briefly on each GPU backend, save, load on NumPy: identical values; then a NumPy
    model saved and loaded onto the GPU backend: identical values."""
    import numpy as np

    from xpnet import get_backend, mlp, to_numpy
    from xpnet.io import load_model, save_model
    from xpnet.training import fit

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((256, 20)).astype(np.float32), rng.integers(0, 3, 256)
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in gpu_backends:
            try:
                b = get_backend(name, device=device) if name != "numpy" else get_backend("numpy")
                model = mlp([20, 16, 3], backend=b, seed=1)
                fit(model, X, y, epochs=2, batch_size=64)
                path = Path(tmp) / f"{name}.npz"
                save_model(path, model)
                back, _ = load_model(path, backend="numpy")
                to_cpu = all(np.array_equal(to_numpy(model.params[k]), to_numpy(back.params[k])) for k in model.params)
                host_model = mlp([20, 16, 3], backend="numpy", seed=2)
                hpath = Path(tmp) / f"host_for_{name}.npz"
                save_model(hpath, host_model)
                there, _ = load_model(hpath, backend=b)
                to_gpu = all(
                    np.array_equal(to_numpy(there.params[k]), host_model.params[k]) for k in host_model.params
                ) and str(there.backend.device) == str(b.device)
                res[name] = {"gpu_to_cpu_identical": to_cpu, "cpu_to_gpu_identical": to_gpu, "device": str(b.device)}
            except Exception as exc:
                res[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return res


# --- the fused kernels: time against the generic formulas ----------------------------------------


def kernel_timing(dry: bool) -> dict:
    """bias+ReLU and the Adam update at 4096x2048 float32: fused kernel against the generic
    formula (the reference, run as separate library kernels), microseconds each."""
    if dry:
        return {"skipped": "dry run: the kernels need CuPy on a GPU"}
    import cupy

    from xpnet.fast import cupy_kernels as CK

    xp = cupy
    z = cupy.random.standard_normal((4096, 2048), dtype=cupy.float32)
    b = cupy.random.standard_normal((2048,), dtype=cupy.float32)
    p, g, m, v = (cupy.random.standard_normal((2048, 2048), dtype=cupy.float32) for _ in range(4))
    v = abs(v)
    consts = (0.9, 0.1, 0.999, 0.001, 0.1, 0.001**0.5, 1e-8, -0.01)
    cases = {
        "bias_relu": (lambda: CK.run("bias_relu", z, b), lambda: CK.REFERENCES["bias_relu"](z, b, xp=xp)),
        "adam_update": (
            lambda: CK.run("adam_update", g, *consts, p, m, v),
            lambda: CK.REFERENCES["adam_update"](g, *consts, p, m, v, xp=xp),
        ),
    }
    out = {}
    for name, (fused, generic) in cases.items():
        t = {}
        for label, fn in (("fused_us", fused), ("generic_us", generic)):
            fn()
            cupy.cuda.get_current_stream().synchronize()
            t0 = time.perf_counter()
            for _ in range(50):
                fn()
            cupy.cuda.get_current_stream().synchronize()
            t[label] = (time.perf_counter() - t0) / 50 * 1e6
        t["speedup"] = t["generic_us"] / t["fused_us"]
        out[name] = t
    return out


# --- the benchmark ------------------------------------------------------------------------------


def _sync(lib: str):
    if lib == "cupy":
        import cupy

        return cupy.cuda.get_current_stream().synchronize
    import torch

    return torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)


def _best(fn, sync, reps: int) -> float:
    fn()  # warm-up: kernels compiled, pools filled
    sync()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


def _xpnet(backend_name: str, device: str, sizes, batch, n, precision, reps):
    """xpnet's step on a backend: (seconds per epoch, peak bytes) or a reason string."""
    import numpy as np

    from xpnet import get_backend, mlp
    from xpnet.losses import MSE, SoftmaxCrossEntropy
    from xpnet.optim import sgd
    from xpnet.training import make_train_step

    b = get_backend(backend_name, device=device)
    rng = np.random.default_rng(0)
    toy = sizes == TOY
    Xh = rng.standard_normal((n, sizes[0])).astype(np.float32)
    yh = rng.random((n, 1)).astype(np.float32) if toy else rng.integers(0, sizes[-1], n)
    X = b.asarray(Xh, "float32")
    y = b.asarray(yh, "float32") if toy else b.xp.asarray(yh, device=b.device)
    model = mlp(sizes, activation="sigmoid" if toy else "relu", backend=b, seed=0)
    step = make_train_step(model, MSE() if toy else SoftmaxCrossEntropy(), sgd(LR), precision=precision)
    box = [step.init_state()]

    def epoch():
        s = box[0]
        for a in range(0, n, batch):
            _, _, s = step(X[a : a + batch, ...], y[a : a + batch, ...] if toy else y[a : a + batch], s)
        box[0] = s

    lib = "cupy" if backend_name == "cupy" else "torch"
    if lib == "cupy":
        import cupy

        pool = cupy.get_default_memory_pool()
        t = _best(epoch, _sync(lib), reps)
        peak = pool.total_bytes()
    else:
        import torch

        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        t = _best(epoch, _sync(lib), reps)
        peak = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None
    return t, peak


def _torch_eager(device: str, sizes, batch, n, bf16: bool, reps):
    import numpy as np
    import torch

    rng = np.random.default_rng(0)
    toy = sizes == TOY
    X = torch.from_numpy(rng.standard_normal((n, sizes[0])).astype(np.float32)).to(device)
    y = (
        torch.from_numpy(rng.random((n, 1)).astype(np.float32)).to(device)
        if toy
        else torch.from_numpy(rng.integers(0, sizes[-1], n)).to(device)
    )
    layers = []
    for i, (a, c) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(torch.nn.Linear(a, c))
        if i < len(sizes) - 2:
            layers.append(torch.nn.Sigmoid() if toy else torch.nn.ReLU())
    net = torch.nn.Sequential(*layers).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    crit = torch.nn.MSELoss() if toy else torch.nn.CrossEntropyLoss()
    dev_type = "cuda" if str(device).startswith("cuda") else "cpu"

    def epoch():
        for a in range(0, n, batch):
            opt.zero_grad(set_to_none=True)
            with torch.autocast(dev_type, dtype=torch.bfloat16, enabled=bf16):
                loss = crit(net(X[a : a + batch]), y[a : a + batch])
            loss.backward()
            opt.step()

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    t = _best(epoch, _sync("torch"), reps)
    return t, (torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None)


def _matmul_rate(lib: str, device: str, sizes, batch, steps, bf16: bool, reps) -> float:
    """Seconds the library's own matmuls take for exactly one epoch's step matmuls, back to back."""
    shapes = []
    for i, (a, c) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        shapes += [(batch, a, c), (a, batch, c)] + ([(batch, c, a)] if i > 0 else [])
    if lib == "cupy":
        import cupy

        dt = cupy.float32
        mats = [(cupy.ones((m, k), dt), cupy.ones((k, q), dt)) for m, k, q in shapes]
    else:
        import torch

        dt = torch.bfloat16 if bf16 else torch.float32
        mats = [
            (torch.ones((m, k), dtype=dt, device=device), torch.ones((k, q), dtype=dt, device=device))
            for m, k, q in shapes
        ]
    return _best(lambda: [A @ B for _ in range(steps) for A, B in mats], _sync(lib), reps), shapes


def bench(dry: bool, reps: int, deadline: float) -> list[dict]:
    gpu_dev = "cpu" if dry else "cuda"
    libs = [("numpy", None)] if dry else [("cupy", None)]
    libs.append(("torch", gpu_dev))
    n_big = 2048 if dry else 65536
    configs = []
    for precision in (None, "mixed-bf16"):
        for batch in (256, 1024, 4096) if not dry else (256,):
            configs.append((BIG if not dry else [784, 64, 64, 10], batch, n_big, precision))
    configs.append((MID if not dry else [784, 32, 32, 10], 128, 32768 if not dry else 1024, None))
    configs.append((TOY, 4, 4 * (2000 if not dry else 50), None))
    rows = []
    for sizes, batch, n, precision in configs:
        if time.perf_counter() > deadline:
            rows.append({"config": f"{sizes} batch {batch} {precision or 'float32'}", "skipped": "out of time"})
            continue
        bf16 = precision == "mixed-bf16"
        row = {"sizes": "-".join(map(str, sizes)), "batch": batch, "samples": n, "precision": precision or "float32"}
        try:
            t_ref, mem_ref = _torch_eager(gpu_dev, sizes, batch, n, bf16, reps)
            row["torch_eager"] = {"samples_per_s": n / t_ref, "peak_bytes": mem_ref}
        except Exception as exc:
            row["torch_eager"] = {"error": f"{type(exc).__name__}: {exc}"}
            t_ref = None
        for lib, dev in libs:
            key = f"xpnet_{lib}"
            if dry and lib == "numpy" and bf16:
                row[key] = {"refused": "numpy has no bfloat16 (the refusal the CLI gives)"}
                continue
            try:
                t, mem = _xpnet(lib, dev if dev else ("cpu" if dry else "gpu"), sizes, batch, n, precision, reps)
                entry = {"samples_per_s": n / t, "peak_bytes": mem}
                if t_ref:
                    entry["ratio_to_torch"] = t_ref / t
                if sizes != TOY and lib != "numpy":
                    t_mm, shapes = _matmul_rate(
                        lib, dev or "cuda", sizes, batch, n // batch, bf16 and lib == "torch", reps
                    )
                    flops = 2 * sum(m * k * q for m, k, q in shapes) * (n // batch)
                    entry.update(matmul_tflops_step=flops / t / 1e12, matmul_fraction=t_mm / t)
                if mem is not None and row["torch_eager"].get("peak_bytes"):
                    entry["peak_over_torch"] = mem / row["torch_eager"]["peak_bytes"]
                row[key] = entry
            except Exception as exc:  # e.g. CuPy without bfloat16: recorded, the next one runs
                row[key] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def markdown(res: dict) -> str:
    lines = [f"# gpu_check {res['date']}{' (dry run on the CPU)' if res['dry_run'] else ''}", ""]
    lines.append("Versions: " + ", ".join(f"{k}={v}" for k, v in res["versions"].items()))
    lines += [
        "",
        "## Suite",
        "",
        "| run | passed | failed | errors | skipped | seconds | command |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in res.get("suite", {}).items():
        c = s.get("counts", {})
        lines.append(
            f"| {name} | {c.get('passed', 0)} | {c.get('failed', 0)} | {c.get('error', c.get('errors', 0))} | "
            f"{c.get('skipped', 0)} | {s.get('seconds')} | `{s.get('command')}` |"
        )
    lines += ["", "## Model file across devices", "", "```", json.dumps(res.get("checkpoint"), indent=1), "```"]
    lines += ["", "## Fused kernels (us per call)", "", "```", json.dumps(res.get("kernels"), indent=1), "```"]
    lines += [
        "",
        "## Benchmark",
        "",
        "| net | batch | precision | contender | samples/s | ratio to torch | matmul fraction | peak MiB "
        "| peak / torch |",
    ]
    lines.append("|---|---|---|---|---|---|---|---|---|")

    def f(v, spec=".3g"):
        return "-" if v is None else format(v, spec)

    for r in res.get("bench", []):
        if "skipped" in r:
            lines.append(f"| {r['config']} | | | skipped: {r['skipped']} | | | | | |")
            continue
        for key in [k for k in r if k.startswith(("xpnet_", "torch_"))]:
            e = r[key]
            if "samples_per_s" not in e:
                lines.append(f"| {r['sizes']} | {r['batch']} | {r['precision']} | {key} | {e} | | | | |")
                continue
            mib = None if e.get("peak_bytes") is None else e["peak_bytes"] / 2**20
            lines.append(
                f"| {r['sizes']} | {r['batch']} | {r['precision']} | {key} | {f(e['samples_per_s'], '.4g')} | "
                f"{f(e.get('ratio_to_torch'))} | {f(e.get('matmul_fraction'))} | {f(mib, '.1f')} | "
                f"{f(e.get('peak_over_torch'))} |"
            )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "/tmp/gpu_check")))
    p.add_argument("--dry-run", action="store_true", help="on the CPU: NumPy and torch CPU, tiny sizes")
    p.add_argument("--budget-s", type=float, default=450.0, help="stop starting parts after this (default 450)")
    p.add_argument("--only", default="suite,checkpoint,kernels,bench")
    p.add_argument("--reps", type=int, default=3)
    a = p.parse_args(argv)
    parts = {s.strip() for s in a.only.split(",") if s.strip()}
    bad = parts - {"suite", "checkpoint", "kernels", "bench"}
    if bad:
        p.error(f"--only: unknown part(s) {', '.join(sorted(bad))}")
    a.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    res = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "dry_run": a.dry_run,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "versions": versions(),
    }

    def save():
        res["seconds"] = round(time.perf_counter() - start, 1)
        (a.out / "results.json").write_text(json.dumps(res, indent=1, default=str))
        (a.out / "results.md").write_text(markdown(res))

    save()
    # the order: what must be known first; the suite gets about half the budget
    if "checkpoint" in parts:
        if a.dry_run:
            res["checkpoint"] = checkpoint_round_trip(["numpy", "torch"], device="cpu")
        else:
            res["checkpoint"] = checkpoint_round_trip(["cupy", "torch"])
        save()
    if "kernels" in parts:
        try:
            res["kernels"] = kernel_timing(a.dry_run)
        except Exception as exc:
            res["kernels"] = {"error": f"{type(exc).__name__}: {exc}"}
        save()
    if "bench" in parts:
        res["bench"] = bench(a.dry_run, a.reps, start + a.budget_s * 0.45)
        save()
    if "suite" in parts:
        left = a.budget_s - (time.perf_counter() - start)
        res["suite"] = suite(a.dry_run, a.out, max(left, 30))
        save()
    print(markdown(res))
    print(f"wrote {a.out / 'results.json'} and results.md in {res['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
