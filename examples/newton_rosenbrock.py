"""Newton's method with a compiled Hessian against gradient descent, on chained Rosenbrock.

Teaches: ``symhess.compile`` turns SciPy's own ``rosen`` into compiled value, gradient and
Hessian evaluators; with an exact Hessian, Newton's method (plus a backtracking line search)
reaches the minimum (1, ..., 1) in a few dozen steps, where gradient descent crawls along the
curved valley for thousands.

Run: python examples/newton_rosenbrock.py
"""

import time

import numpy as np
from scipy.optimize import rosen

import symhess


def backtracking(f, x, fx, gx, step, t=1.0, shrink=0.5, c=1e-4):
    """Largest of t, t/2, t/4, ... that decreases f sufficiently along ``step`` (Armijo)."""
    slope = gx @ step
    while f.value(x + t * step) > fx + c * t * slope and t > 1e-16:
        t *= shrink
    return t


def newton_direction(H, g):
    """Solve (H + tau I) d = -g, adding tau until the Cholesky factorisation succeeds."""
    tau = 0.0
    while True:
        try:
            L = np.linalg.cholesky(H + tau * np.eye(len(g)))
            return -np.linalg.solve(L.T, np.linalg.solve(L, g))
        except np.linalg.LinAlgError:
            tau = max(2 * tau, 1e-3 * np.abs(H).max())


def newton(f, x, tol=1e-8, max_iter=200):
    """Newton steps with the compiled Hessian; returns the point and the number of steps."""
    for k in range(max_iter):
        fx, gx = f.value(x), f.gradient(x)
        if np.linalg.norm(gx) < tol:
            return x, k
        step = newton_direction(f.hessian(x), gx)
        x = x + backtracking(f, x, fx, gx, step) * step
    return x, max_iter


def gradient_descent(f, x, tol=1e-8, max_iter=50_000):
    """Steepest descent with the same line search; returns the point and the number of steps."""
    t = 1.0
    for k in range(max_iter):
        fx, gx = f.value(x), f.gradient(x)
        if np.linalg.norm(gx) < tol:
            return x, k
        t = backtracking(f, x, fx, gx, -gx, t=2 * t)  # start a little above the last step
        x = x - t * gx
    return x, max_iter


def main(n=10, gd_max_iter=50_000):
    f = symhess.compile(rosen, np.zeros(n))
    x0 = np.resize([1.3, 0.7, 0.8, 1.9, 1.2], n)  # the start of SciPy's minimize tutorial, repeated
    print(f"chained Rosenbrock, n = {n}, from x0 = {x0[:5]}..., stopping at |gradient| < 1e-8")
    print(f"compiled: {f!r} (tridiagonal Hessian)")
    results = {}
    for name, method, kwargs in [("Newton", newton, {}),
                                 ("gradient descent", gradient_descent, {"max_iter": gd_max_iter})]:
        start = time.perf_counter()
        x, iterations = method(f, x0.copy(), **kwargs)
        seconds = time.perf_counter() - start
        results[name] = (x, iterations, seconds)
        print(f"{name:>17}: {iterations:6d} iterations, {seconds * 1e3:8.1f} ms, f = {f.value(x):.3e}, "
              f"max |x - 1| = {np.abs(x - 1).max():.2e}")
    return results


if __name__ == "__main__":
    main()
