"""Constrained problems: objective, constraints and the Lagrangian's sparse Hessian, for IPOPT and SciPy.

One scalar function is compiled by the ordinary pipeline:

    K(x, λ; σ, data) = σ f(x) + λ · g(x),   differentiated in (x, λ).

At σ = 1, λ = 0 its value is f and its gradient is ∇f followed by g.  Its upper-triangle Hessian
over (x, λ) holds the Lagrangian Hessian σ∇²f + Σ λᵢ∇²gᵢ in the x block and the constraint
Jacobian in the x-λ block (∂²K/∂xⱼ∂λᵢ = ∂gᵢ/∂xⱼ); the λ block is empty since K is linear in λ.
So one compile (repeated terms rolled into loops, the disk cache, tier 0) gives every callback of
cyipopt's ``Problem`` protocol, and nothing is ever an n × n array.
"""

from __future__ import annotations

import contextlib
import inspect
import time

import numpy as np
import symengine as se

from .compiled import Compiled, _require_deterministic, compile_trace
from .convert import is_tensor, kernel_vector, to_float64, trace_style
from .pipeline import Options
from .sparse import csr_layout, csr_matrix
from .tracing import Trace, input_names, placeholders, trace_function

__all__ = ["NLP", "compile_nlp", "minimize_ipopt"]


def compile_nlp(objective, constraints, x0, *data, simplify="auto", cache=True) -> NLP:
    """Compile ``objective(x, *data)`` (a scalar) and ``constraints(x, *data)`` (a vector g(x), or
    ``constraints=None``) into one :class:`NLP`: the callbacks of ``cyipopt.Problem``.

    ``x0`` fixes the shape of ``x`` (solvers see it flattened); ``data`` are runtime values
    (:meth:`NLP.set_data` swaps them without compiling again), as are the arrays the two
    functions read from their closures and globals.
    """
    for name, func in (("objective", objective), ("constraints", constraints)):
        if func is not None and not callable(func):
            raise TypeError(f"symhess.compile_nlp: {name} must be a function of (x, *data), got {type(func).__name__}")
    if objective is None:
        raise TypeError("symhess.compile_nlp needs an objective function; for a feasibility problem "
                        "pass `lambda x, *data: 0 * x.sum()`")
    for k, value in enumerate((x0, *data)):
        if not is_tensor(value):
            what = "x0" if k == 0 else f"data[{k - 1}]"
            raise TypeError(f"symhess.compile_nlp: {what} is a {type(value).__name__}; pass a NumPy array, "
                            "a number or a torch tensor")
    options = Options(simplify=simplify, cache=cache)
    start = time.perf_counter()
    inputs = (x0, *data)
    shapes = [np.shape(to_float64(v)) for v in inputs]
    style = trace_style(inputs)
    names = input_names(objective, len(inputs))
    both = _joined(objective, constraints)
    traced = trace_function(both, shapes, names=names, style=style, lift="all")
    value, g = _outputs(traced, constraints is not None)
    m = len(g)
    taken = set(names)
    lagrange_name, factor_name = _fresh("lagrange", taken), _fresh("obj_factor", taken)
    multipliers, factor = placeholders(lagrange_name, (m,)), placeholders(factor_name, ())
    lagrangian = np.empty((), dtype=object)
    lagrangian[()] = _lagrangian(value, g, factor[()], multipliers)
    trace = Trace((names[0], lagrange_name, factor_name, *names[1:]), (shapes[0], (m,), (), *shapes[1:]),
                  (traced.symbols[0], multipliers, factor, *traced.symbols[1:]), (lagrangian,), False, (),
                  traced.data, traced.lift)
    seconds = time.perf_counter() - start
    wrt = (0, 1) if m else (0,)
    examples = (inputs[0], np.zeros(m), 1.0, *inputs[1:])
    compiled = compile_trace(trace, examples, wrt, False, options, seconds,
                             verify=lambda: _require_deterministic(both, shapes, traced, style))
    return NLP(compiled, int(np.prod(shapes[0], dtype=np.int64)), m, shapes[1:], data)


def _joined(objective, constraints):
    """One function returning ``(f, g)``: traced once, so both read the same lifted data."""
    if constraints is None:
        return objective

    def objective_and_constraints(x, *data):
        return objective(x, *data), constraints(x, *data)
    # user code, not symhess's (whose functions the search for data skips as a library's)
    objective_and_constraints.__module__ = "__main__"
    with contextlib.suppress(TypeError, ValueError):  # the inputs keep the objective's parameter names
        objective_and_constraints.__signature__ = inspect.signature(objective)  # (also when traced again)
    return objective_and_constraints


def _outputs(traced, constrained: bool):
    """The objective's expression and the flat list of the constraints' expressions."""
    outputs = traced.outputs
    if not constrained:
        if traced.output_is_tuple or outputs[0].size != 1:
            raise ValueError(f"symhess.compile_nlp: the objective must return a single-element tensor, got "
                             f"{'a tuple' if traced.output_is_tuple else outputs[0].shape}")
        return outputs[0].reshape(-1)[0], ()
    value, g = outputs
    if value.size != 1:
        raise ValueError(f"symhess.compile_nlp: the objective must return a single-element tensor, got shape "
                         f"{value.shape}; put vector-valued conditions in constraints(x, *data)")
    return value.reshape(-1)[0], tuple(g.reshape(-1))


def _fresh(name: str, taken: set) -> str:
    while name in taken:
        name += "_"
    return name


def _terms(expr):
    return expr.args if isinstance(expr, se.Add) else (expr,)


def _lagrangian(value, g, factor, multipliers):
    """σ f + Σ λᵢ gᵢ with σ and λ distributed over the terms of the sums: copies of one formula
    stay visible to the search for repeated terms (:mod:`symhess.loops`), which rolls them into loops."""
    terms = [factor * t for t in _terms(value)]
    for lam, expr in zip(multipliers.reshape(-1), g):
        terms += [lam * t for t in _terms(expr)]
    return se.Add(*terms)


class NLP:
    """A compiled constrained problem, with the methods of cyipopt's ``Problem`` protocol.

    ``x`` is always the flat vector of ``n`` variables; the ``m`` constraints are the flattened
    output of ``constraints``.  Made by :func:`compile_nlp`.
    """

    def __init__(self, compiled: Compiled, n: int, m: int, data_shapes, data):
        self.compiled = compiled  # the compiled K(x, λ; σ, data): inspection, export
        self.n, self.m = n, m
        self._data_shapes = [tuple(s) for s in data_shapes]
        rows, cols = compiled.hessian_structure()
        inner = cols < n
        self._hessian_at = np.flatnonzero(inner)
        self._hessian_rows, self._hessian_cols = cols[inner], rows[inner]  # lower triangle: row >= col
        self._jacobian_at = np.flatnonzero(~inner)
        self._jacobian_rows, self._jacobian_cols = cols[~inner] - n, rows[~inner]
        self._nnz = len(rows)
        self._z = np.zeros(n + m)       # (x, λ), the kernels' variables
        self._g = np.empty(n + m)       # (∇f, g) at self._at
        self._at = None                 # x of the last gradient evaluation
        self._values = np.empty(self._nnz)
        self._symmetric = None
        self.set_data(*data)

    # ----- data ---------------------------------------------------------------------
    def set_data(self, *data) -> None:
        """New runtime data (the ``*data`` given to :func:`compile_nlp`), same shapes; nothing is compiled again."""
        if len(data) != len(self._data_shapes):
            raise TypeError(f"set_data takes the {len(self._data_shapes)} data array(s) compile_nlp was given, "
                            f"got {len(data)}")
        arrays = []
        for k, (value, shape) in enumerate(zip(data, self._data_shapes)):
            array = to_float64(value)
            if array.shape != shape:
                raise ValueError(f"set_data: data[{k}] has shape {array.shape}; the problem was compiled for "
                                 f"{shape} (compile again with symhess.compile_nlp for other shapes)")
            arrays.append(array.reshape(-1))
        p = self.compiled._with_data(np.concatenate([np.ones(1), *arrays]))  # σ, data, lifted data
        self._p = np.ascontiguousarray(p, dtype=np.float64)
        self._q = self._p.copy()  # σ of the Hessian calls in q[0]
        self._at = None

    # ----- cyipopt's Problem protocol ------------------------------------------------------
    def _x(self, x) -> np.ndarray:
        x = kernel_vector(x)
        if x.shape != (self.n,):
            raise ValueError(f"x has {x.size} values; the problem has {self.n} variables")
        return x

    def _kernels(self):
        return self.compiled._kernels  # looked up per call: tier 0 gives way to Numba's kernels

    def objective(self, x) -> float:
        """f(x)."""
        self._z[:self.n] = self._x(x)
        self._z[self.n:] = 0.0
        return float(self._kernels().value(self._z, self._p))

    def _gradient_and_constraints(self, x) -> np.ndarray:
        x = self._x(x)
        if self._at is None or not np.array_equal(x, self._at):
            self._z[:self.n] = x
            self._z[self.n:] = 0.0
            self._kernels().gradient(self._z, self._p, self._g)
            self._at = x.copy()
        return self._g

    def gradient(self, x) -> np.ndarray:
        """∇f(x), a new array of ``n`` values."""
        return self._gradient_and_constraints(x)[:self.n].copy()

    def constraints(self, x) -> np.ndarray:
        """g(x), a new array of ``m`` values (computed with the gradient, in one pass)."""
        return self._gradient_and_constraints(x)[self.n:].copy()

    def jacobianstructure(self) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, cols)`` of the constraint Jacobian's structural non-zeros (rows: constraints)."""
        return self._jacobian_rows.copy(), self._jacobian_cols.copy()

    def jacobian(self, x) -> np.ndarray:
        """The constraint Jacobian's values in :meth:`jacobianstructure` order."""
        self._evaluate(x, None, 0.0)
        return self._values[self._jacobian_at]

    def hessianstructure(self) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, cols)`` of the Lagrangian Hessian's lower triangle (``rows >= cols``), as IPOPT wants."""
        return self._hessian_rows.copy(), self._hessian_cols.copy()

    def hessian(self, x, lagrange, obj_factor) -> np.ndarray:
        """Values of σ∇²f + Σ λᵢ∇²gᵢ (σ = ``obj_factor``, λ = ``lagrange``) in :meth:`hessianstructure` order."""
        self._evaluate(x, lagrange, obj_factor)
        return self._values[self._hessian_at]

    def _evaluate(self, x, lagrange, obj_factor) -> None:
        """The upper-triangle Hessian of K over (x, λ) into ``self._values``."""
        self._z[:self.n] = self._x(x)
        if lagrange is None:
            self._z[self.n:] = 0.0
        else:
            lam = kernel_vector(lagrange)
            if lam.shape != (self.m,):
                raise ValueError(f"lagrange has {lam.size} values; the problem has {self.m} constraints")
            self._z[self.n:] = lam
        self._q[0] = obj_factor
        self._kernels().hessian(self._z, self._q, self._values)

    # ----- SciPy -------------------------------------------------------------------------
    def _symmetric_layout(self):
        if self._symmetric is None:
            self._symmetric = csr_layout(self.n, self._hessian_cols, self._hessian_rows)
        return self._symmetric

    def lagrangian_hessian_sparse(self, x, lagrange, obj_factor=1.0):
        """The full symmetric σ∇²f + Σ λᵢ∇²gᵢ as a ``scipy.sparse.csr_array`` (n × n, sparse)."""
        return csr_matrix(self._symmetric_layout(), self.hessian(x, np.zeros(self.m) if lagrange is None else lagrange,
                                                                 obj_factor))

    def objective_hessian(self, x):
        """∇²f(x) as a ``scipy.sparse.csr_array``: ``hess=`` of ``scipy.optimize.minimize``."""
        return self.lagrangian_hessian_sparse(x, None, 1.0)

    def jacobian_sparse(self, x):
        """The constraint Jacobian as an m × n ``scipy.sparse.csr_array``."""
        from scipy.sparse import coo_array

        return coo_array((self.jacobian(x), (self._jacobian_rows, self._jacobian_cols)), shape=(self.m, self.n)).tocsr()

    def nonlinear_constraint(self, lb, ub):
        """``scipy.optimize.NonlinearConstraint(g, lb, ub)`` with the sparse Jacobian and ``hess(x, v)`` =
        Σ vᵢ∇²gᵢ(x): pass it to ``minimize(..., method="trust-constr", constraints=[...])``."""
        from scipy.optimize import NonlinearConstraint

        if self.m == 0:
            raise ValueError("this problem was compiled without constraints (constraints=None): there is no "
                             "NonlinearConstraint to make")
        return NonlinearConstraint(self.constraints, lb, ub, jac=self.jacobian_sparse,
                                   hess=lambda x, v: self.lagrangian_hessian_sparse(x, v, 0.0))

    # ----- inspection ------------------------------------------------------------------------
    @property
    def stats(self) -> dict:
        """The compile's sizes and seconds (of K), and the non-zeros IPOPT sees."""
        stats = self.compiled.stats
        stats.update(variables=self.n, constraints=self.m, jacobian_nonzeros=len(self._jacobian_at),
                     lagrangian_hessian_nonzeros=len(self._hessian_at))
        return stats

    @property
    def source(self) -> str:
        return self.compiled.source

    def __repr__(self):
        return (f"<symhess.NLP n={self.n}, m={self.m}, Jacobian non-zeros={len(self._jacobian_at)}, "
                f"Lagrangian Hessian non-zeros={len(self._hessian_at)}>")


def _bounds(values, size: int, default: float, what: str) -> np.ndarray:
    if values is None:
        return np.full(size, default)
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        return np.full(size, float(array))
    array = array.reshape(-1)
    if array.size != size:
        raise ValueError(f"minimize_ipopt: {what} has {array.size} values; the problem has {size}")
    return array


class _Recorded:
    """The problem as cyipopt calls it, plus ``intermediate`` counting IPOPT's iterations."""

    def __init__(self, nlp: NLP):
        self.iterations = 0
        for name in ("objective", "gradient", "constraints", "jacobian", "jacobianstructure", "hessian",
                     "hessianstructure"):
            setattr(self, name, getattr(nlp, name))

    def intermediate(self, alg_mod, iter_count, *args):
        self.iterations = iter_count
        return True


def minimize_ipopt(nlp: NLP, x0, lb=None, ub=None, cl=None, cu=None, options=None):
    """Solve ``nlp`` with IPOPT (through cyipopt) from ``x0``; a ``scipy.optimize.OptimizeResult``.

    ``lb <= x <= ub`` (None: unbounded) and ``cl <= g(x) <= cu``; with both ``cl`` and ``cu`` None the
    constraints are equalities g(x) = 0, with one of them None that side is unbounded (g(x) >= cl is
    SciPy's "ineq").  ``options`` are IPOPT's (``{"print_level": 0, "tol": 1e-10}``).  The result's
    ``lagrange`` holds the constraints' multipliers, ``nit`` IPOPT's iteration count.
    """
    try:
        import cyipopt
    except ImportError:
        raise ImportError("symhess.minimize_ipopt needs cyipopt: pip install 'symhess[ipopt]' (the package "
                          "cyipopt-wheels, a wheel with IPOPT included)") from None
    from scipy.optimize import OptimizeResult

    if not isinstance(nlp, NLP):
        raise TypeError(f"minimize_ipopt takes a problem made by symhess.compile_nlp, got {type(nlp).__name__}")
    x0 = kernel_vector(x0)
    if x0.size != nlp.n:
        raise ValueError(f"minimize_ipopt: x0 has {x0.size} values; the problem has {nlp.n} variables")
    if cl is None and cu is None:
        cl = cu = 0.0
    recorded = _Recorded(nlp)
    problem = cyipopt.Problem(n=nlp.n, m=nlp.m, problem_obj=recorded,
                              lb=_bounds(lb, nlp.n, -np.inf, "lb"), ub=_bounds(ub, nlp.n, np.inf, "ub"),
                              cl=_bounds(cl, nlp.m, -np.inf, "cl"), cu=_bounds(cu, nlp.m, np.inf, "cu"))
    for key, value in (options or {}).items():
        problem.add_option(key, value)
    x, info = problem.solve(x0.copy())
    message = info["status_msg"]
    return OptimizeResult(x=x, fun=float(info["obj_val"]), success=info["status"] in (0, 1), status=info["status"],
                          message=message.decode() if isinstance(message, bytes) else message,
                          nit=recorded.iterations, lagrange=info["mult_g"], mult_x_L=info["mult_x_L"],
                          mult_x_U=info["mult_x_U"], constraints=info["g"], info=info)
