"""symhess.compile_nlp + cyipopt against CasADi's nlpsol("ipopt") on the same large sparse problem (issue 16).

The problem is examples/constrained_ipopt.py's Van der Pol optimal control problem, N intervals:
n = 3N + 2 variables, 2N equality constraints (N = 4000: n = 12,002).  Each tool runs in a new process
(symhess with an empty cache: cold, then a second process on that cache: warm) and reports

- ready / setup: seconds from the formulation to a solver ready to call (symhess: compile_nlp returning
  on tier 0's kernels / with Numba's kernels compiled as well; CasADi: building the SX expressions and nlpsol);
- solve: seconds in IPOPT's solve, and of those the seconds spent in the callbacks (symhess: timed
  around each call from cyipopt; CasADi: the sum of its t_wall_nlp_* statistics);
- iterations, the optimum's objective and its distance to the other tool's optimum;
- peak resident memory of the process (an n x n float64 array alone would take 8 n^2 bytes).

Run: python benchmarks/ipopt_casadi.py [--N 4000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OPTIONS = {"tol": 1e-10, "print_level": 0, "sb": "yes"}


def formulation(N):
    sys.path.insert(0, str(ROOT / "examples"))
    from constrained_ipopt import van_der_pol

    return van_der_pol(N)


def run_symhess(N):
    import symhess
    from symhess import nlp as nlp_module

    effort, dynamics, lb, ub, z0 = formulation(N)
    start = time.perf_counter()
    nlp = symhess.compile_nlp(effort, dynamics, z0)
    ready = time.perf_counter() - start  # callable now (tier 0); Numba's kernels take over when compiled
    nlp.compiled.wait_for_jit()
    setup = time.perf_counter() - start
    timed = {"seconds": 0.0}

    class Timed(nlp_module._Recorded):  # every callback timed as cyipopt calls it
        def __init__(self, problem):
            super().__init__(problem)
            for name in ("objective", "gradient", "constraints", "jacobian", "hessian"):
                setattr(self, name, self._timed(getattr(problem, name)))

        @staticmethod
        def _timed(method):
            def call(*args):
                begin = time.perf_counter()
                try:
                    return method(*args)
                finally:
                    timed["seconds"] += time.perf_counter() - begin
            return call

    nlp_module._Recorded = Timed
    start = time.perf_counter()
    result = symhess.minimize_ipopt(nlp, z0, lb, ub, options=OPTIONS)
    solve = time.perf_counter() - start
    return {"setup": setup, "ready": ready, "stages": nlp.compiled.stats["seconds"], "solve": solve,
            "callbacks": timed["seconds"], "iterations": result.nit,
            "objective": result.fun, "x": result.x.tolist(), "status": result.message,
            "cache_hit": nlp.compiled.stats["cache_hit"]}


def run_casadi(N):
    import casadi as ca

    *_, lb, ub, z0 = formulation(N)  # the same bounds and start; the expressions as CasADi's SX
    start = time.perf_counter()
    h = 10.0 / N
    z = ca.SX.sym("z", 3 * N + 2)
    x1, x2, u = z[:N + 1], z[N + 1:2 * N + 2], z[2 * N + 2:]
    f = h * ca.sumsqr(ca.vertcat(x1[:-1], x2[:-1], u))
    g = ca.vertcat(x1[1:] - x1[:-1] - h * ((1 - x2[:-1] ** 2) * x1[:-1] - x2[:-1] + u),
                   x2[1:] - x2[:-1] - h * x1[:-1])
    solver = ca.nlpsol("solver", "ipopt", {"x": z, "f": f, "g": g}, {"ipopt": OPTIONS, "print_time": False})
    setup = time.perf_counter() - start
    start = time.perf_counter()
    result = solver(x0=z0, lbx=lb, ubx=ub, lbg=0.0, ubg=0.0)
    solve = time.perf_counter() - start
    stats = solver.stats()
    callbacks = sum(v for k, v in stats.items() if k.startswith("t_wall_nlp_"))
    return {"setup": setup, "solve": solve, "callbacks": callbacks, "iterations": stats["iter_count"],
            "objective": float(result["f"]), "x": np.asarray(result["x"]).reshape(-1).tolist(),
            "status": stats["return_status"], "ready": setup}


def child(tool, N):
    result = (run_symhess if tool == "symhess" else run_casadi)(N)
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def measured(tool, N, environment=None):
    done = subprocess.run([sys.executable, __file__, "--child", tool, "--N", str(N)], capture_output=True, text=True,
                          env={**os.environ, **(environment or {})})
    if done.returncode:
        raise RuntimeError(f"{tool} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--N", type=int, default=4000)
    parser.add_argument("--child", choices=("symhess", "casadi"))
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.N)
    with tempfile.TemporaryDirectory() as cache:
        runs = {"symhess (cold)": measured("symhess", args.N, {"SYMHESS_CACHE_DIR": cache}),
                "symhess (warm)": measured("symhess", args.N, {"SYMHESS_CACHE_DIR": cache}),
                "CasADi": measured("casadi", args.N)}
    n = 3 * args.N + 2
    reference = np.array(runs["CasADi"]["x"])
    print(f"Van der Pol optimal control, N = {args.N}: n = {n}, m = {2 * args.N} "
          f"(a dense n x n Hessian: {8 * n * n / 2**20:.0f} MB)")
    print(f"{'':16} {'ready s':>8} {'setup s':>8} {'solve s':>8} {'callbacks s':>12} {'iterations':>10} {'objective':>20} "
          f"{'|x - x_CasADi|':>15} {'peak MB':>8}")
    for name, run in runs.items():
        distance = np.abs(np.array(run["x"]) - reference).max()
        print(f"{name:16} {run['ready']:8.3f} {run['setup']:8.3f} {run['solve']:8.3f} {run['callbacks']:12.4f} "
              f"{run['iterations']:10d} "
              f"{run['objective']:20.12f} {distance:15.2e} {run['peak_mb']:8.0f}")
    for name in ("symhess (cold)", "symhess (warm)"):
        print(f"{name} seconds per stage: " + ", ".join(f"{k} {v:.2f}" for k, v in runs[name]["stages"].items()))
    print("ready: callable (symhess: tier 0's kernels); setup: Numba's kernels compiled too")
    return runs


if __name__ == "__main__":
    main()
