"""Logistic regression by Newton's method (IRLS), with the data as runtime parameters.

Teaches: ``symhess.compile(nll, w, X, y, wrt=0)`` differentiates only with respect to the
weights ``w``; ``X`` and ``y`` become runtime parameters, so one compiled function fits
any data set of the same shape without recompiling. For a tiny
case (2 features, 3 samples) the symbolic Hessian is printed: it is X^T W X with
W = diag(p_i (1 - p_i)), the matrix that iteratively reweighted least squares solves with.

The compiled code holds one term per data row, so it grows with the number of samples:
keep them in the hundreds.

Run: python examples/logistic_irls.py
"""

import numpy as np
import sympy as sp

import symhess


def nll(w, X, y):
    """Negative log-likelihood; logaddexp(0, z) is log(1 + e^z) without overflow."""
    z = X @ w
    return np.sum(np.logaddexp(0, z) - y * z)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def symbolic_hessian(features=2, samples=3):
    """The compiled Hessian, X^T W X written with p_i = sigmoid(z_i), and whether they are equal."""
    f = symhess.compile(nll, np.zeros(features), np.zeros((samples, features)), np.zeros(samples), wrt=0)
    w, X, _ = (sp.Matrix(s) for s in f.symbols)
    z = X * w
    p = sp.symbols(f"p:{samples}")
    XtWX = X.T * sp.diag(*[pi * (1 - pi) for pi in p]) * X
    sigmoids = {p[i]: 1 / (1 + sp.exp(-z[i])) for i in range(samples)}
    difference = f.hessian_expression - XtWX.subs(sigmoids)
    equal = all(sp.simplify(entry.rewrite(sp.exp)) == 0 for entry in difference)
    return f, XtWX, equal


def numeric_check(f, rng):
    """Compiled Hessian against X.T @ diag(p(1-p)) @ X at random data."""
    w, X, y = (rng.normal(size=s.shape) for s in f.symbols)
    p = sigmoid(X @ w)
    return np.allclose(f.hessian(w, X, y), X.T @ np.diag(p * (1 - p)) @ X, rtol=1e-12, atol=0)


def irls(f, X, y, tol=1e-10, max_iter=50):
    """Newton's method from w = 0: w <- w - H^-1 g; returns the weights and the iterations."""
    w = np.zeros(X.shape[1])
    for k in range(1, max_iter + 1):
        step = np.linalg.solve(f.hessian(w, X, y), f.gradient(w, X, y))
        w = w - step
        if np.abs(step).max() < tol:
            return w, k
    raise RuntimeError("IRLS did not converge: are the classes linearly separable?")


def synthetic(rng, w_true, samples):
    X = np.column_stack([np.ones(samples), rng.normal(size=(samples, len(w_true) - 1))])
    y = (rng.random(samples) < sigmoid(X @ w_true)).astype(float)
    return X, y


def main(samples=100, seed=0):
    rng = np.random.default_rng(seed)
    tiny, H, symbolic_ok = symbolic_hessian()
    print("Hessian of the negative log-likelihood, 2 features, 3 samples, p_i = sigmoid(X[i] @ w):")
    for a, b in [(0, 0), (0, 1), (1, 1)]:
        print(f"  H[{a},{b}] = {H[a, b]}")
    print(f"  (symhess writes p(1 - p) as 1/(4 cosh(z/2)^2): H[0,0] = {tiny.hessian_expression[0, 0]})")
    print("equals X^T diag(p (1 - p)) X symbolically:", symbolic_ok)
    numeric_ok = numeric_check(tiny, rng)
    print("compiled Hessian equals X.T @ diag(p(1-p)) @ X at random data:", numeric_ok)

    w_true = np.array([-0.5, 1.5, -2.0])
    X, y = synthetic(rng, w_true, samples)
    f = symhess.compile(nll, np.zeros(3), X, y, wrt=0)
    print(f"\n{f!r}: X and y are runtime parameters")
    w, iterations = irls(f, X, y)
    print(f"IRLS from w = 0 converged in {iterations} iterations")
    se = np.sqrt(np.diag(np.linalg.inv(f.hessian(w, X, y))))  # inverse Fisher information
    print(f"{'':>9}{'true':>8}{'fitted':>9}{'std err':>9}{'(fit - true)/se':>17}")
    for k in range(len(w)):
        print(f"{f'w[{k}]':>9}{w_true[k]:8.3f}{w[k]:9.3f}{se[k]:9.3f}{(w[k] - w_true[k]) / se[k]:17.2f}")
    return {"symbolic_ok": symbolic_ok, "numeric_ok": numeric_ok, "w_true": w_true, "w": w, "se": se,
            "iterations": iterations}


if __name__ == "__main__":
    main()
