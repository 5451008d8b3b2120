"""Issue 17: Hessians of many points on a Dask cluster, against the single-process batched call.

Run: python benchmarks/dask_throughput.py [--problems rosenbrock logistic] [--points N ...]
[--chunk 250000] [--repeat 3] [--out DIR]

Throughput (points per second) of ``f.hessian`` over a Dask array of points (chunked along the
batch axis, generated and persisted on the cluster before timing) for two problems at the two
ends of the range: Rosenbrock n = 4 (16 doubles of Hessian per point in about 10 ns: bound by
writing the Hessians to memory) and a Laplace approximation's Hessian, the logistic regression
NLL with 10 weights and 50 samples read from the closure (about 2 us per point: bound by the
arithmetic), on a
``LocalCluster`` of 1 and of 2 worker processes (one thread each, loopback), against the
in-process batched call ``f.hessian(X)`` (Numba's kernels) with 1 thread and with every thread,
and against the in-process call block by block (the cluster's chunks).  Every Hessian is
computed and summed over the batch axis where it was computed (``H.sum(axis=0)``, the same in
process), so that the comparison is of evaluation, not of moving 16 doubles per point to the
client; each timing is the best of ``--repeat``.

Then the first task of a worker that receives a compiled function of Rosenbrock n = 1,000: the
worker (symhess already imported) unpickles it and evaluates one Hessian, timed inside the task,
and the same evaluation again (the evaluation itself).

Writes ``dask_throughput.md`` and ``.json`` in ``--out`` (``benchmarks/results``), with the
machine's load and the processes using the CPU at the start (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def best(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def logistic_laplace():
    """The Hessian of a logistic regression's NLL (10 weights, 50 samples in the closure), which a
    Laplace approximation evaluates at each point: arithmetic, not memory, bounds its throughput."""
    rng = np.random.default_rng(1)
    A, y = rng.normal(size=(50, 10)), (rng.uniform(size=50) < 0.5).astype(float)

    def nll(w):
        z = A @ w
        return np.sum(np.logaddexp(0, z) - y * z) + 0.5 * w @ w
    return nll


def rosenbrock():
    from scipy.optimize import rosen

    return rosen


PROBLEMS = {  # name: (function, n, description, default points, default chunk)
    "rosenbrock": (rosenbrock, 4, "Rosenbrock n = 4 (memory-bound)", (1e6, 1e7), 250_000),
    "logistic": (logistic_laplace, 10, "logistic NLL, 10 weights, 50 samples in the closure (arithmetic-bound)",
                 (1e6,), 50_000),
}


def in_process(f, points: int, chunk: int, repeat: int) -> dict:
    import numba

    X = np.random.default_rng(0).uniform(-1, 1, (points, f._square[0]))
    f.hessian(X[:1000])
    result = {}
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        result[f"batch_{threads}_threads"] = best(lambda: f.hessian(X).sum(axis=0), repeat)
        result[f"blocks_{threads}_threads"] = best(
            lambda: sum(f.hessian(X[k:k + chunk]).sum(axis=0) for k in range(0, points, chunk)), repeat)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    return result


def on_cluster(f, points: int, chunk: int, repeat: int, workers: int) -> float:
    import dask.array as da
    from distributed import Client, LocalCluster, wait

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=40) as cluster, Client(cluster) as client:
        client.run(lambda: bool(__import__("symhess")))  # each worker imports symhess once, before timing
        n = f._square[0]
        X = da.random.default_rng(0).uniform(-1, 1, (points, n), chunks=(chunk, n)).persist()
        wait(X)
        total = f.hessian(X).sum(axis=0)
        total.compute()  # the function reaches the workers
        return best(total.compute, repeat)


def first_task(repeat: int) -> dict:
    """A worker's first Hessian of Rosenbrock n = 1,000 after receiving the compiled function."""
    from distributed import Client, LocalCluster
    from scipy.optimize import rosen

    import symhess

    f = symhess.compile(rosen, np.zeros(1000))
    data = pickle.dumps(f)
    x = np.linspace(-1, 1, 1000)
    runs = []
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=40) as cluster, Client(cluster) as client:
        client.run(lambda: bool(__import__("symhess")))
        for _ in range(repeat):
            runs.append(client.submit(_receive_and_evaluate, data, x, pure=False).result())
    runs.sort(key=lambda run: run["unpickle"] + run["first"])
    return {"bytes": len(data), **runs[len(runs) // 2], "runs": runs}


def _receive_and_evaluate(data: bytes, x) -> dict:
    start = time.perf_counter()
    g = pickle.loads(data)
    unpickled = time.perf_counter()
    H = g.hessian(x)
    first = time.perf_counter()
    g.hessian(x)
    again = time.perf_counter()
    from symhess import travel

    return {"unpickle": unpickled - start, "first": first - unpickled, "evaluation": again - first,
            "from_source": travel.compilations(), "checksum": float(H.sum())}


def machine() -> dict:
    top = subprocess.run(["ps", "-eo", "pcpu,etime,args", "--sort=-pcpu"], capture_output=True, text=True,
                         check=False).stdout.splitlines()[:8]
    return {"load": os.getloadavg(), "cpus": os.cpu_count(), "top": [line[:150] for line in top]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", choices=sorted(PROBLEMS), default=list(PROBLEMS))
    parser.add_argument("--points", type=float, nargs="+", help="points (default: per problem)")
    parser.add_argument("--chunk", type=int, help="points per chunk (default: per problem)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    import symhess

    start_machine = machine()
    rows = []
    for problem in args.problems:
        function, n, _, default_points, default_chunk = PROBLEMS[problem]
        chunk = args.chunk or default_chunk
        f = symhess.compile(function(), np.zeros(n))
        f.wait_for_jit()
        for points in map(int, args.points or default_points):
            row = {"problem": problem, "points": points, "chunk": chunk, **in_process(f, points, chunk, args.repeat)}
            for workers in (1, 2):
                row[f"cluster_{workers}"] = on_cluster(f, points, chunk, args.repeat, workers)
            rows.append(row)
            print(json.dumps(row), flush=True)
    latency = first_task(args.repeat + 2)
    print(json.dumps({key: value for key, value in latency.items() if key != "runs"}), flush=True)
    result = {"rows": rows, "first_task": latency, "machine_before": start_machine, "machine_after": machine(),
              "repeat": args.repeat, "python": sys.version.split()[0]}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "dask_throughput.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    (args.out / "dask_throughput.md").write_text(report(result), encoding="utf-8")
    print(report(result))


def report(result: dict) -> str:
    lines = ["# Hessians over a Dask array: throughput on a LocalCluster (issue 17)", "",
             "`f.hessian(X).sum(axis=0)`, best of "
             f"{result['repeat']}; million points per second (Mpts/s). Problems: "
             + "; ".join(f"{name}: {PROBLEMS[name][2]}" for name in dict.fromkeys(r["problem"] for r in result["rows"]))
             + ".", "",
             "| problem | points | chunk | in process, 1 thread | in process, all threads | in process by blocks, 1 thread "
             "| cluster, 1 worker | cluster, 2 workers | 2 workers / 1 worker | 1 worker / in process (1 thread) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in result["rows"]:
        rate = {key: row["points"] / value / 1e6 for key, value in row.items()
                if key not in ("problem", "points", "chunk")}
        threads = max(int(key.split("_")[1]) for key in row if key.startswith("batch_"))
        lines.append(f"| {row['problem']} | {row['points']:,} | {row['chunk']:,} | {rate['batch_1_threads']:.2f} "
                     f"| {rate[f'batch_{threads}_threads']:.2f} "
                     f"| {rate['blocks_1_threads']:.2f} | {rate['cluster_1']:.2f} | {rate['cluster_2']:.2f} "
                     f"| {rate['cluster_2'] / rate['cluster_1']:.2f}x "
                     f"| {rate['cluster_1'] / rate['batch_1_threads']:.2f}x |")
    first = result["first_task"]
    lines += ["", "A worker's first task after receiving Rosenbrock n = 1,000 "
              f"({first['bytes'] / 1e3:.0f} kB pickled; median of {len(first['runs'])}): unpickle "
              f"{first['unpickle'] * 1e3:.1f} ms, first Hessian {first['first'] * 1e3:.2f} ms, the same Hessian "
              f"again {first['evaluation'] * 1e3:.2f} ms; compiled from source: {first['from_source']}.", "",
              f"Machine: {result['machine_before']['cpus']} CPUs, load average before "
              f"{', '.join(f'{v:.2f}' for v in result['machine_before']['load'])}, after "
              f"{', '.join(f'{v:.2f}' for v in result['machine_after']['load'])}. Processes using the CPU at the start:",
              "", "```", *result["machine_before"]["top"], "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
