"""The C export of every benchmark problem with n <= 1,000 (issue 16): compiled with cc -O2 -Wall -Werror,
loaded with ctypes and compared with the in-process kernels (value, gradient, Hessian values, hvp).

Run: python benchmarks/export_c_sweep.py [--quick]   (prints one line per problem, exits 1 on a mismatch)
"""

from __future__ import annotations

import argparse
import ctypes
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from problems import problems

import symhess


def pointer(array):
    return array.ctypes.data_as(ctypes.POINTER(ctypes.c_double))


def check(problem, directory: Path) -> tuple[float, int]:
    """The largest relative difference between the C functions and the kernels at the problem's sample point."""
    f = symhess.compile(problem.function("numpy"), np.zeros(problem.n))
    name = problem.key.replace("-", "_")
    _, source = f.export(directory, name)
    library = directory / f"{name}.so"
    subprocess.run(["cc", "-O2", "-Wall", "-Werror", "-shared", "-fPIC", "-o", str(library), str(source), "-lm"],
                   check=True, capture_output=True, text=True)
    c = ctypes.CDLL(str(library))
    n, nnz, size = f.stats["n"], f.stats["nonzeros"], getattr(c, f"{name}_np")()
    data = np.zeros(max(size, 1))
    getattr(c, f"{name}_data_defaults")(pointer(data))
    p, kernels = data[:size], f._kernels
    x, v = problem.sample(), np.random.default_rng(1).normal(size=n)
    worst = 0.0
    for kernel, out, expected in (("value", np.empty(1), np.array([kernels.value(x, p)])),
                                  ("gradient", np.empty(n), None), ("hessian_values", np.empty(nnz), None),
                                  ("hvp", np.empty(n), None)):
        if expected is None:
            expected = np.empty_like(out)
            {"gradient": kernels.gradient, "hessian_values": kernels.hessian}.get(kernel, lambda *a: None)(
                x, p, expected)
            if kernel == "hvp":
                kernels.hvp(x, p, v, expected)
        arguments = (x, data, v, out) if kernel == "hvp" else (x, data, out)
        getattr(c, f"{name}_{kernel}")(*(pointer(a) for a in arguments))
        scale = max(1.0, np.abs(expected).max(initial=0.0))
        worst = max(worst, np.abs(out - expected).max(initial=0.0) / scale)
    return worst, source.stat().st_size


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    failed = False
    with tempfile.TemporaryDirectory() as directory:
        for problem in problems(args.quick):
            if problem.n > 1000:
                continue
            start = time.perf_counter()
            worst, size = check(problem, Path(directory))
            failed |= not worst <= 1e-12
            print(f"{problem.key:28} n = {problem.n:5d}  max relative difference {worst:.1e}  "
                  f"{size / 1024:8.0f} KiB of C  {time.perf_counter() - start:6.1f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
