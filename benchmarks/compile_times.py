"""Compile time of chained Rosenbrock in new processes, empty cache then warm cache.

Run: python benchmarks/compile_times.py [n ...]   (default: 10 100 1000)
Each measurement is a fresh Python process; "compile" is the time of the
``symhess.compile`` call, "first call" adds the first ``hessian`` evaluation.
"""

import json
import os
import subprocess
import sys
import tempfile
import textwrap

SCRIPT = textwrap.dedent("""
    import json, time
    start = time.perf_counter()
    import numpy as np
    from scipy.optimize import rosen
    import symhess
    imported = time.perf_counter()
    f = symhess.compile(rosen, np.ones({n}))
    compiled = time.perf_counter()
    f.hessian(np.ones({n}))
    called = time.perf_counter()
    print(json.dumps({{"import": imported - start, "compile": compiled - imported,
                      "first_call": called - compiled, "stages": f.stats["seconds"]}}))
""")


def measure(n: int, cache: str) -> dict:
    env = dict(os.environ, SYMHESS_CACHE_DIR=cache)
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(n=n)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(sizes):
    print("| n | cache | import s | compile s | first hessian s | stages |")
    print("|---|---|---|---|---|---|")
    for n in sizes:
        with tempfile.TemporaryDirectory() as cache:
            for label in ("empty", "warm"):
                r = measure(n, cache)
                stages = ", ".join(f"{k} {v:.3f}" for k, v in r["stages"].items() if k != "total")
                print(f"| {n} | {label} | {r['import']:.2f} | {r['compile']:.3f} | "
                      f"{r['first_call']:.3f} | {stages} |")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10, 100, 1000])
