"""The benchmark suite: symhess beside its references, measured in the same run.

Run: python benchmarks/run.py [--quick] [--issue12] [--only PROBLEM ...] [--skip-compile] [--timeout SECONDS]
                               [--compile-timeout SECONDS]

Writes ``benchmarks/results/benchmarks.md`` (one table per metric, with ratios),
``benchmarks.json`` (every raw number) and the plots ``benchmarks/results/*.png``,
which the documentation's performance page includes.

Metrics, per problem of ``problems.py`` (``--only`` takes a family or a ``family-size``):

* compile: new processes (``workers.py``) with an empty then the same symhess cache;
  JAX's first call, CasADi's build, torch's and the hand-written kernels' first calls
  in new processes too; each capped at ``--timeout`` seconds (reported as a timeout);
* peak memory: the peak resident size of each of those processes;
* per-call latency of the Hessian and the hvp from Python, this process, best of
  several repeats of many calls after a warm-up, for every tool of ``references.py``;
* batched throughput: Hessians per second at 10,000 points (problems with n <= 64);
* correctness: the largest difference to the hand-written kernel, relative to its
  largest entry;
* logistic regression with its samples as runtime data, and the sparse Hessian of
  Rosenbrock at n = 10,000 when symhess offers one;
* issue 12's problems (``problems.issue12_problems``: Lennard-Jones 38 and 100 in plain NumPy,
  logistic 500 x 40 with data from the closure or as inputs outside ``wrt``, ``(A x)^4`` at
  n = 60 and 200, MLPs 4-10-1, 8-24-1 and 10-50-1), every measurement of them in a new process
  with a timeout (``--compile-timeout`` for compiles, ``--timeout`` for per-call processes), and
  the Newton loop on 50 new batches of data (``--only newton_loop``).  ``--issue12`` runs these
  alone (tens of minutes when compiles time out); the full run includes them, ``--quick`` not.

Tools whose library is missing are skipped and listed as such.  Run it on a checkout
nobody is editing: symhess's cache key includes its own sources, so an edit between the
cold and the warm process turns the warm one cold (the report marks such cache misses).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import timeit
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import references as refs  # noqa: E402 - the benchmark modules live beside this script
from problems import Problem, by_key, issue12_problems, logistic_problem, problems, rosenbrock_problem  # noqa: E402
from workers import DENSE_LIMIT  # noqa: E402
from workers import LATENCY_GROUPS as WORKER_GROUPS  # noqa: E402

RESULTS = HERE / "results"
BATCH_POINTS = 10_000
BATCH_LIMIT = 64           # 10,000 Hessians of n = 64 are 330 MB
RUNTIME_SAMPLES = {True: 20, False: 10_000}  # logistic regression with runtime data, --quick or not
SPARSE_SIZE = {True: 1000, False: 10_000}
COMPILE_TOOLS = ("handwritten", "jax", "casadi", "torch")
COMPILE_LIBRARY = {"jax": "jax", "casadi": "casadi", "torch": "torch"}


# ----- timing ------------------------------------------------------------------------
def background_compilations_done() -> None:
    """Wait for symhess's background Numba compilations (the drop-in API's first calls start
    them): on a two-core machine one takes a core from whatever is measured meanwhile, and
    a parallel batch measured beside it ran slower than on one thread."""
    for thread in threading.enumerate():
        if thread.name == "symhess-numba":
            thread.join()


def seconds_per_call(call, budget: float, repeat: int) -> float:
    """Best of ``repeat`` runs of as many calls as fit in ``budget / repeat`` seconds, after a warm-up."""
    call()
    background_compilations_done()
    once = timeit.timeit(call, number=1)
    number = max(1, int(budget / repeat / max(once, 1e-7)))
    return min(timeit.repeat(call, number=number, repeat=repeat)) / number


def relative_difference(result, reference) -> float:
    result, reference = np.asarray(result, dtype=float), np.asarray(reference, dtype=float)
    return float(np.max(np.abs(result - reference)) / max(np.max(np.abs(reference)), 1e-300))


# ----- new-process measurements ------------------------------------------------------
def run_worker(arguments: list[str], cache: Path, timeout: float) -> dict:
    """``workers.py *arguments`` with ``cache`` as symhess's cache: its last JSON line, or why there is none.

    A worker that printed a line and then ran out of time (waiting for symhess's Numba kernels)
    keeps that line's measurements, marked ``late``.
    """
    env = dict(os.environ, SYMHESS_CACHE_DIR=str(cache))
    try:
        done = subprocess.run([sys.executable, str(HERE / "workers.py"), *arguments], env=env, timeout=timeout,
                              capture_output=True, text=True)
    except subprocess.TimeoutExpired as late:
        output = late.stdout.decode("utf-8", "replace") if isinstance(late.stdout, bytes) else late.stdout or ""
        lines = [line for line in output.strip().splitlines() if line.startswith("{")]
        if lines:
            return {"status": "ok", **json.loads(lines[-1]), "late": timeout}
        return {"status": "timeout", "timeout": timeout}
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["(no message)"]
        return {"status": "error", "message": lines[-1][:300]}
    return {"status": "ok", **json.loads(done.stdout.strip().splitlines()[-1])}


def in_new_process(tool: str, key: str, cache: Path, timeout: float) -> dict:
    """Run ``workers.py tool key`` with ``cache`` as symhess's cache; its phases, or why there are none."""
    result = run_worker([tool, key], cache, timeout)
    if result["status"] == "ok":
        result["first_call"] = result.get("first_hessian", result.get("first_hvp"))
        result["total"] = result.get("build", 0.0) + result["first_call"]
    return result


def compile_measurements(problem: Problem, cache: Path, timeout: float) -> dict:
    """symhess cold then warm (same cache), the drop-in's first calls, and every reference's first call."""
    cache.mkdir(parents=True, exist_ok=True)
    found = {"symhess cold": in_new_process("symhess", problem.key, cache, timeout)}
    if found["symhess cold"]["status"] == "ok":
        found["symhess warm"] = in_new_process("symhess", problem.key, cache, timeout)
    if found["symhess cold"]["status"] != "timeout" and not problem.data_as_inputs:  # it would time out again
        found["symhess.hessian first"] = in_new_process("symhess-dropin", problem.key, cache / "dropin", timeout)
    for tool in COMPILE_TOOLS:
        if refs.installed(COMPILE_LIBRARY.get(tool, "numba")):
            found[tool] = in_new_process(tool, problem.key, cache / tool, timeout)
    return found


def ok(measurement: dict | None) -> bool:
    return measurement is not None and measurement.get("status") == "ok"


# ----- same-process measurements ------------------------------------------------------
def batch_points(problem: Problem, count: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    return np.stack([problem.point(rng, problem.size) for _ in range(count)])


def prepared_calls(problem: Problem, cache: Path, compiled_ok: bool, dropin_ok: bool, x, v, X) -> dict:
    """Every available tool's :class:`references.Calls`, or the reason it is missing.

    symhess finds the kernels the new processes compiled (``$SYMHESS_CACHE_DIR`` is read
    at each compile), so nothing is compiled here without a timeout guarding it.
    """
    tools = {refs.HANDWRITTEN: refs.handwritten(problem, x, v, X)}
    tools[refs.HANDWRITTEN_ONE_THREAD] = refs.one_thread(tools[refs.HANDWRITTEN])
    if compiled_ok:
        import symhess

        os.environ["SYMHESS_CACHE_DIR"] = str(cache)
        compiled = symhess.compile(problem.function("numpy"), x)
        compiled.wait_for_jit()  # per-call speed is the Numba tier's (tier 0 serves the first second or so)
        tools[refs.SYMHESS] = refs.symhess_compiled(compiled, x, v, X)
        tools[refs.SYMHESS_ONE_THREAD] = refs.one_thread(tools[refs.SYMHESS])
        tools[refs.SYMHESS_BUFFER] = refs.symhess_buffer(compiled, x, v)
    else:
        tools[refs.SYMHESS] = "symhess.compile did not finish in a new process (see the compile table)"
    for name, build in refs.BUILDERS.items():
        if name in refs.missing():
            continue
        if name in (refs.DROPIN, refs.DROPIN_TORCH) and not dropin_ok:
            tools[name] = "symhess.hessian's first call did not finish in a new process"
            continue
        try:
            tools[name] = build(problem, x, v, X)
            if name in (refs.DROPIN, refs.DROPIN_TORCH):
                os.environ["SYMHESS_CACHE_DIR"] = str(cache / "dropin")
                first_calls(problem, tools[name])
        except Exception as error:
            tools[name] = f"{type(error).__name__}: {str(error)[:200]}"
    return tools


def first_calls(problem: Problem, calls) -> None:
    """Compile (or load) lazily compiled kernels now, while the right cache directory is set."""
    if problem.n <= DENSE_LIMIT:
        calls.hessian()
    calls.hvp()


def expected_results(problem: Problem, reference: refs.Calls) -> dict:
    """The reference's dense Hessian and ``H @ v``, per operation."""
    return {op: getattr(reference, convert)(getattr(reference, op)())
            for op, convert in (("hessian", "dense"), ("hvp", "vector")) if op == "hvp" or problem.n <= DENSE_LIMIT}


def measure_calls(problem: Problem, tools: dict, budget: float, repeat: int,
                  expected: dict | None = None) -> tuple[dict, dict]:
    """Per-call seconds and relative difference to ``expected`` (default: the hand-written kernel's
    results), per operation and tool."""
    expected = expected if expected is not None else expected_results(problem, tools[refs.HANDWRITTEN])
    latency, correctness = {}, {}
    for op, convert in (("hessian", "dense"), ("hvp", "vector")):
        if op not in expected:
            continue
        latency[op], correctness[op] = {}, {}
        for name, calls in tools.items():
            call = getattr(calls, op, None) if not isinstance(calls, str) else None
            if call is None:
                latency[op][name] = calls if isinstance(calls, str) else "not offered"
                continue
            try:
                latency[op][name] = seconds_per_call(call, budget, repeat)
                correctness[op][name] = relative_difference(getattr(calls, convert)(call()), expected[op])
            except Exception as error:
                latency[op][name] = f"{type(error).__name__}: {str(error)[:200]}"
    return latency, correctness


def measure_batch(tools: dict, repeat: int) -> dict:
    """Hessians per second on the whole batch, and the check of its first and last Hessian."""
    reference = tools[refs.HANDWRITTEN]
    expected = reference.hessian_batch()
    found = {}
    for name, calls in tools.items():
        call = getattr(calls, "hessian_batch", None) if not isinstance(calls, str) else None
        if call is None:
            continue
        try:
            call()
            background_compilations_done()
            seconds = min(timeit.repeat(call, number=1, repeat=repeat))
            result = calls.batch_dense(call())
            found[name] = {"seconds": seconds, "per_second": expected.shape[0] / seconds,
                           "difference": max(relative_difference(result[k], expected[k]) for k in (0, -1))}
        except Exception as error:
            found[name] = {"error": f"{type(error).__name__}: {str(error)[:200]}"}
    return found


def run_problem(problem: Problem, args, workdir: Path) -> dict:
    if problem.issue12:
        return run_isolated(problem, args, workdir)
    cache = workdir / problem.key
    result = {"label": problem.label, "family": problem.family, "size": problem.size, "n": problem.n}
    if not args.skip_compile:
        result["compile"] = compile_measurements(problem, cache, args.timeout)
    compiled_ok = args.skip_compile or ok(result["compile"]["symhess cold"])
    dropin_ok = args.skip_compile or ok(result["compile"].get("symhess.hessian first"))
    x, v = problem.sample(), np.random.default_rng(1).normal(size=problem.n)
    X = batch_points(problem, BATCH_POINTS) if problem.n <= BATCH_LIMIT else None
    tools = prepared_calls(problem, cache, compiled_ok, dropin_ok, x, v, X)
    result["latency"], result["correctness"] = measure_calls(problem, tools, args.budget, args.repeat)
    if X is not None:
        result["batch"] = {"points": BATCH_POINTS, "tools": measure_batch(tools, args.repeat)}
    return result


# ----- issue 12's problems: every measurement in a new process, each with a timeout ----------
LATENCY_GROUPS = ("symhess", "jax", "casadi", "torch", "dropin")
GROUP_LIBRARY = {"jax": "jax", "casadi": "casadi", "torch": "torch"}


def run_isolated(problem: Problem, args, workdir: Path) -> dict:
    """Compile and per-call measurements, each in its own process with a timeout (``--compile-timeout``
    for compiles, ``--timeout`` for a per-call process, which loads symhess's kernels from the cache
    the cold process filled and waits for the Numba tier): a slow tool cannot hang the run."""
    cache = workdir / problem.key
    result = {"label": problem.label, "family": problem.family, "size": problem.size, "n": problem.n,
              "issue12": True}
    if not args.skip_compile:
        result["compile"] = compile_measurements(problem, cache, args.compile_timeout)
    compiled_ok = args.skip_compile or ok(result["compile"]["symhess cold"])
    dropin_ok = args.skip_compile or ok(result["compile"].get("symhess.hessian first"))
    x, v = problem.sample(), np.random.default_rng(1).normal(size=problem.n)
    reference = refs.handwritten(problem, x, v, None)
    expected = expected_results(problem, reference)
    latency, correctness = measure_calls(problem, {refs.HANDWRITTEN: reference}, args.budget, args.repeat, expected)
    reference_file = cache / "expected.npz"
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(reference_file, **expected)
    for group in LATENCY_GROUPS:
        names = (refs.SYMHESS, refs.SYMHESS_BUFFER) if group == "symhess" else WORKER_GROUPS[group]
        if group in GROUP_LIBRARY and not refs.installed(GROUP_LIBRARY[group]):
            continue
        why = None
        if group == "dropin" and problem.data_as_inputs:
            why = "not offered"  # the drop-in API reads the data as the closure problem does
        elif group == "symhess" and not compiled_ok:
            why = "symhess.compile did not finish in a new process (see the compile table)"
        elif group == "dropin" and not dropin_ok:
            why = "symhess.hessian's first call did not finish in a new process"
        if why is None:
            found = run_worker(["latency", group, problem.key, str(args.budget), str(args.repeat), str(reference_file)],
                               cache / "dropin" if group == "dropin" else cache, args.timeout)
            if found["status"] == "ok":
                for op in found["latency"]:
                    latency.setdefault(op, {}).update(found["latency"][op])
                    correctness.setdefault(op, {}).update(found["correctness"].get(op, {}))
                continue
            why = timed_out(found) if found["status"] == "timeout" else f"error: {found['message']}"
        for op in latency:
            latency[op].update(dict.fromkeys(names, why))
    result["latency"], result["correctness"] = latency, correctness
    return result


def timed_out(measurement: dict) -> str:
    return f"timed out after {measurement['timeout']:.0f} s"


def newton_loop(args, workdir: Path) -> dict:
    """Issue 12's batch-by-batch Newton loop, symhess.hessian against torch.autograd.functional.hessian."""
    found = {}
    for tool in ("symhess", "torch"):
        if tool == "torch" and not refs.installed("torch"):
            continue
        cache = workdir / f"newton-{tool}"
        cache.mkdir(parents=True, exist_ok=True)
        found[tool] = run_worker(["newton", tool], cache, args.compile_timeout)
    return found


# ----- the extras: PyTorch's doc examples, runtime data, sparse Hessians ---------------
def doc_examples(args, workdir: Path) -> dict:
    """The drop-in API on PyTorch's doc examples as written, NumPy and torch inputs, against torch."""
    from problems import doc_examples as examples

    os.environ["SYMHESS_CACHE_DIR"] = str(workdir / "doc-examples")
    return {name: {op: {tool: seconds_per_call(call, args.budget, args.repeat) for tool, call in calls.items()}
                   for op, calls in doc_example_calls(func, inputs, v).items()}
            for name, func, inputs, v in examples()}


def doc_example_calls(func, x, v) -> dict:
    """``{op: {tool: call}}``: symhess on NumPy and torch inputs, torch.autograd.functional on torch."""
    import symhess

    calls = {"hessian": {refs.DROPIN: lambda: symhess.hessian(func, x)},
             "hvp": {refs.DROPIN: lambda: symhess.hvp(func, x, v)}}
    if refs.installed("torch"):
        import torch
        from torch.autograd import functional

        xt, vt = (tuple(map(torch.as_tensor, a)) if isinstance(a, tuple) else torch.as_tensor(a) for a in (x, v))
        calls["hessian"] |= {refs.DROPIN_TORCH: lambda: symhess.hessian(func, xt),
                             refs.TORCH_AUTOGRAD: lambda: functional.hessian(func, xt)}
        calls["hvp"] |= {refs.DROPIN_TORCH: lambda: symhess.hvp(func, xt, vt),
                         refs.TORCH_AUTOGRAD: lambda: functional.hvp(func, xt, vt)}
    return calls


def runtime_data(samples: int, args, workdir: Path) -> dict:
    """Logistic regression compiled with ``X, y`` as runtime parameters: cold compile and per call."""
    problem = logistic_problem(samples)
    cache = workdir / f"runtime-{samples}"
    cache.mkdir(parents=True, exist_ok=True)
    found = {"samples": samples, "cold": in_new_process("symhess-runtime", problem.key, cache, args.timeout)}
    if not ok(found["cold"]):
        return found
    from handwritten import kernels
    from problems import logistic_nll, numpy_ops

    import symhess

    os.environ["SYMHESS_CACHE_DIR"] = str(cache)
    (X, y), w = problem.arrays, problem.sample()
    ops = numpy_ops()

    def nll(w, X, y):
        return logistic_nll(w, ops, X, y)

    f = symhess.compile(nll, w, X, y, wrt=0)
    f.wait_for_jit()
    k = kernels(problem)
    found["per_call"] = {refs.SYMHESS: seconds_per_call(lambda: f.hessian(w, X, y), args.budget, args.repeat),
                         refs.HANDWRITTEN: seconds_per_call(lambda: k.hessian(w), args.budget, args.repeat)}
    found["difference"] = relative_difference(f.hessian(w, X, y), k.hessian(w))
    return found


SPARSE_METHODS = ("hessian_values", "hessian_sparse")


def sparse_rosenbrock(n: int, args, workdir: Path) -> dict:
    """symhess's sparse Hessians of chained Rosenbrock against a hand-written tridiagonal and CasADi's non-zeros."""
    from handwritten import kernels, rosenbrock_tridiagonal

    import symhess

    problem = rosenbrock_problem(n)
    missing = [name for name in SPARSE_METHODS if not hasattr(symhess.Compiled, name)]
    if missing:
        return {"n": n, "status": "not available", "looked_for": missing}
    cache = workdir / problem.key
    cache.mkdir(parents=True, exist_ok=True)
    if not ok(in_new_process("symhess", problem.key, cache, args.timeout)):
        return {"n": n, "status": "symhess.compile did not finish in a new process"}
    os.environ["SYMHESS_CACHE_DIR"] = str(cache)
    x, v = problem.sample(), np.random.default_rng(1).normal(size=n)
    f = symhess.compile(problem.function("numpy"), x)
    f.wait_for_jit()
    calls = {"symhess f.hessian_values(x)": lambda: f.hessian_values(x),
             "symhess f.hessian_sparse(x) (SciPy CSR)": lambda: f.hessian_sparse(x),
             f"{refs.HANDWRITTEN} (diagonal and off-diagonal)": lambda: rosenbrock_tridiagonal(x)}
    if refs.installed("casadi"):
        calls[f"{refs.CASADI_BUFFER} (non-zeros)"] = refs.casadi_buffer(problem, x, v, None).hessian
    found = {"n": n, "status": "ok", "per_call": {name: seconds_per_call(call, args.budget, args.repeat)
                                                  for name, call in calls.items()}}
    diagonal, off = rosenbrock_tridiagonal(x)
    rows, cols = f.hessian_structure()
    expected = np.where(rows == cols, diagonal[rows], off[np.minimum(rows, n - 2)])
    found["difference"] = {"values": relative_difference(f.hessian_values(x), expected),
                           "CSR @ v": relative_difference(f.hessian_sparse(x) @ v, kernels(problem).hvp(x, v)[1])}
    return found


# ----- the run -----------------------------------------------------------------------
def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() \
        else platform.processor()
    return {"cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "platform": platform.platform(), "versions": refs.versions(), "symhess": symhess_commit(),
            "load_average": os.getloadavg()}


def symhess_commit() -> str:
    """The git commit of the symhess being measured, marked when its sources differ from it."""
    import symhess

    root = Path(symhess.__file__).resolve().parent.parent

    def git(*command):
        return subprocess.run(["git", "-C", str(root), *command], capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return f"{root} (not a git checkout)"
    return commit + (" with uncommitted changes to symhess/" if git("status", "--porcelain", "--", "symhess") else "")


def suite(args) -> list[Problem]:
    """The run's problems: today's table, then issue 12's (not with --quick; alone with --issue12)."""
    chosen = [] if args.issue12 else problems(args.quick)
    if args.issue12 or not args.quick:
        chosen += [p for p in issue12_problems() if p.key not in {q.key for q in chosen}]
    return chosen


def select(args) -> list[Problem]:
    if not args.only:
        return suite(args)
    names = [name for name in args.only if name != NEWTON]
    chosen = [p for p in suite(args) if p.key in names or p.family in names]
    known = {p.key for p in chosen} | {p.family for p in chosen}
    return chosen + [by_key(name) for name in names if name not in known]


NEWTON = "newton_loop"


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only (a few minutes)")
    parser.add_argument("--only", nargs="+", metavar="PROBLEM", help="families or family-size keys, e.g. rosenbrock-100")
    parser.add_argument("--skip-compile", action="store_true", help="no new-process compile measurements")
    parser.add_argument("--timeout", type=float, help="seconds per new-process measurement (300, --quick 60)")
    parser.add_argument("--issue12", action="store_true",
                        help=f"issue 12's problems only (data in closures, broadcasting, A @ x, wider MLPs) and "
                             f"the Newton loop on new batches ({NEWTON}); the full run includes them")
    parser.add_argument("--compile-timeout", type=float, default=120.0,
                        help="seconds per compile of an issue-12 problem and of the Newton loop (120)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the Markdown, JSON and plots go")
    args = parser.parse_args(argv)
    args.timeout = args.timeout or (60.0 if args.quick else 300.0)
    args.budget, args.repeat = (0.05, 3) if args.quick else (0.2, 5)
    return args


def main(argv=None) -> dict:
    args = parse(argv)
    started = time.perf_counter()
    results = {"machine": machine(), "options": {"quick": args.quick, "timeout": args.timeout, "budget": args.budget,
                                                 "repeat": args.repeat, "only": args.only,
                                                 "skip_compile": args.skip_compile, "issue12": args.issue12,
                                                 "compile_timeout": args.compile_timeout},
               "skipped": refs.missing(), "tools": refs.WHAT, "problems": {}}
    with tempfile.TemporaryDirectory(prefix="symhess-benchmarks-") as work:
        workdir = Path(work)
        for problem in select(args):
            print(f"{problem.key} ...", flush=True)
            results["problems"][problem.key] = run_problem(problem, args, workdir)
        if not args.only and not args.issue12:
            print("PyTorch's doc examples ...", flush=True)
            results["doc_examples"] = doc_examples(args, workdir)
        if (not args.only and not args.issue12) or (args.only and "logistic" in args.only):
            print("logistic regression with runtime data ...", flush=True)
            results["runtime_data"] = runtime_data(RUNTIME_SAMPLES[args.quick], args, workdir)
        if not args.issue12 and (not args.only or "rosenbrock" in args.only):
            print("sparse Rosenbrock ...", flush=True)
            results["sparse"] = sparse_rosenbrock(SPARSE_SIZE[args.quick], args, workdir)
        if (not args.only and (args.issue12 or not args.quick)) or (args.only and NEWTON in args.only):
            print(f"{NEWTON} ...", flush=True)
            results["newton_loop"] = newton_loop(args, workdir)
    results["seconds"] = time.perf_counter() - started
    results["machine"]["load_average_after"] = os.getloadavg()
    from report import write

    write(results, args.out)
    print(f"wrote {args.out} in {results['seconds']:.0f} s", flush=True)
    return results


if __name__ == "__main__":
    main()
