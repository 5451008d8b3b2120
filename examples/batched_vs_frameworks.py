"""Hessians at many points at once: symhess against PyTorch and JAX.

Teaches: a compiled function evaluates a whole batch in one call, ``f.hessian(X)`` with
``X`` of shape (B, n) giving (B, n, n), in parallel over the cores. The same numbers come
from ``torch.func.vmap(torch.func.hessian(f))`` and ``jax.jit(jax.vmap(jax.hessian(f)))``;
this script times all three (each optional framework is skipped, saying so, when it is not
installed) and checks that they agree.

The function is written once against an array namespace ``xp`` (NumPy, torch or jax.numpy),
so every framework differentiates the same formula.

Run: python examples/batched_vs_frameworks.py
"""

import time
from functools import partial

import numpy as np

import symhess


def phi4_chain(x, xp=np):
    """Energy of a chain of coupled phi^4 oscillators (neighbours only: a tridiagonal Hessian)."""
    return (1 - xp.cos(x[1:] - x[:-1])).sum() + (x**4 / 4 - x**2 / 2).sum()


def timed(evaluate, repeats):
    """First call (includes any compiling) and the best of ``repeats`` further calls, in seconds."""
    start = time.perf_counter()
    result = evaluate()
    first = time.perf_counter() - start
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        evaluate()
        best = min(best, time.perf_counter() - start)
    return np.asarray(result), first, best


def with_symhess(X):
    f = symhess.compile(phi4_chain, X[0])
    return lambda: f.hessian(X)


def with_torch(X):
    import torch

    hessians = torch.func.vmap(torch.func.hessian(partial(phi4_chain, xp=torch)))
    points = torch.from_numpy(X)  # float64, as symhess computes
    return lambda: hessians(points).numpy()


def with_jax(X):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)  # float64, as symhess computes
    hessians = jax.jit(jax.vmap(jax.hessian(partial(phi4_chain, xp=jnp))))
    points = jnp.asarray(X)
    return lambda: np.asarray(hessians(points).block_until_ready())


FRAMEWORKS = {"symhess": with_symhess, "torch": with_torch, "jax": with_jax}


def main(n=20, batch=10_000, repeats=3, seed=0):
    X = np.random.default_rng(seed).uniform(-2, 2, (batch, n))
    print(f"Hessians of a phi^4 chain, n = {n}, at {batch} points: result shape {(batch, n, n)}")
    print(f"{'':>8}{'first call':>12}{'then':>11}{'per point':>11}{'max |H - H_symhess|':>22}")
    hessians = {}
    for name, prepare in FRAMEWORKS.items():
        try:
            start = time.perf_counter()
            evaluate = prepare(X)
        except ImportError as error:
            print(f"{name:>8}  skipped: {error.name} is not installed")
            continue
        setup = time.perf_counter() - start
        hessians[name], first, best = timed(evaluate, repeats)
        difference = np.abs(hessians[name] - hessians["symhess"]).max()
        print(f"{name:>8}{setup + first:11.3f}s{best * 1e3:9.1f}ms{best / batch * 1e6:9.2f}us{difference:22.1e}")
    print("(the first call includes importing the framework and compiling; 'then' is the best of the next calls)")
    return X, hessians


if __name__ == "__main__":
    main()
