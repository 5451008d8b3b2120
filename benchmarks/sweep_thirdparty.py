"""Sweep opfunu's NumPy benchmark functions, traced as the library ships them.

Run: python benchmarks/sweep_thirdparty.py [--suite name cec] [--points N] [--only NAME ...]

Suites (both by default):

* ``name``: every name-based test function of ``opfunu`` (``opfunu.FUNC_DATABASE``:
  Ackley01, Griewank, Hartmann6, ...), n = 3 for scalable functions, else the fixed size.
* ``cec``: the CEC 2005-2022 competition functions (``opfunu.CEC_DATABASE``) that the
  library offers at n = 2 (the others need n >= 10 and are skipped, listed as such).

Each function is instantiated through the library's class API and its bound
``evaluate`` method is handed unchanged to ``symhess.testing.check_derivatives`` at
``--points`` random points of the function's own bounds.  A point is used only if
plain NumPy evaluates the function there without a warning and, for deterministic
functions, central differences of the plain function converge there (a Richardson
reference, computed before and independently of symhess); otherwise another point is
drawn (``rejected`` in the JSON counts them).  Without that rule, points such as
``exp(x4) = exp(49)`` inside ``cos(t * exp(x4))`` (DeVilliersGlasser02's bounds are
[-500, 500]) would make any finite-difference comparison meaningless.

Each point ends as one of

* ``passed``          symhess's value, gradient, Hessian and hvp match check_derivatives;
* ``passed_refined``  check_derivatives' plain central differences (step 1e-4 * |x|, too
                      coarse for e.g. cos(4 pi x) at |x| ~ 100) disagreed, but the converged
                      Richardson reference matches symhess: counted as matching;
* ``trace_error``     a clear ``symhess.TraceError`` (first line of the message kept);
* ``mismatch``        WRONG NUMBER: symhess's value, gradient, Hessian or hvp contradicts the
                      plain function or the converged reference (the worst outcome);
* ``undecided``       check_derivatives disagreed and no converged reference exists;
* ``other``           any other exception (type and message kept).

A function's status is the worst over its points.  Functions are classified from
their source: *smooth* (no abs / max / min / floor / round / mod / sign / value
branches anywhere in ``evaluate`` or the opfunu helpers it calls), *nonsmooth*,
*stochastic* (calls ``np.random`` on every evaluation: no deterministic derivative
exists) and *broken* (raises on plain NumPy arrays too).  For the name-based suite the
classification was made by reading the code (``NONSMOOTH``, ``STOCHASTIC``) and agrees
with the automatic scan (``scan_source``) except LennardJones, whose ``if ed > 0.0``
only guards a singularity (counted smooth).  The summary figure counts smooth
functions whose every point matched.

Results go to ``benchmarks/results/sweep_thirdparty.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import io
import json
import os
import re
import signal
import sys
import tempfile
import time
import warnings
import zlib
from pathlib import Path

import numpy as np

os.environ.setdefault("SYMHESS_CACHE_DIR", tempfile.mkdtemp(prefix="symhess-sweep-"))

import symhess
from symhess.testing import check_derivatives

LIBRARY = "opfunu"
RESULTS = Path(__file__).resolve().parent / "results" / "sweep_thirdparty.json"
SCALABLE_DIMENSION = 3
CEC_DIMENSION = 2
CASE_TIMEOUT = 120.0  # seconds per function, all points
MAX_REJECTED = 30     # ill-conditioned draws before a function is given up on as "undecided"

# Read from opfunu 1.0.4's name_based/*.py (the library's own `differentiable` flags
# are unreliable: Beale is marked non-differentiable, Gear differentiable).
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

_TOKENS = {
    "abs": r"\babs\(|np\.abs\b|np\.absolute|np\.fabs",
    "rounding": r"np\.floor|np\.ceil|np\.round|np\.rint|np\.modf|np\.mod\b|np\.fmod|np\.trunc|astype\(int",
    "max/min": r"(?<![\w.])max\(|(?<![\w.])min\(|np\.max\b|np\.min\b|np\.amax|np\.amin|np\.maximum"
               r"|np\.minimum|\.max\(|\.min\(|argmin|argmax",
    "sign": r"np\.sign",
    "branch": r"np\.where|\bif\b|\belif\b|\bmask",
    "random": r"np\.random",
}


def scan_source(cls) -> list[str]:
    """Non-smooth constructs in ``cls.evaluate`` and the opfunu helpers it calls."""
    from opfunu.utils import operator

    seen, todo, texts = set(), [cls.evaluate], []
    while todo:
        func = todo.pop()
        if func in seen:
            continue
        seen.add(func)
        text = inspect.getsource(func)
        text = re.sub(r'(""".*?"""|\'\'\'.*?\'\'\')', "", text, flags=re.S)
        text = re.sub(r"#.*", "", text)
        text = text.replace("self.check_solution(", "")  # dimension checks only
        texts.append(text)
        for name in re.findall(r"operator\.(\w+)", text) + re.findall(r"\b(\w+_func)\(", text):
            helper = getattr(operator, name, None)
            if callable(helper):
                todo.append(helper)
    source = "\n".join(texts)
    return sorted(label for label, pattern in _TOKENS.items() if re.search(pattern, source))


def classify(name: str, cls, suite: str) -> tuple[str, str]:
    if suite == "name":
        if name in NONSMOOTH:
            return "nonsmooth", NONSMOOTH[name]
        if name in STOCHASTIC:
            return "stochastic", STOCHASTIC[name]
        return "smooth", ""
    found = scan_source(cls)
    if "random" in found:
        return "stochastic", "np.random in evaluate"
    if found:
        return "nonsmooth", ", ".join(found)
    return "smooth", ""


def cases(suites) -> list[tuple[str, str, type]]:
    import opfunu

    found = []
    if "name" in suites:
        found += [("name", n, c) for n, c in opfunu.FUNC_DATABASE if n not in opfunu.EXCLUDES]
    if "cec" in suites:
        found += [("cec", n, c) for n, c in opfunu.CEC_DATABASE if n not in opfunu.EXCLUDES]
    return found


def instantiate(cls, suite):
    """The library's object, quietly: n = 3 when scalable, CEC at n = 2 (None if unsupported)."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        if suite == "cec":
            try:  # opfunu's CEC classes call exit() for an unsupported size
                problem = cls(ndim=CEC_DIMENSION)
                problem.evaluate(np.asarray(problem.lb, dtype=float))
            except BaseException:  # SystemExit included on purpose
                return None
            return problem
        problem = cls()
        if problem.dim_changeable and problem.ndim < SCALABLE_DIMENSION:
            scaled = cls(ndim=SCALABLE_DIMENSION)
            try:
                plain_value(scaled.evaluate, np.asarray(scaled.lb, dtype=float))
                problem = scaled
            except Exception:
                pass
    return problem


def plain_value(func, x) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = float(np.asarray(func(x), dtype=np.float64).reshape(-1)[0])
    if not np.isfinite(value):
        raise FloatingPointError("not finite")
    return value


# ----- a converged finite-difference reference, independent of symhess ---------------

STEPS = (1.0, 3e-1, 1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4)
ATOL = 1e-9
RTOL = {"gradient": 1e-6, "Hessian": 1e-5}


def _richardson(estimate, h0):
    """Two Richardson levels on an even-error difference quotient; (value, error estimate)."""
    d = [np.asarray(estimate(h0 / 2 ** k), dtype=float) for k in range(3)]
    r1 = [(4 * d[k + 1] - d[k]) / 3 for k in range(2)]
    r2 = (16 * r1[1] - r1[0]) / 15
    return r2, np.abs(r2 - r1[1])


def _gradient_quotient(f, x):
    eye = np.eye(x.size)
    return lambda h: np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in eye])


def _hessian_quotient(f, x):
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

    return quotient


def tolerance(want, rtol):
    return rtol * (np.abs(want) + np.max(np.abs(want))) + ATOL


def converged(quotient, rtol):
    """The first Richardson estimate whose own error and whose change from the previous
    (larger) step are below a tenth of the tolerance in every component; else None."""
    previous = None
    with np.errstate(all="ignore"):
        for h0 in STEPS:
            want, error = _richardson(quotient, h0)
            if not np.all(np.isfinite(want)):
                previous = None
                continue
            limit = tolerance(want, rtol) / 10
            if previous is not None and np.all(error <= limit) and np.all(np.abs(want - previous) <= limit):
                return want
            previous = want
    return None


def reference(func, x):
    """Converged finite-difference gradient and Hessian of the plain function, or None."""
    def f(z):
        return float(np.asarray(func(z), dtype=np.float64).reshape(-1)[0])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gradient = converged(_gradient_quotient(f, x), RTOL["gradient"])
        if gradient is None:
            return None
        hessian = converged(_hessian_quotient(f, x), RTOL["Hessian"])
    if hessian is None:
        return None
    return {"gradient": gradient, "Hessian": hessian}


def sample_points(problem, name, count, deterministic):
    """``count`` random points of the bounds where the plain function is well behaved."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    lb = np.asarray(problem.lb, dtype=float)
    ub = np.asarray(problem.ub, dtype=float)
    flat = ub <= lb
    lb, ub = np.where(flat, lb - 0.5, lb), np.where(flat, ub + 0.5, ub)  # Deb01 ships [-1, -1]
    points, rejected, last_error = [], 0, None
    for _ in range(500):
        x = rng.uniform(lb, ub)
        try:
            plain_value(problem.evaluate, x)
        except Exception as error:  # outside the function's domain (NaN, overflow, ...)
            last_error = error
            continue
        ref = reference(problem.evaluate, x) if deterministic else None
        if deterministic and ref is None and rejected < MAX_REJECTED:
            rejected += 1
            continue
        points.append((x, ref))
        if len(points) == count:
            return points, rejected
    if points:
        return points, rejected
    raise RuntimeError(f"no point of the bounds evaluates cleanly on plain NumPy: "
                       f"{type(last_error).__name__}: {last_error}")


def adjudicate(func, x, compiled, ref) -> tuple[str, str]:
    """After check_derivatives disagreed: is symhess right, wrong, or can't we tell?"""
    value = float(np.asarray(compiled.value(x)).reshape(-1)[0])
    want = float(np.asarray(func(x), dtype=np.float64).reshape(-1)[0])
    if not np.isclose(value, want, rtol=1e-9, atol=1e-12 * max(1.0, abs(want))):
        return "mismatch", f"value {value!r} != {want!r}"
    hessian = np.asarray(compiled.hessian(x)).reshape(x.size, x.size)
    direction = np.random.default_rng(0).standard_normal(x.size)
    product = np.asarray(compiled.hvp(x, v=direction)[1]).reshape(-1)
    if not np.allclose(product, hessian @ direction, rtol=1e-8,
                       atol=1e-8 * max(1.0, float(np.max(np.abs(hessian))))):
        return "mismatch", "hvp differs from the Hessian times the vector"
    if ref is None:
        return "undecided", "no converged finite-difference reference at this point"
    got = {"gradient": np.asarray(compiled.gradient(x)).reshape(-1), "Hessian": hessian}
    notes = []
    for label in ("gradient", "Hessian"):
        difference = np.abs(got[label] - ref[label])
        if np.any(difference > tolerance(ref[label], RTOL[label])):
            return "mismatch", (f"{label} differs from the converged Richardson reference by "
                                f"{np.max(difference):.3g} (reference max {np.max(np.abs(ref[label])):.3g})")
        notes.append(f"{label} agrees to {np.max(difference):.2g}")
    return "passed_refined", "; ".join(notes)


# ----- one function ----------------------------------------------------------------

class _TimeoutError(Exception):
    pass


def _alarm(signum, frame):
    raise _TimeoutError


def check_point(func, x, ref) -> dict:
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
                status, detail = adjudicate(func, x, symhess.compile(func, x), ref)
                detail = f"{first}; {detail}"
            except Exception as inner:
                status, detail = "other", f"{first}; adjudication failed: {type(inner).__name__}: {inner}"
        except _TimeoutError:
            raise
        except Exception as error:
            message = str(error).splitlines()[0] if str(error) else ""
            status, detail = "other", f"{type(error).__name__}: {message}"
    found = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    return {"x": x.tolist(), "status": status, "detail": detail, "warnings": found,
            "seconds": round(time.perf_counter() - start, 3)}


SEVERITY = ["passed", "passed_refined", "trace_error", "undecided", "other", "mismatch"]


def run_case(suite, name, cls, points) -> dict | None:
    start = time.perf_counter()
    problem = instantiate(cls, suite)
    if problem is None:
        return None
    kind, reason = classify(name, cls, suite)
    record = {"suite": suite, "name": name, "title": getattr(cls, "name", name), "class": kind,
              "why": reason, "n": int(problem.ndim), "points": []}
    use_alarm = hasattr(signal, "SIGALRM") and CASE_TIMEOUT
    if use_alarm:
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, CASE_TIMEOUT)
    try:
        try:
            drawn, record["rejected"] = sample_points(problem, name, points, kind != "stochastic")
        except RuntimeError as error:
            record.update(status="broken_upstream", detail=str(error))
            if kind == "smooth":
                record["class"] = "broken"
            return record
        for x, ref in drawn:
            record["points"].append(check_point(problem.evaluate, x, ref))
    except _TimeoutError:
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
    ok = {"passed", "passed_refined"}
    out = {}
    for suite in [*sorted({r["suite"] for r in records}), "all"]:
        chosen = [r for r in records if suite in ("all", r["suite"])]
        smooth = [r for r in chosen if r["class"] == "smooth"]
        k, m = sum(r["status"] in ok for r in smooth), len(smooth)
        counts = {}
        for r in chosen:
            counts.setdefault(r["class"], {}).setdefault(r["status"], 0)
            counts[r["class"]][r["status"]] += 1
        out[suite] = {
            "smooth_passed": k, "smooth_total": m, "smooth_percent": round(100 * k / m, 1) if m else 0.0,
            "smooth_passed_plain_fd": sum(r["status"] == "passed" for r in smooth),
            "smooth_failed": [r["name"] for r in smooth if r["status"] not in ok],
            "wrong_numbers": [r["name"] for r in chosen if r["status"] == "mismatch"],
            "wrong_numbers_deterministic": [r["name"] for r in chosen
                                            if r["status"] == "mismatch" and r["class"] != "stochastic"],
            "unclear_errors": [r["name"] for r in chosen if r["status"] == "other"],
            "counts": counts,
        }
    return out


def _symhess_revision() -> str:
    """The checkout's commit, with "+dirty" when symhess/ has uncommitted changes."""
    import subprocess

    root = Path(symhess.__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "symhess"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def run_sweep(suites=("name", "cec"), points=2, only=None, progress=None) -> dict:
    import opfunu

    start = time.perf_counter()
    records, skipped = [], []
    for suite, name, cls in cases(suites):
        if only and name not in only:
            continue
        record = run_case(suite, name, cls, points)
        if record is None:
            skipped.append(name)
            continue
        records.append(record)
        if progress:
            progress(record)
    return {"library": LIBRARY, "library_version": opfunu.__version__,
            "numpy_version": np.__version__, "symhess_version": symhess.__version__,
            "symhess_revision": _symhess_revision(), "suites": list(suites), "points_per_function": points,
            "seconds": round(time.perf_counter() - start, 1), "summary": summarize(records),
            "skipped_cec_not_available_at_n2": skipped, "functions": records}


def _row(r) -> str:
    detail = r.get("detail", "").replace("|", "\\|")
    if len(detail) > 160:
        detail = detail[:157] + "..."
    return (f"| {r['suite']} | {r['name']} | {r['n']} | {r['class']} | {r['status']} | "
            f"{r.get('rejected', '')} | {r.get('seconds', '')} | {detail} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", nargs="+", choices=["name", "cec"], default=["name", "cec"])
    parser.add_argument("--points", type=int, default=2)
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    print("| suite | function | n | class | status | rejected | s | detail |")
    print("|---|---|---|---|---|---|---|---|")
    result = run_sweep(tuple(args.suite), args.points, args.only,
                       progress=lambda r: print(_row(r), flush=True))
    print()
    print(f"{LIBRARY} {result['library_version']}, NumPy {result['numpy_version']}, "
          f"symhess {result['symhess_revision']}, "
          f"{args.points} point(s) per function, {result['seconds']} s; "
          f"{len(result['skipped_cec_not_available_at_n2'])} CEC functions skipped (no n = 2)")
    for suite, s in result["summary"].items():
        print(f"[{suite}]")
        for kind, counts in sorted(s["counts"].items()):
            print(f"  {kind}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        print(f"  smooth functions traced and matching: {s['smooth_passed']} / {s['smooth_total']} "
              f"({s['smooth_percent']}%)  [check_derivatives alone: {s['smooth_passed_plain_fd']}]")
        print(f"  smooth functions failing: {s['smooth_failed']}")
        print(f"  wrong numbers: {s['wrong_numbers']} (deterministic functions: "
              f"{s['wrong_numbers_deterministic']})")
        print(f"  unclear errors (not TraceError): {s['unclear_errors']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main()
    sys.exit(0)
