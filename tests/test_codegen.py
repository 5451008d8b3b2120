"""Generated code: deterministic, three-address, runnable as plain Python too."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import symengine as se

from symhess.codegen import ThreeAddressPrinter
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
