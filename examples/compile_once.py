"""Compile once, evaluate many: the Hessian of chained Rosenbrock at a batch of points.

Run: python examples/compile_once.py
"""

import time

import numpy as np
from scipy.optimize import rosen, rosen_hess

import symhess


def main(n=100, points=1_000):
    start = time.perf_counter()
    f = symhess.compile(rosen, np.zeros(n))  # scipy's own rosen, traced as written
    print(f"compiled {f!r} in {time.perf_counter() - start:.2f} s "
          f"(cache hit: {f.stats['cache_hit']})")

    x = np.linspace(-1.0, 1.5, n)
    H = f.hessian(x)
    print("matches scipy.optimize.rosen_hess:", np.allclose(H, rosen_hess(x), rtol=1e-12))

    value, Hv = f.hvp(x, v=np.ones(n))  # Hessian-vector product without forming H
    print(f"value {value:.6g}, |H v| = {np.linalg.norm(Hv):.6g}")

    X = np.random.default_rng(0).uniform(-2, 2, (points, n))
    f.hessian(X[:2])  # the batched kernel compiles on first use
    start = time.perf_counter()
    HB = f.hessian(X)
    seconds = time.perf_counter() - start
    print(f"{points} Hessians ({HB.shape}) in {seconds * 1e3:.1f} ms "
          f"({points / seconds:,.0f} per second, parallel over cores)")
    return f, H


if __name__ == "__main__":
    main()
