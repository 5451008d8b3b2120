"""One new-process measurement: import, build and first calls of one tool on one problem.

Run by ``run.py`` (``python benchmarks/workers.py TOOL PROBLEM``) in a fresh Python
process, so that nothing is compiled or imported yet; prints one JSON line with the
seconds of each phase and the process's peak resident memory.  ``symhess`` uses
``$SYMHESS_CACHE_DIR`` as ``run.py`` sets it (empty for a cold measurement, the same
directory again for a warm one).
"""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from problems import by_key, logistic_nll, numpy_ops

DENSE_LIMIT = 2000  # larger dense Hessians (800 MB at n = 10,000) are not formed


class Clock:
    """Seconds of consecutive named phases."""

    def __init__(self):
        self.phases, self._last = {}, time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.phases[name] = now - self._last
        self._last = now


def inputs(problem):
    x = problem.sample()
    return x, np.random.default_rng(1).normal(size=problem.n)


NUMBA_WAIT = 120.0  # seconds an issue-12 cold worker waits for the Numba kernels after its first calls


def compile_problem(problem, x):
    """``symhess.compile`` of the problem as written: reading its data, or taking them as inputs outside wrt."""
    import symhess

    if problem.data_as_inputs:
        return symhess.compile(problem.function_of_data("numpy"), x, *problem.arrays, wrt=0)
    return symhess.compile(problem.function("numpy"), x)


def symhess_compile(problem, clock):
    import symhess  # noqa: F401 - imported for the clock

    clock.lap("import")
    x, v = inputs(problem)
    data = problem.arrays if problem.data_as_inputs else ()
    f = compile_problem(problem, x)
    clock.lap("build")
    first_calls(clock, problem, lambda: f.hessian(x, *data), lambda: f.hvp(x, *data, v=v))
    found = {"stages": f.stats["seconds"], "cache_hit": f.stats["cache_hit"]}
    if problem.issue12:  # the compile is measured: say so now, then time the switch to the Numba kernels
        print(json.dumps({**clock.phases, **found, "peak_mb": peak_megabytes()}), flush=True)
        started = time.perf_counter()
        if f.wait_for_jit(timeout=NUMBA_WAIT):
            found["numba_ready"] = time.perf_counter() - started
        else:
            print(json.dumps({**clock.phases, **found, "numba_ready": None, "numba_wait": NUMBA_WAIT,
                              "peak_mb": peak_megabytes()}), flush=True)
            os._exit(0)  # the background compilation would hold the exit
    return found


def symhess_runtime_data(problem, clock):
    """``symhess.compile(nll, w, X, y, wrt=0)``: the samples are runtime data, not constants."""
    import symhess

    clock.lap("import")
    (X, y), (w, v) = problem.arrays, inputs(problem)
    ops = numpy_ops()

    def nll(w, X, y):
        return logistic_nll(w, ops, X, y)

    f = symhess.compile(nll, w, X, y, wrt=0)
    clock.lap("build")
    first_calls(clock, problem, lambda: f.hessian(w, X, y), lambda: f.hvp(w, X, y, v=v))
    return {"stages": f.stats["seconds"], "cache_hit": f.stats["cache_hit"]}


def symhess_dropin(problem, clock):
    import symhess

    clock.lap("import")
    x, v = inputs(problem)
    func = problem.function("numpy")
    first_calls(clock, problem, lambda: symhess.hessian(func, x), lambda: symhess.hvp(func, x, v))
    if importlib.util.find_spec("torch") is not None:  # leaves torch inputs' kernels in the cache too
        import torch

        func, x, v = problem.function("torch"), torch.as_tensor(x), torch.as_tensor(v)
        first_calls(Clock(), problem, lambda: symhess.hessian(func, x), lambda: symhess.hvp(func, x, v))
        clock.lap("torch_inputs")
    return {}


def jax_jit(problem, clock):
    import jax

    clock.lap("import")
    func = problem.function("jax")
    x, v = inputs(problem)
    hessian = jax.jit(jax.hessian(func))
    product = jax.jit(lambda x, v: jax.jvp(jax.grad(func), (x,), (v,))[1])
    clock.lap("build")
    first_calls(clock, problem, lambda: hessian(x).block_until_ready(),
                lambda: product(x, v).block_until_ready())
    return {}


def casadi_function(problem, clock):
    import casadi  # noqa: F401 - imported for the clock
    from references import casadi_functions

    clock.lap("import")
    x, v = inputs(problem)
    hessian, product = casadi_functions(problem)
    clock.lap("build")
    first_calls(clock, problem, lambda: hessian(x), lambda: product(x, v))
    return {}


def torch_autograd(problem, clock):
    import torch
    from torch.autograd import functional

    clock.lap("import")
    func = problem.function("torch")
    x, v = (torch.as_tensor(a) for a in inputs(problem))
    clock.lap("build")
    first_calls(clock, problem, lambda: functional.hessian(func, x), lambda: functional.hvp(func, x, v))
    return {}


def handwritten(problem, clock):
    from handwritten import kernels

    clock.lap("import")
    k = kernels(problem)
    x, v = inputs(problem)
    clock.lap("build")
    first_calls(clock, problem, lambda: k.hessian(x), lambda: k.hvp(x, v))
    return {}


def first_calls(clock, problem, hessian, hvp) -> None:
    """The first Hessian (when it is small enough to form densely) and the first hvp."""
    if problem.n <= DENSE_LIMIT:
        hessian()
        clock.lap("first_hessian")
    hvp()
    clock.lap("first_hvp")


# ----- per-call latency in a new process (issue 12's problems: nothing in run.py's process can hang) ----
LATENCY_GROUPS = {"jax": ("jax.jit",), "casadi": ("CasADi Function", "CasADi buffer"),
                  "torch": ("torch.func", "torch.autograd.functional"),
                  "dropin": ("symhess drop-in (NumPy)", "symhess drop-in (torch)")}


def symhess_calls(problem, x, v) -> dict:
    """``f.hessian`` / ``f.hvp`` and the buffer's calls, after the Numba kernels took over."""
    import references as refs

    f = compile_problem(problem, x)
    f.wait_for_jit()
    if not problem.data_as_inputs:
        return {refs.SYMHESS: refs.symhess_compiled(f, x, v, None), refs.SYMHESS_BUFFER: refs.symhess_buffer(f, x, v)}
    data = problem.arrays
    calls = {refs.SYMHESS: refs.Calls(lambda: f.hessian(x, *data), lambda: f.hvp(x, *data, v=v),
                                      vector=refs._second)}
    try:
        b = f.buffer()
        flat = np.concatenate([np.ravel(a) for a in data])
        b.p[:flat.size] = flat
        b.x[:], b.v[:] = x, v
        hessian, hvp, H, hv = b.hessian, b.hvp, b.H, b.hv

        def hessian_call():
            hessian()
            return H

        calls[refs.SYMHESS_BUFFER] = refs.Calls(hessian_call, lambda: (hvp(), hv), vector=refs._second)
    except Exception as error:
        calls[refs.SYMHESS_BUFFER] = f"{type(error).__name__}: {str(error)[:200]}"
    return calls


def latency(group: str, key: str, budget: str, repeat: str, expected: str) -> None:
    """Per-call seconds and differences of one group of tools; ``expected`` is an .npz of the reference."""
    import references as refs
    from run import measure_calls

    problem = by_key(key)
    x, v = inputs(problem)
    if group == "symhess":
        tools = symhess_calls(problem, x, v)
    else:
        tools = {}
        for name in LATENCY_GROUPS[group]:
            if name == refs.DROPIN_TORCH and problem.data_as_inputs:
                continue
            try:
                tools[name] = refs.BUILDERS[name](problem, x, v, None)
            except Exception as error:
                tools[name] = f"{type(error).__name__}: {str(error)[:200]}"
    with np.load(expected) as reference:
        wanted = {op: reference[op] for op in reference.files}
    found = measure_calls(problem, tools, float(budget), int(repeat), wanted)
    print(json.dumps({"latency": found[0], "correctness": found[1], "peak_mb": peak_megabytes()}), flush=True)
    os._exit(0)  # nothing left to wait for (a drop-in's background compilation would hold the exit)


# ----- the Newton loop on new batches of data (issue 12): symhess.hessian against torch --------
NEWTON_SHAPE, NEWTON_BATCHES, NEWTON_REPEATS = (64, 5), 50, 20


def newton_batches(count: int) -> list:
    rng = np.random.default_rng(20240611)
    samples, features = NEWTON_SHAPE
    found = []
    for _ in range(count):
        X = rng.normal(size=(samples, features))
        found.append((X, (rng.random(samples) < 1 / (1 + np.exp(-X @ np.ones(features)))).astype(float)))
    return found


def resident_megabytes() -> float:
    """The resident size now, from /proc/self/statm (pages)."""
    statm = Path("/proc/self/statm")
    if not statm.exists():
        return float("nan")
    return int(statm.read_text(encoding="utf-8").split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def newton(tool: str) -> None:
    """``for X, y in batches: H = hessian(lambda w: nll(w, X, y), w)`` as a user writes it, then the
    same call repeated on unchanged data; seconds per call and the resident size's growth."""
    batches, w = newton_batches(NEWTON_BATCHES), 0.1 * np.ones(NEWTON_SHAPE[1])
    if tool == "symhess":
        import symhess

        hessian, lib = symhess.hessian, np
    else:
        import torch
        from torch.autograd.functional import hessian

        lib, w = torch, torch.as_tensor(w)
        batches = [(torch.as_tensor(X), torch.as_tensor(y)) for X, y in batches]

    def nll(w, X, y):
        z = X @ w
        return lib.sum(lib.log(1 + lib.exp(z)) - y * z)

    before = resident_megabytes()
    seconds, H = [], None
    for X, y in batches:
        start = time.perf_counter()
        H = hessian(lambda w: nll(w, X, y), w)  # noqa: B023 - the loop as the issue writes it, called at once
        seconds.append(time.perf_counter() - start)
        if len(seconds) == 1:
            after_first = resident_megabytes()
    after = resident_megabytes()
    X, y = batches[-1]
    repeated = []
    for _ in range(NEWTON_REPEATS):
        start = time.perf_counter()
        hessian(lambda w: nll(w, X, y), w)
        repeated.append(time.perf_counter() - start)
    expected = newton_reference(np.asarray(w), *(np.asarray(a) for a in batches[-1]))
    print(json.dumps({"first": seconds[0], "later_median": statistics.median(seconds[1:]),
                      "later_max": max(seconds[1:]), "later": seconds[1:],
                      "repeated_median": statistics.median(repeated), "repeated_max": max(repeated),
                      "growth_mb": after - after_first, "growth_with_first_mb": after - before,
                      "difference": float(np.max(np.abs(np.asarray(H) - expected)) / np.max(np.abs(expected))),
                      "batches": len(batches), "shape": NEWTON_SHAPE, "peak_mb": peak_megabytes()}), flush=True)
    os._exit(0)


def newton_reference(w, X, y):
    """X^T diag(s (1 - s)) X."""
    s = 1 / (1 + np.exp(-X @ w))
    return X.T @ ((s * (1 - s))[:, None] * X)


WORKERS = {"symhess": symhess_compile, "symhess-runtime": symhess_runtime_data, "symhess-dropin": symhess_dropin,
           "jax": jax_jit, "casadi": casadi_function, "torch": torch_autograd, "handwritten": handwritten}


def main(tool: str, key: str, *more: str) -> None:
    if tool == "latency":
        latency(key, *more)
    elif tool == "newton":
        newton(key)
    clock = Clock()
    extra = WORKERS[tool](by_key(key), clock)
    print(json.dumps({**clock.phases, **extra, "peak_mb": peak_megabytes()}))


def peak_megabytes() -> float:
    """Peak resident size of this process.

    Linux's ``ru_maxrss`` survives ``exec``: a child forked from a large parent would
    report the parent's size, so the process's own high-water mark (``VmHWM``) is read.
    """
    status = Path("/proc/self/status")
    if status.exists():
        line = next(line for line in status.read_text(encoding="utf-8").splitlines() if line.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2 ** 20 if sys.platform == "darwin" else 2 ** 10)


if __name__ == "__main__":
    main(*sys.argv[1:])
