"""SymPy versus SymEngine for the differentiation stage (why symhess uses SymEngine).

Run: python benchmarks/differentiation_engines.py
Both engines get the same traced chained-Rosenbrock expression and the same
sparse algorithm (each term differentiated only by the symbols it contains,
upper triangle only); the table gives seconds for gradient + Hessian.
"""

import sys
import time

import sympy as sp

from symhess.differentiate import differentiate
from symhess.tracing import trace_function


def rosenbrock(x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def sympy_sparse_hessian(expr, variables):
    """The same sparse algorithm as symhess.differentiate, with SymPy objects."""
    index = {s: k for k, s in enumerate(variables)}
    gradient = {}
    for term in sp.Add.make_args(expr):
        for s in term.free_symbols:
            gradient[index[s]] = gradient.get(index[s], 0) + term.diff(s)
    hessian = {}
    for i, g in gradient.items():
        for term in sp.Add.make_args(g):
            for s in term.free_symbols:
                j = index[s]
                if j >= i:
                    hessian[(i, j)] = hessian.get((i, j), 0) + term.diff(s)
    return gradient, hessian


def main(sizes):
    print("| n | SymEngine s | SymPy s | ratio |")
    print("|---|---|---|---|")
    for n in sizes:
        trace = trace_function(rosenbrock, [(n,)])
        expr, variables = trace.output[()], list(trace.symbols[0].reshape(-1))
        start = time.perf_counter()
        differentiate(expr, variables)
        symengine_seconds = time.perf_counter() - start
        sympy_expr, sympy_vars = expr._sympy_(), [v._sympy_() for v in variables]
        start = time.perf_counter()
        sympy_sparse_hessian(sympy_expr, sympy_vars)
        sympy_seconds = time.perf_counter() - start
        print(f"| {n} | {symengine_seconds:.4f} | {sympy_seconds:.4f} | "
              f"{sympy_seconds / symengine_seconds:.0f}x |")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10, 100, 1000])
