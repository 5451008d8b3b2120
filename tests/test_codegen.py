"""Generated code: deterministic, three-address, runnable as plain Python too."""

import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import symengine as se

from symhess.codegen import ThreeAddressPrinter, factor_common
from symhess.llvm import python_namespace


def print_lines(expr, names):
    printer = ThreeAddressPrinter(names)
    result = printer.doprint(expr)
    return printer.lines, result


def test_each_line_is_one_operation():
    x, y = se.symbols("x y")
    lines, result = print_lines(se.sin(x * y) + x**5 / y, {x: "x[0]", y: "x[1]"})
    assert all(line.count(" = ") == 1 for line in lines)
    assert all(sum(line.split(" = ")[1].count(op) for op in ["+", "-", "*", "/"]) <= 1 for line in lines)
    namespace = python_namespace()
    source = "def k(x):\n" + "\n".join(lines) + f"\n    return {result}\n"
    exec(source, namespace)
    value = namespace["k"]([0.3, 1.7])
    assert np.isclose(value, np.sin(0.3 * 1.7) + 0.3**5 / 1.7)


def test_source_is_identical_across_processes(tmp_path):
    script = textwrap.dedent("""
        import numpy as np, symhess
        f = symhess.compile(lambda x: np.maximum(x, 0.5).sum() + np.abs(x).prod() + x.relu().sum(),
                            np.ones(3), cache=False)
        print(f.source)
    """)
    outputs = set()
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed, SYMHESS_CACHE_DIR=str(tmp_path))
        outputs.add(subprocess.run([sys.executable, "-c", script], env=env, check=True,
                                   capture_output=True, text=True).stdout)
    assert len(outputs) == 1


def test_exp_of_a_doubled_exponent_squares_the_shared_exp():
    x, y = se.symbols("x y")
    lines, result = print_lines(se.exp(2 * x - 2 * y) + se.exp(x - y) + se.exp(3 * x), {x: "x[0]", y: "x[1]"})
    assert sum("exp(" in line for line in lines) == 2  # exp(x - y), squared for exp(2x - 2y); exp(3x)
    namespace = python_namespace()
    exec("def k(x):\n" + "\n".join(lines) + f"\n    return {result}\n", namespace)
    assert np.isclose(namespace["k"]([0.3, 0.1]), np.exp(0.4) + np.exp(0.2) + np.exp(0.9))


def test_exp_of_a_named_argument_serves_its_doubled_exponent():
    """CSE may name ``z`` (``exp(s)`` with ``s = z``) where ``exp(2 z)`` spells ``z`` out: both reach
    one temporary for the argument, and ``exp`` is computed once (the logistic loss's hvp
    computed it twice per sample)."""
    a, b, s = se.symbols("a b s")
    printer = ThreeAddressPrinter({a: "x[0]", b: "x[1]"})
    printer.names[s] = printer.doprint(a * b + b)  # what the kernel printer does with a CSE definition
    printer.doprint(se.exp(s) + se.exp(se.expand(2 * (a * b + b))) * a)
    assert sum("exp(" in line for line in printer.lines) == 1


def test_negative_powers_of_a_base_share_one_division():
    """Lennard-Jones derivatives divide by many powers of one distance: one reciprocal serves all."""
    s, q = se.symbols("s q")
    expr = 3 * s**-4 + 24 * q * s**-5 - 6 * s**-7 + 84 * q / s**8  # (q / s stays a division)
    lines, result = print_lines(expr, {s: "x[0]", q: "x[1]"})
    assert sum(" / " in line for line in lines) == 1
    namespace = python_namespace()
    exec("def k(x):\n" + "\n".join(lines) + f"\n    return {result}\n", namespace)
    point = [1.3, -0.7]
    assert np.isclose(namespace["k"](point), float(expr.subs({s: point[0], q: point[1]})), rtol=1e-14)


def test_kernels_roll_where_loops_execute_few_more_operations():
    """Chained Rosenbrock at n = 100 rolls its hvp (vectorised loops); a cluster of 13 atoms keeps
    straight code, whose pairs share the work that loops would repeat."""
    from scipy.optimize import rosen

    from symhess import codegen
    from symhess.compiled import compile_with
    from symhess.pipeline import Options

    def pairs(x):
        first, second = np.triu_indices(13, 1)
        d = x.reshape(13, 3)[first] - x.reshape(13, 3)[second]
        inv6 = 1 / (d**2).sum(axis=1) ** 3
        return (4 * (inv6**2 - inv6)).sum()

    options = Options(cache=False, eager_jit=False)  # the source only
    chain = compile_with(rosen, (np.ones(100),), None, options)
    cluster = compile_with(pairs, (np.arange(39.0),), None, options)
    chain_hvp = chain.source.split('HVP_CODE = """')[1].split('"""')[0].splitlines()
    cluster_hvp = cluster.source.split('HVP_CODE = """')[1].split('"""')[0].splitlines()
    assert any("for m in range(" in line for line in chain_hvp) and len(chain_hvp) < 100
    assert not any("for m in range(" in line for line in cluster_hvp)
    assert codegen.executed_lines(["    t0 = x[0]", "    for m in range(5):", "        t1 = x[m]", "    t2 = t0"]) == 7


def test_a_nan_constant_prints_as_nan():
    """SymEngine's nan (a traced constant NaN that survives simplification) is printed, not refused
    with SymEngine's 'Not Implemented' from float(nan)."""
    x = se.Symbol("x")
    lines, result = print_lines(x + se.nan * x ** 2, {x: "x[0]"})
    assert "nan" in "\n".join(lines) + result


def test_a_long_sum_is_added_in_several_chains_in_memory_order():
    """A row of A @ x (64 products) printed as one chain of additions waits 64 times for an addition;
    in SUM_LANES interleaved chains, with terms in index order, the longest chain is 64 / 16 + 4."""
    from symhess.codegen import SUM_LANES, ThreeAddressPrinter

    x = se.symbols("x0:64")
    row = se.Add(*(se.Integer(k + 2) * s for k, s in enumerate(x)))
    printer = ThreeAddressPrinter({s: f"x[{k}]" for k, s in enumerate(x)})
    result = printer.doprint(row)
    depth = {}
    for line in printer.lines:
        name, text = (part.strip() for part in line.split("=", 1))
        depth[name] = 1 + max((depth.get(t, 0) for t in re.findall(r"\bt\d+\b", text)), default=0)
    assert depth[result] <= 64 // SUM_LANES * 2 + 4 + 2
    loads = [int(k) for k in re.findall(r"x\[(\d+)\]", "\n".join(printer.lines))]
    assert loads[:4] == [0, SUM_LANES, 2 * SUM_LANES, 3 * SUM_LANES]  # lane k reads x[k], x[k + 16], ...
    values = dict(zip(x, np.linspace(-1, 1, 64)))
    scope = {"x": np.linspace(-1, 1, 64)}
    exec("\n".join(line.strip() for line in printer.lines), scope)
    assert scope[result] == pytest.approx(float(row.xreplace(values)), rel=1e-13)


def test_common_factors_come_out_of_sums():
    """A pair potential's hvp entry: terms sharing the pair's (x_a - x_b) * q and dv factors."""
    s, q, d, dv, a, b = se.symbols("s q d dv a b")
    entry = 84 * q * d * s**-8 - 24 * q * d * s**-5 + 3 * dv * s**-4 - 6 * dv * s**-7 + se.sin(a * b + a * s)
    factored = factor_common(entry, {})
    assert se.count_ops(factored) < se.count_ops(entry)
    point = dict(zip((s, q, d, dv, a, b), (1.3, -0.7, 0.4, 2.1, 0.3, -1.1)))
    assert float(factored.subs(point)) == pytest.approx(float(entry.subs(point)), rel=1e-14)
    assert factor_common(a + b, {}) == a + b


@pytest.mark.parametrize("dense", [True, False])
def test_a_whole_triangle_is_scattered_without_tables(dense):
    """A Hessian whose non-zeros are the whole upper triangle (a sum over 200 data rows, rolled into a
    loop) is scattered by nested loops (``TRIANGLE``); the tables stay for the others (a chain of
    250 variables).  Both give the Hessian of the formula, on every tier."""
    import symhess

    A = np.random.default_rng(3).normal(size=(200, 3))
    x = np.array([0.3, -0.2, 0.5]) if dense else np.random.default_rng(4).uniform(-1, 1, 250)
    if dense:
        def func(x):
            return np.sum((A @ x) ** 4)
        expected = 12 * A.T @ ((A @ x) ** 2 * A.T).T
    else:
        def func(x):
            return np.sum(x[:-1] ** 3 * x[1:]) + x[0] ** 2  # a band: not the whole triangle
        n = x.size
        expected = np.zeros((n, n))
        for i in range(n - 1):
            expected[i, i] += 6 * x[i] * x[i + 1]
            expected[i, i + 1] += 3 * x[i] ** 2
            expected[i + 1, i] += 3 * x[i] ** 2
        expected[0, 0] += 2
    f = symhess.compile(func, x)
    assert f"TRIANGLE = {dense}" in f.source
    assert np.allclose(f.hessian(x), expected, rtol=1e-12, atol=1e-12)  # tier 0 or the linked LLVM code
    f.wait_for_jit()
    assert np.allclose(f.hessian(x), expected, rtol=1e-12, atol=1e-12)  # the Numba module's scatter
    assert np.allclose(f.hessian(np.stack([x, x])), expected, rtol=1e-12, atol=1e-12)  # its batch
