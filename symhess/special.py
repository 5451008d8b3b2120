"""Special functions the C math library lacks, as straight-line formulas on doubles.

Each function here is the meaning of one three-address function (:mod:`symhess.llvm` writes
the same steps as LLVM IR, :mod:`symhess.export_c` as C): no data-dependent loops, only a
fixed number of steps whose effect is chosen by comparisons, so that all three run the same
operations in the same order.  The coefficients come from exact rationals (Bernoulli numbers,
derivatives of the cotangent), computed once.  Accuracy against ``scipy.special`` is checked
by ``tests/test_special.py`` (about 1e-15 relative, away from the zeros of the functions).

- ``digamma``: reflection for negative ``x``, shifted up to ``x >= 10`` by recurrence, then the
  asymptotic series (PyTorch's and Cephes's scheme).
- ``polygamma(n, x)``, ``n >= 1``: the same, with the reflection ``psi_n(x) = (-1)^n psi_n(1 - x)
  - pi^(n+1) P_n(cot(pi x))`` and the Euler-Maclaurin tail of the Hurwitz zeta function.
- ``erfinv``/``ndtri``: Winitzki's closed-form guess refined by three Halley steps on
  ``erf``/``erfc`` (whichever is exact at that point), so they are as accurate as the C library's
  ``erf``/``erfc``, also in the tails (``ndtri(1e-300)``); in the last subnormal numbers, where
  ``erfc`` itself has few digits, less so (``ndtri(1e-315)`` 1e-13 relative, ``ndtri(5e-324)`` 1e-4).
- ``erfcx = exp(x^2) erfc(x)`` with ``x^2`` split exactly, and its asymptotic series for ``x >= 26``;
  ``log_ndtr`` as PyTorch writes it with ``erfcx``.
- ``bessel_ie(n, x) = exp(-|x|) I_n(x)`` (``i0e``, ``i1e``, and ``i0 = exp(|x|) i0e``): the power
  series below ``|x| = 20``, Hankel's asymptotic series above, for integer orders up to
  :data:`BESSEL_MAX_ORDER`; the coefficients by the same float recurrences as the C helper.
- ``gammainc(a, x)``/``gammaincc(a, x)``, the regularised incomplete gamma functions P and Q for
  ``0 < a <=`` :data:`GAMMAINC_MAX_A`: P's power series below ``x = a + 1``, Legendre's continued
  fraction of Q (evaluated from its tail, a fixed depth) above, and for ``a < 1`` below ``x = 1.1`` Q's
  own series (1 - P would cancel); ``x^a e^-x / Gamma(a)`` written around ``x = a`` so that
  ``a log a`` cancels exactly (Stirling's series from ``a = 10``).  The loops have fixed lengths (the
  LLVM tiers and C run them as loops, in the same order).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import math

import mpmath
import sympy as sp

DIGAMMA_SHIFT = 10
"""digamma is shifted by recurrence until its argument is at least this."""

ERFCX_ASYMPTOTIC = 26.0
"""erfcx switches to its asymptotic series here (``erfc`` would underflow soon after)."""

ERFCX_TERMS = 10
HALLEY_STEPS = 4  # three leave 2e-15 at ndtri(1e-299); four are exact to rounding everywhere tried
WINITZKI_A = 0.147
SQRT_PI_2 = math.sqrt(math.pi) / 2


DIGAMMA_ROOT = 1.4616321449683623
"""The double nearest the positive zero of digamma; within :data:`DIGAMMA_ROOT_RADIUS` of it digamma
is its Taylor series there (the recurrence would subtract nearly equal numbers: 1e-12 relative)."""

DIGAMMA_ROOT_RADIUS = 0.25


@functools.cache
def digamma_root_series() -> tuple[float, ...]:
    """Taylor coefficients of digamma at :data:`DIGAMMA_ROOT`, degree 26 .. 0 (Horner order):
    ``psi^(k)(r) / k! = (-1)^(k+1) zeta(k+1, r)``, and ``psi(r)`` itself (about -9.2e-17)."""
    with mpmath.workdps(40):
        root = mpmath.mpf(DIGAMMA_ROOT)
        terms = [mpmath.digamma(root)] + [(-1) ** (k + 1) * mpmath.zeta(k + 1, root) for k in range(1, 27)]
        return tuple(float(t) for t in reversed(terms))


@functools.cache
def digamma_series() -> tuple[float, ...]:
    """``B_2k / (2k)`` for k = 7 .. 1 (Horner order): psi(y) ~ log y - 1/(2y) - sum_k B_2k/(2k y^2k)."""
    return tuple(float(sp.bernoulli(2 * k) / (2 * k)) for k in range(7, 0, -1))


def polygamma_shift(n: int) -> int:
    """polygamma(n, .) is shifted until its argument is at least this: the tail's terms then fall
    below 1e-20 of its value (they grow with n: the series is asymptotic)."""
    return 10 + n + 1


@functools.cache
def polygamma_tail(n: int) -> tuple[float, ...]:
    """Euler-Maclaurin coefficients ``B_2j/(2j)! * s (s+1) ... (s+2j-2)``, s = n + 1, j = 12 .. 1 (Horner order)."""
    s = n + 1
    return tuple(float(sp.bernoulli(2 * j) / sp.factorial(2 * j) * sp.rf(s, 2 * j - 1)) for j in range(12, 0, -1))


@functools.cache
def cotangent_derivative(n: int) -> tuple[float, ...]:
    """Coefficients (highest first) of ``P_n`` with ``d^n/dx^n cot(pi x) = pi^n P_n(cot(pi x))``."""
    c = sp.Symbol("c")
    p = c
    for _ in range(n):
        p = sp.expand(-(1 + c**2) * sp.diff(p, c))
    return tuple(float(k) for k in sp.Poly(p, c).all_coeffs())


def horner(coefficients, z: float) -> float:
    total = coefficients[0]
    for k in coefficients[1:]:
        total = total * z + k
    return total


def _shifted(y: float, limit: int, term) -> tuple[float, float]:
    """``limit`` steps of ``if y < limit: total += term(y); y += 1``: y >= limit after them for y >= 0."""
    total = 0.0
    for _ in range(limit):
        below = y < limit
        total += term(y) if below else 0.0
        y = y + 1.0 if below else y
    return total, y


def _ceil(v: float) -> float:
    return float(math.ceil(v)) if math.isfinite(v) else v


def _rint(v: float) -> float:
    return float(round(v)) if math.isfinite(v) else v


def _floor(v: float) -> float:
    return float(math.floor(v)) if math.isfinite(v) else v


def digamma(x: float) -> float:
    if x == 0.0:
        return math.copysign(math.inf, -x)
    negative = x < 0.0
    if negative and x == _ceil(x):
        return math.nan
    y = 1.0 - x if negative else x
    shift, y = _shifted(y, DIGAMMA_SHIFT, lambda v: 1.0 / v)
    z = 1.0 / (y * y)
    value = math.log(y) - 0.5 / y - z * horner(digamma_series(), z) - shift if y == y else y
    if negative:  # reflection, from x's distance to the nearest integer (pi x loses digits near poles)
        value -= math.pi / math.tan(math.pi * (x - _rint(x)))
    if abs(x - DIGAMMA_ROOT) < DIGAMMA_ROOT_RADIUS:
        return horner(digamma_root_series(), x - DIGAMMA_ROOT)
    return value


def polygamma(n: float, x: float) -> float:
    """psi^(n)(x) for an integer ``n >= 0``; NaN for other ``n`` (symhess traces only constant integer orders)."""
    if n != n or n < 0 or n != math.floor(n):
        return math.nan
    n = int(n)
    if n == 0:
        return digamma(x)
    if x <= 0.0 and x == _ceil(x):  # a pole: SciPy's sign (+inf for odd n, -inf for even n)
        return math.inf if n % 2 else -math.inf
    s = n + 1
    negative = x < 0.0
    y = 1.0 - x if negative else x
    shift, y = _shifted(y, polygamma_shift(n), lambda v: _pow(v, -s))
    w = 1.0 / y
    tail = _pow(y, 1 - s) / n + _pow(y, -s) * (0.5 + w * horner(polygamma_tail(n), w * w))
    value = (1.0 if n % 2 else -1.0) * math.factorial(n) * (shift + tail)
    if negative:
        cot = 1.0 / math.tan(math.pi * (x - _rint(x)))
        value = (-value if n % 2 else value) - math.pi ** (n + 1) * horner(cotangent_derivative(n), cot)
    return value


@functools.cache
def libm(name: str):
    """The C math library's ``name`` (what the compiled code calls), else Python's ``math.<name>``:
    Python's own ``lgamma`` is 1e-11 wrong near its zeros 1 and 2, where the C library's is exact."""
    path = ctypes.util.find_library("m")
    function = getattr(ctypes.CDLL(path), name, None) if path else None
    if function is None:
        return getattr(math, name)
    function.restype, function.argtypes = ctypes.c_double, [ctypes.c_double]
    return function


def lgamma(x: float) -> float:
    """log|Gamma(x)|, +inf at the poles."""
    return libm("lgamma")(x)


def erfc(x: float) -> float:
    return libm("erfc")(x)


def erf(x: float) -> float:
    return libm("erf")(x)


def _inverse_erf(a: float, q: float) -> float:
    """``x >= 0`` with ``erf(x) = a``, given ``a`` in [0, 1] and ``q = 1 - a`` exactly."""
    if not q >= 0.0:
        return math.nan
    if q == 0.0:
        return math.inf
    log_q = math.log(q)
    big_l = log_q + math.log1p(a)  # log(1 - a^2), exact in the tail
    t = 2.0 / (math.pi * WINITZKI_A) + 0.5 * big_l
    d = math.sqrt(t * t - big_l / WINITZKI_A) - t
    x = math.sqrt(d if d > 0.0 else 0.0)  # Winitzki's guess (about 1e-3 relative)
    for _ in range(HALLEY_STEPS):  # Halley: erf'' = -2x erf'
        residual = erf(x) - a if a < 0.5 else q - erfc(x)
        u = residual / q * _exp(x * x + log_q) * SQRT_PI_2
        x = x - u / (1.0 + x * u)
    return x


def _pow(a: float, b: float) -> float:
    """C's ``pow`` (Python raises on overflow)."""
    try:
        return math.pow(a, b)
    except OverflowError:
        return math.inf if a > 0 or b % 2 == 0 else math.copysign(math.inf, a)


def _log(u: float) -> float:
    """C's ``log`` of a number >= 0 (Python raises at 0: ``x / a`` may underflow)."""
    return math.log(u) if u > 0.0 else -math.inf


def _exp(u: float) -> float:
    try:
        return math.exp(u)
    except OverflowError:
        return math.inf


def erfinv(y: float) -> float:
    a = abs(y)
    return math.copysign(_inverse_erf(a, 1.0 - a), y)


def ndtri(p: float) -> float:
    """The standard normal quantile: ``-sqrt(2) erfcinv(2p)`` below 1/2, ``sqrt(2) erfinv(2p - 1)`` above."""
    low = p < 0.5
    x = _inverse_erf(1.0 - 2.0 * p if low else 2.0 * p - 1.0, 2.0 * p if low else 2.0 - 2.0 * p)
    return math.sqrt(2.0) * (-x if low else x)


def erfcx(x: float) -> float:
    """``exp(x^2) erfc(x)``: ``x = h + l`` with ``h`` a multiple of 1/4096 (``h^2`` exact) below 26."""
    if x >= ERFCX_ASYMPTOTIC:
        z = 1.0 / (2.0 * x * x)
        total, term = 1.0, 1.0
        for k in range(1, ERFCX_TERMS):
            term = -term * (2 * k - 1) * z
            total += term
        return total / (x * math.sqrt(math.pi))
    if not math.isfinite(x):
        return math.inf if x < 0 else x
    high = math.floor(x * 4096.0) / 4096.0
    low = x - high
    return _exp(high * high) * math.exp(low * (2.0 * high + low)) * erfc(x)


def log_ndtr(x: float) -> float:
    """log Phi(x), as PyTorch computes it: with erfcx below -1, log1p above."""
    if x < -1.0:
        t = x / math.sqrt(2.0)
        value = erfcx(-t)
        return (math.log(value / 2.0) if value > 0 else -math.inf) - t * t
    return math.log1p(-erfc(x / math.sqrt(2.0)) / 2.0)


BESSEL_SWITCH = 20.0
"""bessel_ie uses its power series below this ``|x|``, the asymptotic series from it on."""

BESSEL_SERIES_TERMS = 50
BESSEL_ASYMPTOTIC_TERMS = 30
BESSEL_MAX_ORDER = 8
"""Highest order checked (1e-15 against mpmath); the asymptotic series loses digits at 20 beyond it."""


def bessel_series(n: int) -> tuple[float, ...]:
    """``1 / (k! (k+n)!)``, k = 49 .. 0 (Horner order in ``(x/2)^2``), by the recurrence C repeats."""
    c = [1.0 / math.factorial(n)]
    for k in range(1, BESSEL_SERIES_TERMS):
        c.append(c[-1] / (k * (k + n)))
    return tuple(reversed(c))


def bessel_asymptotic(n: int) -> tuple[float, ...]:
    """Hankel's ``b_k = b_(k-1) ((2k-1)^2 - 4 n^2) / (8k)``, k = 29 .. 0 (Horner order in ``1/|x|``)."""
    b = [1.0]
    for k in range(1, BESSEL_ASYMPTOTIC_TERMS):
        b.append(b[-1] * ((2 * k - 1) ** 2 - 4 * n * n) / (8 * k))
    return tuple(reversed(b))


def bessel_ie(n: float, x: float) -> float:
    """``exp(-|x|) I_n(x)`` for an integer ``0 <= n <= BESSEL_MAX_ORDER``; NaN for other orders."""
    if n != n or n < 0 or n != math.floor(n) or n > BESSEL_MAX_ORDER:
        return math.nan
    n = int(n)
    a = abs(x)
    if a >= BESSEL_SWITCH:
        value = horner(bessel_asymptotic(n), 1.0 / a) / math.sqrt(2.0 * math.pi * a)
    else:
        half = a / 2.0
        value = math.exp(-a) * math.pow(half, n) * horner(bessel_series(n), half * half)
    return -value if n % 2 and x < 0 else value


GAMMAINC_MAX_A = 1000.0
"""Largest ``a`` of gammainc/gammaincc: the fixed lengths below converge up to it (to about ``a`` ulp)."""

GAMMAINC_SERIES_TERMS = 320    # P's power series at x = a + 1 needs 279 terms at a = 1000
GAMMAINC_FRACTION_TERMS = 110  # Q's continued fraction from x = a + 1 (or 1.1): 95 at the most
GAMMAINC_SMALL_TERMS = 32      # Q's series for a < 1 below x = 1.1: 25
GAMMAINC_SMALL_BOUND = 1.1
STIRLING_FROM = 10.0
HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


@functools.cache
def lgamma1p_series() -> tuple[float, ...]:
    """``lgamma(1 + a) = a * horner(., a)`` for ``|a| < 1/2``: ``-gamma`` and ``(-1)^k zeta(k) / k``, k = 59 .. 1
    (Horner order); ``lgamma(1 + a)`` itself would round ``1 + a`` (1e-13 relative at a = 1e-3)."""
    with mpmath.workdps(40):
        terms = [-mpmath.euler] + [(-1) ** k * mpmath.zeta(k) / k for k in range(2, 60)]
        return tuple(float(t) for t in reversed(terms))


@functools.cache
def stirling_series() -> tuple[float, ...]:
    """``B_2k / (2k (2k - 1))`` for k = 9 .. 1 (Horner order in ``1/a^2``): ``lgamma(a) - (a - 1/2) log a + a
    - log(2 pi)/2 = horner(., 1/a^2) / a``, to 1e-19 from a = 10."""
    return tuple(float(sp.bernoulli(2 * k) / (2 * k * (2 * k - 1))) for k in range(9, 0, -1))


def _gamma_log_factor(a: float, x: float) -> float:
    """``log(x^a e^-x / Gamma(a))`` for ``x > 0``, as ``(a log a - a - lgamma(a)) + a log(x/a) - (x - a)``, whose
    first term Stirling's series gives without ``a log a`` (``log(x/a)`` as ``log1p`` from ``x = a/2``)."""
    d = x - a
    ratio = _log(x / a) if x < 0.5 * a else math.log1p(d / a)
    if a >= STIRLING_FROM:
        w = 1.0 / a
        constant = 0.5 * math.log(a) - HALF_LOG_2PI - w * horner(stirling_series(), w * w)
    else:
        constant = a * math.log(a) - a - lgamma(a)
    return constant + a * ratio - d


def _gamma_q_small(a: float, x: float) -> float:
    """Q for ``a < 1``, ``0 < x < 1.1``: ``1 - x^a / Gamma(1 + a) - x^a / Gamma(a) sum_n (-x)^n / (n! (a + n))``."""
    term, total = 1.0, 0.0
    for n in range(1, GAMMAINC_SMALL_TERMS + 1):
        term = term * -x / n
        total = total + term / (a + n)
    log_x = math.log(x)
    lgamma1p = a * horner(lgamma1p_series(), a) if a < 0.5 else lgamma(1.0 + a)
    return -math.expm1(a * log_x - lgamma1p) - _exp(a * log_x - lgamma(a)) * total


def incomplete_gamma(a: float, x: float) -> tuple[float, float]:
    """``(P(a, x), Q(a, x))``, the regularised lower and upper incomplete gamma functions; NaN outside
    ``0 < a <= GAMMAINC_MAX_A``, ``x >= 0``."""
    if not (0.0 < a <= GAMMAINC_MAX_A) or not x >= 0.0:
        return math.nan, math.nan
    if x == 0.0:
        return 0.0, 1.0
    if x == math.inf:
        return 1.0, 0.0
    factor = _exp(_gamma_log_factor(a, x))
    small = a < 1.0
    if x < (GAMMAINC_SMALL_BOUND if small else a + 1.0):
        term = total = 1.0
        for n in range(1, GAMMAINC_SERIES_TERMS + 1):
            term = term * x / (a + n)
            total = total + term
        p = factor / a * total
        return p, _gamma_q_small(a, x) if small else 1.0 - p
    tail = 0.0
    for i in range(GAMMAINC_FRACTION_TERMS):
        k = float(GAMMAINC_FRACTION_TERMS - i)
        tail = k * (k - a) / (x + (2.0 * k + 1.0) - a - tail)
    q = factor / (x + 1.0 - a - tail)
    return 1.0 - q, q


def gammainc(a: float, x: float) -> float:
    """P(a, x) = gamma(a, x) / Gamma(a) (scipy.special.gammainc, torch.special.gammainc, torch.igamma)."""
    return incomplete_gamma(a, x)[0]


def gammaincc(a: float, x: float) -> float:
    """Q(a, x) = 1 - P(a, x) (scipy.special.gammaincc, torch.special.gammaincc, torch.igammac)."""
    return incomplete_gamma(a, x)[1]
