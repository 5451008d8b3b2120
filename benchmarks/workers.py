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
import resource
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


def symhess_compile(problem, clock):
    import symhess

    clock.lap("import")
    x, v = inputs(problem)
    f = symhess.compile(problem.function("numpy"), x)
    clock.lap("build")
    first_calls(clock, problem, lambda: f.hessian(x), lambda: f.hvp(x, v=v))
    return {"stages": f.stats["seconds"], "cache_hit": f.stats["cache_hit"]}


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


WORKERS = {"symhess": symhess_compile, "symhess-runtime": symhess_runtime_data, "symhess-dropin": symhess_dropin,
           "jax": jax_jit, "casadi": casadi_function, "torch": torch_autograd, "handwritten": handwritten}


def main(tool: str, key: str) -> None:
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
