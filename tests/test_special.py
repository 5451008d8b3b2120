"""Special functions (symhess.special): accurate against SciPy and mpmath, the same numbers from
their Python meaning, the LLVM kernels and the C export's helpers, and derivatives that match."""

import ctypes
import math
import re
import shutil
import subprocess

import numpy as np
import pytest

import symhess
import symhess.testing
from symhess import special as S  # noqa: N812 - short: every line names it
from symhess.export_c import HELPERS, NEEDS
from symhess.llvm import python_namespace
from symhess.native import _compile_kernel

sc = pytest.importorskip("scipy.special")
mpmath = pytest.importorskip("mpmath")

RNG = np.random.default_rng(14)
REALS = np.concatenate([RNG.uniform(-20, 20, 600), RNG.uniform(0, 3, 300), 10 ** RNG.uniform(-300, 300, 300),
                        -(10 ** RNG.uniform(-8, 5, 200))])
EDGES = [0.0, -0.0, -2.0, -1.0, 1.0, 2.0, 1.5, -1.5, math.inf, -math.inf, math.nan, S.DIGAMMA_ROOT, 26.0, 25.99,
         -26.7, -27.0, 5e-324, 1e-310, 1e17, -1e17]
PROBABILITIES = np.concatenate([RNG.uniform(0, 1, 600), 10 ** RNG.uniform(-300, 0, 300),
                                1 - 10 ** RNG.uniform(-16, 0, 200)])
PROBABILITY_EDGES = [0.0, 1.0, 0.5, 0.25, 0.75, -0.1, 1.1, math.nan, 2.3e-308, 1e-310, 1 - 2**-53, 2**-54]
"""(Below 1e-310, in the last subnormals, erfc's rounding leaves ndtri 1e-13 to 1e-4 off: symhess.special.)"""


def relative_errors(function, reference, points, floor=0.0):
    """|f - ref| / max(|ref|, floor) at each point where the reference is finite and non-zero."""
    errors = []
    for x in map(float, points):
        expected = float(reference(x))
        if math.isfinite(expected) and (expected != 0 or floor):
            errors.append(abs(function(x) - expected) / max(abs(expected), floor))
    return np.array(errors)


@pytest.mark.parametrize(("name", "function", "reference", "points", "tolerance"), [
    ("digamma", S.digamma, sc.digamma, REALS[REALS > 0], 4e-15),
    # near its zeros 1 and 2 SciPy's gammaln is 1e-12 off (the C library's: test_tails_against_mpmath)
    ("lgamma", S.lgamma, lambda x: sc.gammaln(x) if abs(x - 1.5) > 0.6 else math.nan, REALS[REALS > 0], 4e-15),
    ("erfinv", S.erfinv, sc.erfinv, np.concatenate([2 * PROBABILITIES - 1, PROBABILITIES, -PROBABILITIES]), 2e-15),
    ("ndtri", S.ndtri, sc.ndtri, PROBABILITIES, 2e-15),
    ("erfcx", S.erfcx, sc.erfcx, REALS[REALS > -6], 2e-15),  # below -6 SciPy's exp(x*x) is 1e-14 off
    # above 0 both take erfc(x / sqrt(2)), whose rounded argument costs up to x^2 ulp
    ("log_ndtr", S.log_ndtr, sc.log_ndtr, REALS[REALS < 6], 1e-14),
])
def test_accurate_against_scipy(name, function, reference, points, tolerance):
    errors = relative_errors(function, reference, points)
    assert len(errors) > 500 and errors.max() < tolerance, (name, errors.max())


@pytest.mark.parametrize("n", [1, 2, 3, 4, 6])
def test_polygamma_against_scipy(n):
    points = REALS[(np.abs(REALS) < 1e6) & (REALS > 0)]
    errors = relative_errors(lambda x: S.polygamma(n, x), lambda x: sc.polygamma(n, x), points)
    assert errors.max() < 5e-15


@pytest.mark.parametrize("n", range(S.BESSEL_MAX_ORDER + 1))
def test_scaled_bessel_against_mpmath(n):
    points = np.concatenate([RNG.uniform(-40, 40, 150), [S.BESSEL_SWITCH, -S.BESSEL_SWITCH, 19.999, 1e-3, 1e3]])
    with mpmath.workdps(40):
        errors = relative_errors(lambda x: S.bessel_ie(n, x),
                                 lambda x: float(mpmath.besseli(n, x) * mpmath.exp(-abs(mpmath.mpf(x)))), points)
    assert errors.max() < 3e-15
    assert S.bessel_ie(n, 0.0) == (1.0 if n == 0 else 0.0) and S.bessel_ie(n, math.inf) == 0.0
    np.testing.assert_allclose([S.bessel_ie(n, x) for x in points], sc.ive(n, points), rtol=1e-13)  # SciPy: less exact


GAMMAINC_A = [1e-4, 0.01, 0.1, 0.5, 0.9, 1.0, 1.5, 2.5, 7.3, 10.0, 12.5, 30.0, 100.0, 300.0, 999.9]


@pytest.mark.parametrize("a", GAMMAINC_A)
def test_incomplete_gamma_against_mpmath_and_scipy(a):
    """P and Q to a few ulp, and to about ``|x - a| + a |log(x/a)|`` ulp away from ``x = a`` (the rounding of
    ``x^a e^-x``'s exponent; SciPy's error is as large there but for its asymptotic series at large ``a``): where
    SciPy is exact and ``|x - a| < 30``, within 1e-14 of it."""
    x = np.concatenate([a * np.exp(RNG.uniform(-4, 4, 40)), a + np.sqrt(a) * RNG.uniform(-4, 4, 40),
                        [a + 1, 1.1, 1.0999, 0.3, 0.7, a]])
    x = x[x > 0]
    with mpmath.workdps(40):
        for v in x:
            p, q = float(mpmath.gammainc(a, 0, v, regularized=True)), float(mpmath.gammainc(a, v, mpmath.inf,
                                                                                             regularized=True))
            tolerance = 2e-16 * (50 + abs(v - a) + a * abs(math.log(v / a)))
            for mine, exact, theirs in ((S.gammainc(a, v), p, sc.gammainc(a, v)), (S.gammaincc(a, v), q,
                                                                                     sc.gammaincc(a, v))):
                if exact > 1e-300:
                    assert abs(mine - exact) <= tolerance * exact, (a, v, mine, exact)
                    if abs(theirs - exact) <= 1e-15 * exact and abs(v - a) < 30:
                        assert abs(mine - theirs) <= 1e-14 * exact, (a, v, mine, theirs)


def test_incomplete_gamma_at_the_edges_follows_scipy():
    for a in (0.5, 3.0, 1000.0):
        for x in (0.0, math.inf, math.nan, -1.0, 5e-324, 1e300):
            for mine, theirs in ((S.gammainc(a, x), sc.gammainc(a, x)), (S.gammaincc(a, x), sc.gammaincc(a, x))):
                assert mine == theirs or (math.isnan(mine) and math.isnan(theirs)), (a, x, mine, theirs)
    for a in (0.0, -1.0, 1000.5, math.nan):  # outside what symhess traces (refused there): NaN
        assert math.isnan(S.gammainc(a, 1.0)) and math.isnan(S.gammaincc(a, 1.0))


@pytest.mark.parametrize(("function", "reference", "tolerance"), [
    (S.digamma, mpmath.digamma, 1e-14), (lambda x: S.polygamma(1, x), lambda x: mpmath.polygamma(1, x), 1e-14),
    # the reflection subtracts terms of about 100 near the zeros of psi^(4) at negative x: 1e-13 of the value there
    (lambda x: S.polygamma(4, x), lambda x: mpmath.polygamma(4, x), 1e-12),
])
def test_negative_arguments_by_reflection_against_mpmath(function, reference, tolerance):
    """Near the poles too (SciPy's digamma is 2e-12 off at -10.99996); relative to 1 near the zeros."""
    points = np.concatenate([-RNG.uniform(0, 40, 200), -np.arange(1, 12) + 4e-5, -np.arange(1, 12) - 3e-7])
    with mpmath.workdps(40):
        errors = relative_errors(function, lambda x: float(reference(mpmath.mpf(x))), points, floor=1.0)
    assert errors.max() < tolerance


def test_tails_against_mpmath():
    with mpmath.workdps(40):
        for p in (1e-300, 1e-100, 1e-20, 1e-5):
            exact = float(-mpmath.sqrt(2) * mpmath.erfinv(1 - 2 * mpmath.mpf(p))) if p > 1e-15 else \
                float(mpmath.findroot(lambda z, p=p: mpmath.ncdf(z) - p, S.ndtri(p)))
            assert S.ndtri(p) == pytest.approx(exact, rel=2e-16 * 4)
        for x in (-23.4, -5.0, 30.0, 1e5):
            exact = float(mpmath.exp(mpmath.mpf(x) ** 2) * mpmath.erfc(x))
            assert S.erfcx(x) == pytest.approx(exact, rel=1e-15)
        for x in (-1e4, -40.0, -3.0):
            assert S.log_ndtr(x) == pytest.approx(float(mpmath.log(mpmath.ncdf(x))), rel=1e-15)
        for x in (1.0001, 1.9999, 2.0001, 0.9999):  # lgamma's zeros: the C library's, not Python's
            assert S.lgamma(x) == pytest.approx(float(mpmath.loggamma(x)), rel=1e-15)


def test_values_at_the_edges_follow_scipy():
    for x in EDGES:
        for mine, theirs in ((S.digamma(x), sc.digamma(x)), (S.erfcx(x), sc.erfcx(x)),
                             (S.log_ndtr(x), sc.log_ndtr(x)), (S.polygamma(2, x), sc.polygamma(2, x))):
            if math.isinf(theirs) or math.isnan(theirs) or theirs == 0:
                assert mine == theirs or (math.isnan(mine) and math.isnan(theirs)), (x, mine, theirs)
    for p in PROBABILITY_EDGES:
        for mine, theirs in ((S.ndtri(p), sc.ndtri(p)), (S.erfinv(p), sc.erfinv(p))):
            assert mine == pytest.approx(theirs, rel=1e-15, nan_ok=True), (p, mine, theirs)
    assert S.polygamma(1.5, 2.0) != S.polygamma(1.5, 2.0), "a non-integer order is NaN (never traced)"


# ----- the same numbers from the Python meaning, LLVM and C -------------------------------------

EXPRESSIONS = ["digamma(a)", "polygamma(0.0, a)", "polygamma(1.0, a)", "polygamma(2.0, a)", "polygamma(5.0, a)",
               "erfinv(a)", "ndtri(a)", "erfcx(a)", "log_ndtr(a)", "lgamma(a)", "erfc(a)", "bessel_ie(0.0, a)",
               "bessel_ie(1.0, a)", "bessel_ie(4.0, a)", "gammainc(0.3, a)", "gammaincc(0.3, a)", "gammainc(2.5, a)",
               "gammaincc(17.0, a)", "gammainc(1000.0, a)", "gammaincc(1000.0, a)", "gammainc(a, 3.5)",
               "gammaincc(a, 0.8)"]


def _points(expression):
    if expression.startswith(("erfinv", "ndtri")):
        return np.concatenate([PROBABILITIES, -PROBABILITIES, PROBABILITY_EDGES])
    return np.concatenate([REALS, EDGES])


def _same(got, expected, expression):
    for g, e, x in zip(got, expected, _points(expression)):
        assert (g == e and math.copysign(1, g) == math.copysign(1, e)) or (math.isnan(g) and math.isnan(e)), \
            (expression, x, g, e)


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_llvm_computes_the_python_meaning_exactly(expression):
    points = _points(expression)
    code = f"\ndef k(x, out):\n    for m in range({len(points)}):\n        a = x[1*m]\n        t = {expression}\n" \
           "        out[1*m] = t\n    return 0.0\n"
    _, function = _compile_kernel("k", ("x", "out"), code, None)
    x, out = np.ascontiguousarray(points), np.zeros(len(points))
    function(x.ctypes.data, out.ctypes.data)
    namespace = python_namespace()
    _same(out, [eval(expression, namespace, {"a": float(a)}) for a in points], expression)


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler on PATH")
def test_c_helpers_compute_the_python_meaning(tmp_path):
    names = {"digamma", "polygamma", "erfinv", "ndtri", "erfcx", "log_ndtr", "bessel_ie", "gammainc", "gammaincc"}
    wanted = names | {n for name in names for n in NEEDS.get(name, ())}
    wanted |= {n for name in wanted for n in NEEDS.get(name, ())}
    lines = ["#include <math.h>", *(HELPERS[h] for h in HELPERS if h in wanted),
             "void run(int which, double order, const double *x, double *out, long count) {",
             "    for (long k = 0; k < count; ++k)",
             "        out[k] = which == 0 ? sh_polygamma(order, x[k]) : which == 1 ? sh_erfinv(x[k])"
             " : which == 2 ? sh_ndtri(x[k]) : which == 3 ? sh_erfcx(x[k]) : which == 4 ? sh_log_ndtr(x[k])"
             " : which == 5 ? sh_digamma(x[k]) : which == 6 ? sh_bessel_ie(order, x[k])"
             " : which == 7 ? sh_gammainc(order, x[k]) : sh_gammaincc(order, x[k]);", "}"]
    source = tmp_path / "special.c"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    library = tmp_path / "special.so"
    done = subprocess.run(["cc", "-O2", "-Wall", "-Werror", "-std=c99", "-shared", "-fPIC", "-o", str(library),
                           str(source), "-lm"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    run = ctypes.CDLL(str(library)).run
    run.argtypes = [ctypes.c_int, ctypes.c_double, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long]
    cases = [(0, n, f"polygamma({n}, a)") for n in (0.0, 1.0, 2.0, 5.0)] + \
        [(k + 1, 0.0, f"{name}(a)") for k, name in enumerate(["erfinv", "ndtri", "erfcx", "log_ndtr", "digamma"])] + \
        [(6, n, f"bessel_ie({n}, a)") for n in (0.0, 1.0, 5.0)] + \
        [(7 + upper, a, f"{name}({a}, a)") for upper, name in enumerate(["gammainc", "gammaincc"])
         for a in (0.3, 2.5, 17.0, 1000.0)]
    namespace = python_namespace()
    for which, order, expression in cases:
        points = np.ascontiguousarray(_points(expression))
        out = np.zeros(len(points))
        run(which, order, points.ctypes.data, out.ctypes.data, len(points))
        expected = np.array([eval(expression, namespace, {"a": float(a)}) for a in points])
        finite = np.isfinite(expected)
        np.testing.assert_allclose(out[finite], expected[finite], rtol=1e-15)  # the same steps; C may fuse
        np.testing.assert_array_equal(out[~finite], expected[~finite])


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler on PATH")
def test_incomplete_gamma_in_the_exported_c(tmp_path):
    """A literal a, and a of data rows that the repeated term's loop reads from the constants at run time."""
    from test_export_c import exported

    a, rows = np.linspace(0.5, 30.0, 200), np.linspace(0.1, 40.0, 200)

    def f(x):
        return np.sum(sc.gammaincc(a, x[0] * rows) * x[1] ** 2) + sc.gammainc(2.5, x[0] * x[1])

    x = np.array([1.1, 2.0])
    compiled = symhess.compile(f, x)
    c, value = exported(compiled, tmp_path, "g"), np.empty(1)
    c.call("value", x, c.defaults(), value)
    assert value[0] == pytest.approx(f(x), rel=1e-14) and value[0] == pytest.approx(compiled.value(x), rel=1e-15)
    source = (tmp_path / "g.c").read_text(encoding="utf-8")
    assert re.search(r"sh_gammainc\(2\.5, t\d+\)", source) and re.search(r"sh_gammaincc\(t\d+, t\d+\)", source)


# ----- traced: derivatives --------------------------------------------------------------------------

def test_derivatives_of_the_special_functions():
    """Gradient and Hessian against finite differences of the same functions (symhess.testing)."""
    def f(x):
        return np.sum(sc.gammaln(x + 3) * x + sc.digamma(x + 2) + sc.erfc(x) + sc.erfinv(x / 3) + sc.ndtri(x / 4 + 0.5)
                      + sc.log_ndtr(3 * x - 2) + sc.erfcx(x) + sc.betaln(x + 2, 1.5))

    symhess.testing.check_derivatives(f, np.array([0.3, -0.7, 1.1, 0.05]))

    def bessel(x):
        return np.sum(sc.i0(x) + sc.i0e(2 * x) * x + sc.i1(x) ** 2 + sc.i1e(x - 25) + sc.iv(2, x) + sc.ive(3, 30 * x))

    symhess.testing.check_derivatives(bessel, np.array([0.3, -0.7, 1.1, 0.05]))

    def incomplete_gamma(x):  # in x: x^(a-1) e^-x / Gamma(a), and minus that
        return np.sum(sc.gammainc(2.5, x + 1) * x + sc.gammaincc(0.3, x * x) + sc.gammainc([0.5, 1.0, 7.0, 40.0], 30 * x))

    symhess.testing.check_derivatives(incomplete_gamma, np.array([0.3, 0.7, 1.1, 1.3]))


def test_derivative_identities_exactly():
    """d lgamma = digamma, d digamma = polygamma(1, .), d polygamma(n) = polygamma(n + 1) at a point."""
    x = np.array([0.7, 2.3, -1.4])
    g = symhess.compile(lambda x: np.sum(sc.gammaln(x)), x)
    np.testing.assert_allclose(g.gradient(x), [S.digamma(v) for v in x], rtol=1e-15)
    np.testing.assert_allclose(np.diag(g.hessian(x)), [S.polygamma(1, v) for v in x], rtol=1e-15)
    torch = pytest.importorskip("torch")
    h = symhess.hessian(lambda t: torch.polygamma(2, t).sum(), torch.tensor(x))
    np.testing.assert_allclose(np.diag(h.numpy()), [S.polygamma(4, v) for v in x], rtol=1e-15)


def test_mvlgamma_is_nan_outside_its_domain():
    torch = pytest.importorskip("torch")
    f = symhess.compile(lambda x: torch.mvlgamma(x, 3).sum(), torch.tensor([2.0, 3.0]))
    assert math.isnan(f.value(np.array([2.0, 0.9])))  # PyTorch raises: x must exceed (p - 1) / 2 = 1
    assert f.value(np.array([2.0, 3.0])) == pytest.approx(float(sc.multigammaln(2.0, 3) + sc.multigammaln(3.0, 3)),
                                                          rel=1e-14)


def test_polygamma_order_must_be_a_constant_integer():
    torch = pytest.importorskip("torch")
    with pytest.raises(symhess.TraceError, match=r"polygamma with the order n=1\.5.*constant integer n >= 0"):
        symhess.hessian(lambda x: x.polygamma(1.5).sum(), torch.ones(2))  # torch.polygamma takes only ints
    with pytest.raises(symhess.TraceError, match="mvlgamma with p=0"):
        symhess.hessian(lambda x: torch.mvlgamma(x, 0).sum(), torch.ones(2))
