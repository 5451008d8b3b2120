"""The tier-up: how long until a compiled function runs at its final speed, and what calls cost meanwhile.

Run: python benchmarks/tier_up.py [--only PROBLEM ...] [--interval MS] [--out DIR]

``symhess.compile`` returns on tier 0 (LLVM's kernels called through ctypes) and switches to
the Numba kernels when they are ready.  Each problem is measured in new processes (``--worker``),
first with an empty cache (cold: the symbolic stages, tier 0 and Numba's compilation), then
with the same cache (warm: everything loaded).  A worker calls ``f.hessian(x)`` every
``--interval`` milliseconds from the start of ``compile`` until three seconds after the
switch, timing each call; the steady state is the median of the calls from a second after the
switch (then 2,000 calls in a row are timed too).  A last process
compiles with an empty cache and exits at once: how long its exit waits.

Writes ``benchmarks/results/tier_up.md`` and ``tier_up.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from problems import by_key  # noqa: E402 - the benchmark modules live beside this script

RESULTS = HERE / "results"
PROBLEMS = ("lennard_jones-13", "lennard_jones-38", "rosenbrock-1000")
TAIL = 3.0           # seconds of sampling after the switch
SETTLE = 1.0         # the steady state: samples from this long after the switch
HORIZON = 300.0      # give up sampling after this many seconds
STEADY_CALLS = 2000
PAIRS = 500          # calls of each tier in turn, after the switch


def point(problem) -> np.ndarray:
    """The problem's test point; a Lennard-Jones cluster beyond 13 atoms on a cubic lattice (spacing 1.1), jittered."""
    if problem.family != "lennard_jones" or problem.size <= 13:
        return problem.sample()
    side = int(np.ceil(problem.size ** (1 / 3)))
    grid = np.stack(np.meshgrid(*[np.arange(side)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)[:problem.size]
    return (1.1 * grid + 0.05 * np.random.default_rng(0).normal(size=grid.shape)).reshape(-1)


def worker(key: str, interval: float, exit_at_once: bool) -> dict:
    problem = by_key(key)
    x = point(problem)
    func = problem.function("numpy")
    import symhess

    start = time.perf_counter()
    f = symhess.compile(func, x)
    returned = time.perf_counter() - start
    if exit_at_once:
        return {"returned": returned}
    first = f.hessian(x)
    samples, switched, exact = [], None, True
    while True:
        before = time.perf_counter()
        h = f.hessian(x)
        after = time.perf_counter()
        samples.append((before - start, after - before))
        exact = exact and np.array_equal(h, first)
        if switched is None and f.wait_for_jit(0):
            switched = time.perf_counter() - start
        if (switched is not None and before - start > switched + TAIL) or before - start > HORIZON:
            break
        pause = interval - (time.perf_counter() - before)
        if pause > 0:
            time.sleep(pause)
    steady = []
    for _ in range(STEADY_CALLS):
        before = time.perf_counter()
        h = f.hessian(x)
        steady.append(time.perf_counter() - before)
    exact = exact and np.array_equal(h, first)
    settled = [seconds for at, seconds in samples if switched is not None and at > switched + SETTLE]
    return {"returned": returned, "switched": switched, "samples": samples,
            "steady": float(np.median(settled)) if settled else float("nan"), "tight": float(np.median(steady)),
            "exact": bool(exact), "cache_hit": f.stats["cache_hit"], **side_by_side(f, x, interval)}


def side_by_side(f, x, interval: float) -> dict:
    """Tier 0's ``hessian_into`` against the final kernels', called in turn in the same seconds after
    the switch (what the machine does meanwhile touches both alike): medians of the ratio, calls
    spaced by ``interval`` and in a tight loop."""
    tiers = f._built.module
    if switched_kernels(f) is None or not hasattr(tiers, "native"):
        return {}
    square = f._square
    pairs = {"spaced": [], "tight": []}
    for kind, count in (("spaced", PAIRS), ("tight", PAIRS)):
        for k in range(count):
            times = []
            for kernels in ((tiers.native, f._kernels) if k % 2 else (f._kernels, tiers.native)):
                out = np.zeros(square)
                before = time.perf_counter()
                kernels.hessian_into(x, out)
                times.append(time.perf_counter() - before)
                if kind == "spaced":
                    time.sleep(interval)
            pairs[kind].append(times[0] / times[1] if k % 2 else times[1] / times[0])  # tier 0 over final
    return {"tier0_spaced": float(np.median(pairs["spaced"])), "tier0_tight": float(np.median(pairs["tight"]))}


def switched_kernels(f):
    """The final kernels' ``hessian_into`` (None for a function with parameters, which has none)."""
    return getattr(f._kernels, "hessian_into", None) if f._has_points else None


def in_new_process(key: str, cache: Path, interval: float, exit_at_once: bool = False) -> dict:
    """One worker's results; with ``exit_at_once`` also how long its exit took after it printed them."""
    env = dict(os.environ, SYMHESS_CACHE_DIR=str(cache))
    command = [sys.executable, __file__, "--worker", key, "--interval", str(interval * 1000)]
    if exit_at_once:
        command.append("--exit-at-once")
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True, encoding="utf-8")
    line = process.stdout.readline()
    printed = time.perf_counter()
    process.wait(timeout=HORIZON)
    exited = time.perf_counter()
    if process.returncode != 0 or not line:
        raise RuntimeError(f"the worker for {key} failed (exit status {process.returncode})")
    result = json.loads(line)
    result["exit_wait"] = exited - printed
    return result


def summary(result: dict) -> dict:
    """Per-call costs while tier 0 served (from ``compile``'s return to the switch), as multiples of the steady state."""
    steady = result["steady"]
    switched = result["switched"] if result["switched"] is not None else float("inf")
    during = np.array([seconds for at, seconds in result["samples"] if at < switched])
    if not during.size:
        during = np.array([np.nan])
    return {"returned": result["returned"], "switched": result["switched"], "steady_us": steady * 1e6,
            "tight_us": result["tight"] * 1e6,
            "calls_before_switch": int(np.isfinite(during).sum()),
            "median": float(np.median(during) / steady), "p99": float(np.percentile(during, 99) / steady),
            "max": float(np.max(during) / steady), "over_2x": float(np.mean(during > 2 * steady)),
            "exact": result["exact"], "cache_hit": result["cache_hit"],
            "tier0_spaced": result.get("tier0_spaced", float("nan")), "tier0_tight": result.get("tier0_tight", float("nan"))}


def measure(keys, interval: float) -> dict:
    results = {}
    for key in keys:
        with tempfile.TemporaryDirectory(prefix="symhess-tier-up-") as work:
            cache = Path(work)
            runs = {}
            for state in ("cold", "warm"):
                print(f"{key} {state} ...", flush=True)
                raw = in_new_process(key, cache, interval)
                runs[state] = {"summary": summary(raw), "raw": raw}
        with tempfile.TemporaryDirectory(prefix="symhess-tier-up-") as work:
            print(f"{key} exit ...", flush=True)
            runs["exit"] = in_new_process(key, Path(work), interval, exit_at_once=True)
        results[key] = runs
    return results


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True,
                              encoding="utf-8", check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def table(results: dict) -> str:
    lines = ["| problem | cache | `compile` returned (s) | steady state from (s) | steady Hessian (µs) | "
             "tight loop (µs) | calls before | median × | 99th percentile × | max × | calls over 2× | both tiers equal | "
             "exit waited (s) | tier 0 ÷ final, spaced | tier 0 ÷ final, tight |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, runs in results.items():
        for state in ("cold", "warm"):
            s = runs[state]["summary"]
            switched = f"{s['switched']:.2f}" if s["switched"] is not None else "never"
            exit_wait = f"{runs['exit']['exit_wait']:.2f}" if state == "cold" else ""
            lines.append(f"| {key} | {state} | {s['returned']:.2f} | {switched} | {s['steady_us']:.1f} | "
                         f"{s['tight_us']:.1f} | "
                         f"{s['calls_before_switch']} | {s['median']:.2f} | {s['p99']:.2f} | {s['max']:.1f} | "
                         f"{100 * s['over_2x']:.0f}% | {'yes' if s['exact'] else 'NO'} | {exit_wait} | "
                         f"{s['tier0_spaced']:.2f} | {s['tier0_tight']:.2f} |")
    return "\n".join(lines)


def write(results: dict, interval: float, out: Path, seconds: float) -> None:
    out.mkdir(parents=True, exist_ok=True)
    header = (f"# symhess tier-up\n\n`python benchmarks/tier_up.py` ({seconds:.0f} s), symhess at commit "
              f"{_commit()}, {os.cpu_count()} CPUs, load average at the end "
              f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}.\n\n"
              f"Each row is a new process. It calls `f.hessian(x)` every {interval * 1000:.0f} ms from the start of "
              "`symhess.compile` until three seconds after the compiled object switched to its final (Numba) kernels, "
              "timing each call; *steady state from* is that switch, *steady Hessian* the median of the calls "
              f"made the same way from {SETTLE:.0f} s after it, *tight loop* the median of {STEADY_CALLS} calls in a row "
              "after that (calls spaced out by sleeps find colder caches).\n\n"
              "The multiples are of the per-call cost from `compile`'s return to the switch, relative to the "
              "steady state (the goal: at most 2×). *Exit waited*: a process that compiles "
              "with an empty cache and returns at once, the time from its last output to its exit. "
              f"*Tier 0 ÷ final*: after the steady state, {PAIRS} calls of tier 0's `hessian_into` and as many of the "
              "final kernels', in turn (spaced as above, then in a tight loop): the median ratio, which the "
              "machine's other work touches alike.\n\n")
    (out / "tier_up.md").write_text(header + table(results) + "\n", encoding="utf-8")
    (out / "tier_up.json").write_text(json.dumps({"interval": interval, "results": results}, indent=1),
                                      encoding="utf-8")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=list(PROBLEMS))
    parser.add_argument("--interval", type=float, default=2.0, help="milliseconds between calls")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--exit-at-once", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    interval = args.interval / 1000
    if args.worker:
        print(json.dumps(worker(args.worker, interval, args.exit_at_once)), flush=True)
        return
    started = time.perf_counter()
    results = measure(args.only, interval)
    write(results, interval, args.out, time.perf_counter() - started)
    print(table(results), flush=True)


if __name__ == "__main__":
    main()
