"""Sweep opfunu's NumPy benchmark functions, traced as the library ships them.

Run: python benchmarks/sweep_thirdparty.py [--points N] [--only NAME ...] [--json PATH]

Every name-based test function of ``opfunu`` (``opfunu.FUNC_DATABASE``: Ackley,
Griewank, Hartmann, ...) is instantiated through the library's own class API and
its bound ``evaluate`` method is handed, unchanged, to
``symhess.testing.check_derivatives`` at a few random points of the function's
own bounds (n = 3 for scalable functions, else the fixed dimension).

Each point ends as one of

* ``passed``          symhess's value, gradient, Hessian and hvp match finite differences;
* ``passed_refined``  ``check_derivatives``'s plain central differences disagreed, but a
                      converged Richardson-extrapolated difference quotient matches symhess
                      (the plain step, 1e-4 * |x|, is too coarse for oscillatory functions
                      at |x| ~ 100); the point counts as matching;
* ``trace_error``     a clear ``symhess.TraceError`` (first line of the message kept);
* ``mismatch``        WRONG NUMBER: symhess returned a value or derivative that a converged
                      finite-difference reference contradicts (the worst outcome);
* ``undecided``       plain differences disagree and no reference converged (kinks or
                      round-off): neither confirmed nor contradicted;
* ``other``           any other exception (type and message kept).

A function's status is the worst over its points.  Functions are classified by
reading their source (``CLASSIFICATION`` below): *smooth* (analytic at generic
points, no abs/max/floor/round/branches), *nonsmooth*, *stochastic* (draws from
``np.random`` on every call, so no deterministic derivative exists) and *broken*
(raises on plain NumPy arrays too).  The summary figure counts smooth functions
whose every point passed.

Results go to ``benchmarks/results/sweep_thirdparty.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import sys
import tempfile
import time
import warnings
import zlib
from pathlib import Path

import numpy as np

os.environ.setdefault("SYMHESS_CACHE_DIR", tempfile.mkdtemp(prefix="symhess-sweep-"))

import symhess  # noqa: E402
from symhess.testing import check_derivatives  # noqa: E402

LIBRARY = "opfunu"
RESULTS = Path(__file__).resolve().parent / "results" / "sweep_thirdparty.json"
SCALABLE_DIMENSION = 3
CASE_TIMEOUT = 120.0  # seconds per function, all points

# Read from opfunu 1.0.4's name_based/*.py (the library's own `differentiable`
# flags are unreliable: Beale is marked non-differentiable, Gear differentiable).
NONSMOOTH = {
    "Alpine01": "abs", "BartelsConn": "abs", "Bukin04": "abs", "Bukin06": "sqrt(abs)",
    "Corana": "floor, sign, if on x", "CrossInTray": "abs", "CrossLegTable": "abs",
    "CrownedCross": "abs", "Damavandi": "abs", "Decanomial": "abs", "Deceptive": "if/elif on x",
    "Dolan": "abs", "EggHolder": "sqrt(abs)", "Gear": "floor", "Gulf": "abs(u - x1) ** x2",
    "HolderTable": "abs", "Katsuura": "round", "Mishra03": "sqrt(abs)", "Mishra04": "sqrt(abs)",
    "Mishra08": "abs", "Mishra10": "astype(int)", "Mishra11": "abs", "MultiModal": "abs",
    "NeedleEye": "if on abs(x)", "NewFunction01": "abs", "NewFunction02": "abs",
    "OddSquare": "max", "Quintic": "abs", "Rana": "sqrt(abs)", "TestTubeHolder": "abs",
    "YaoLiu04": "max(abs)", "ZeroSum": "abs, if on x", "Zimmerman": "max, sign",
}
STOCHASTIC = {
    "Quartic": "adds np.random.rand() on every call",
    "XinSheYang01": "multiplies by np.random.random(n) on every call",
}


def classify(name: str) -> tuple[str, str]:
    if name in NONSMOOTH:
        return "nonsmooth", NONSMOOTH[name]
    if name in STOCHASTIC:
        return "stochastic", STOCHASTIC[name]
    return "smooth", ""


def functions() -> list[tuple[str, type]]:
    import opfunu

    return [(name, cls) for name, cls in opfunu.FUNC_DATABASE if name not in opfunu.EXCLUDES]


def instantiate(cls):
    """The library's object at n = 3 when scalable (else its default size), quietly."""
    with contextlib.redirect_stdout(io.StringIO()):
        problem = cls()
        if problem.dim_changeable and problem.ndim < SCALABLE_DIMENSION:
            scaled = cls(ndim=SCALABLE_DIMENSION)
            try:
                _plain(scaled.evaluate, np.asarray(scaled.lb, dtype=float))
                problem = scaled
            except Exception:
                pass
    return problem


def _plain(func, x):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = float(np.asarray(func(x), dtype=np.float64).reshape(-1)[0])
    if not np.isfinite(value):
        raise FloatingPointError("not finite")
    return value


def sample_points(problem, name: str, count: int) -> list[np.ndarray]:
    """``count`` random points in the bounds where plain NumPy evaluates cleanly."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    lb = np.asarray(problem.lb, dtype=float)
    ub = np.asarray(problem.ub, dtype=float)
    flat = ub <= lb
    lb, ub = np.where(flat, lb - 0.5, lb), np.where(flat, ub + 0.5, ub)  # Deb01 ships [-1, -1]
    points, last_error = [], None
    for _ in range(500):
        x = rng.uniform(lb, ub)
        try:
            _plain(problem.evaluate, x)
        except Exception as error:  # outside the function's domain (NaN, overflow, ...)
            last_error = error
            continue
        points.append(x)
        if len(points) == count:
            return points
    raise RuntimeError(f"no point of the bounds evaluates cleanly on plain NumPy: "
                       f"{type(last_error).__name__}: {last_error}")


# ----- a converged finite-difference reference, for adjudicating mismatches -------------

def _richardson(estimate, h0):
    """Two Richardson levels on an even-error difference quotient; (value, error estimate)."""
    d = [np.asarray(estimate(h0 / 2 ** k), dtype=float) for k in range(3)]
    r1 = [(4 * d[k + 1] - d[k]) / 3 for k in range(2)]
    r2 = (16 * r1[1] - r1[0]) / 15
    return r2, np.abs(r2 - r1[1])


def refined_gradient(f, x, h0):
    n = x.size
    eye = np.eye(n)

    def quotient(h):
        return np.array([(f(x + h * eye[k]) - f(x - h * eye[k])) / (2 * h) for k in range(n)])

    return _richardson(quotient, h0)


def refined_hessian(f, x, h0):
    n = x.size
    eye = np.eye(n)

    def quotient(h):
        hess = np.empty((n, n))
        for j in range(n):
            for k in range(j, n):
                a, b = h * eye[j], h * eye[k]
                hess[j, k] = hess[k, j] = (f(x + a + b) - f(x + a - b) - f(x - a + b)
                                           + f(x - a - b)) / (4 * h * h)
        return hess

    return _richardson(quotient, h0)


def adjudicate(func, x, compiled) -> tuple[str, str]:
    """After check_derivatives disagreed: is symhess right, wrong, or can't we tell?"""
    def f(z):
        return float(np.asarray(func(z), dtype=np.float64).reshape(-1)[0])

    value = float(np.asarray(compiled.value(x)).reshape(-1)[0])
    want = f(x)
    if not np.isclose(value, want, rtol=1e-9, atol=1e-12 * max(1.0, abs(want))):
        return "mismatch", f"value {value!r} != {want!r}"
    gradient = np.asarray(compiled.gradient(x)).reshape(-1)
    hessian = np.asarray(compiled.hessian(x)).reshape(x.size, x.size)
    direction = np.random.default_rng(0).standard_normal(x.size)
    _, product = compiled.hvp(x, v=direction)
    product = np.asarray(product).reshape(-1)
    if not np.allclose(product, hessian @ direction, rtol=1e-8,
                       atol=1e-8 * max(1.0, float(np.max(np.abs(hessian))))):
        return "mismatch", "hvp differs from the Hessian times the vector"
    checks = (("gradient", gradient, refined_gradient, 1e-6),
              ("Hessian", hessian, refined_hessian, 1e-5))
    verdicts = []
    for label, got, reference, rtol in checks:
        scale = max(1.0, float(np.max(np.abs(got))))
        tolerance = rtol * scale
        decided = None
        for h0 in (1e-1, 3e-2, 1e-2, 3e-3, 1e-3):
            want, error = reference(f, x, h0)
            if not np.all(np.isfinite(want)) or np.max(error) > tolerance / 10:
                continue  # not converged at this step: try a smaller one
            worst = float(np.max(np.abs(got - want)))
            decided = ("ok" if worst <= tolerance else "wrong", worst, h0)
            break
        if decided is None:
            verdicts.append((label, "unconverged", None, None))
        else:
            verdicts.append((label, *decided))
    if any(v[1] == "wrong" for v in verdicts):
        label, _, worst, h0 = next(v for v in verdicts if v[1] == "wrong")
        return "mismatch", (f"{label} differs from a converged Richardson reference "
                            f"(h0={h0:g}) by {worst:.3g}")
    if any(v[1] == "unconverged" for v in verdicts):
        label = next(v[0] for v in verdicts if v[1] == "unconverged")
        return "undecided", f"no converged finite-difference {label} to compare with"
    return "passed_refined", "; ".join(f"{v[0]} agrees to {v[2]:.2g} (h0={v[3]:g})" for v in verdicts)


# ----- one function ----------------------------------------------------------------

class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout


def check_point(func, x) -> dict:
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            check_derivatives(func, x)
            status, detail = "passed", ""
        except symhess.TraceError as error:
            status, detail = "trace_error", str(error).splitlines()[0]
        except AssertionError as error:
            first = str(error).splitlines()[0]
            try:
                compiled = symhess.compile(func, x)
                status, detail = adjudicate(func, x, compiled)
                detail = f"{first}; {detail}"
            except Exception as inner:
                status, detail = "other", f"{first}; adjudication failed: {type(inner).__name__}: {inner}"
        except _Timeout:
            raise
        except Exception as error:
            message = str(error).splitlines()[0] if str(error) else ""
            status, detail = "other", f"{type(error).__name__}: {message}"
    found = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    return {"x": x.tolist(), "status": status, "detail": detail, "warnings": found,
            "seconds": round(time.perf_counter() - start, 3)}


SEVERITY = ["passed", "passed_refined", "trace_error", "undecided", "other", "mismatch"]


def run_case(name, cls, points) -> dict:
    kind, reason = classify(name)
    record = {"name": name, "class": kind, "why": reason}
    start = time.perf_counter()
    use_alarm = hasattr(signal, "SIGALRM") and CASE_TIMEOUT
    if use_alarm:
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, CASE_TIMEOUT)
    try:
        problem = instantiate(cls)
        record["n"] = int(problem.ndim)
        try:
            xs = sample_points(problem, name, points)
        except Exception as error:
            record.update(status="broken_upstream", detail=f"{type(error).__name__}: {error}", points=[])
            if kind == "smooth":
                record["class"] = "broken"
            return record
        record["points"] = [check_point(problem.evaluate, x) for x in xs]
    except _Timeout:
        record.setdefault("points", [])
        record["points"].append({"status": "other", "detail": f"timeout after {CASE_TIMEOUT:g} s"})
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        record["seconds"] = round(time.perf_counter() - start, 2)
    worst = max(record["points"], key=lambda p: SEVERITY.index(p["status"]))
    record["status"], record["detail"] = worst["status"], worst["detail"]
    return record


def summarize(records) -> dict:
    smooth = [r for r in records if r["class"] == "smooth"]
    ok = {"passed", "passed_refined"}
    k = sum(r["status"] in ok for r in smooth)
    m = len(smooth)
    counts = {}
    for r in records:
        counts.setdefault(r["class"], {}).setdefault(r["status"], 0)
        counts[r["class"]][r["status"]] += 1
    return {
        "smooth_passed": k, "smooth_total": m, "smooth_percent": round(100 * k / m, 1) if m else 0.0,
        "smooth_passed_plain_fd": sum(r["status"] == "passed" for r in smooth),
        "wrong_numbers": [r["name"] for r in records if r["status"] == "mismatch"],
        "wrong_numbers_deterministic": [r["name"] for r in records
                                        if r["status"] == "mismatch" and r["class"] != "stochastic"],
        "counts": counts,
    }


def run_sweep(points=2, only=None, progress=None) -> dict:
    import opfunu

    start = time.perf_counter()
    records = []
    for name, cls in functions():
        if only and name not in only:
            continue
        record = run_case(name, cls, points)
        records.append(record)
        if progress:
            progress(record)
    return {"library": LIBRARY, "library_version": opfunu.__version__,
            "numpy_version": np.__version__, "symhess_version": symhess.__version__,
            "points_per_function": points, "seconds": round(time.perf_counter() - start, 1),
            "summary": summarize(records), "functions": records}


def _row(r) -> str:
    detail = r.get("detail", "").replace("|", "\\|")
    if len(detail) > 150:
        detail = detail[:147] + "..."
    return f"| {r['name']} | {r.get('n', '')} | {r['class']} | {r['status']} | {r.get('seconds', '')} | {detail} |"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=2)
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    print("| function | n | class | status | s | detail |")
    print("|---|---|---|---|---|---|")
    result = run_sweep(args.points, args.only, progress=lambda r: print(_row(r), flush=True))
    s = result["summary"]
    print()
    print(f"{LIBRARY} {result['library_version']}, NumPy {result['numpy_version']}, "
          f"{args.points} point(s) per function, {result['seconds']} s")
    for kind, counts in sorted(s["counts"].items()):
        print(f"  {kind}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print(f"smooth functions traced and matching: {s['smooth_passed']} / {s['smooth_total']} "
          f"({s['smooth_percent']}%)  [plain check_derivatives alone: {s['smooth_passed_plain_fd']}]")
    print(f"wrong numbers: {len(s['wrong_numbers'])} {s['wrong_numbers']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main()
    sys.exit(0)
