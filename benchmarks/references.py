"""Every tool's prepared calls on one problem: hessian, hvp and batched hessian.

Each builder takes a problem, a point ``x``, a direction ``v`` and a batch ``X`` and
returns :class:`Calls` whose callables take no argument (inputs already bound, in the
form the tool wants them: NumPy arrays, torch tensors, JAX arrays, CasADi buffers), so
the timers measure one call from Python.  A tool whose library is not installed is
left out, and :func:`missing` says why.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

HANDWRITTEN = "hand-written Numba"
HANDWRITTEN_ONE_THREAD = "hand-written Numba, one thread"
SYMHESS_ONE_THREAD = "symhess, one thread"
SYMHESS = "symhess"
SYMHESS_BUFFER = "symhess buffer"
DROPIN = "symhess drop-in (NumPy)"
DROPIN_TORCH = "symhess drop-in (torch)"
CASADI = "CasADi Function"
CASADI_BUFFER = "CasADi buffer"
JAX = "jax.jit"
TORCH_FUNC = "torch.func"
TORCH_AUTOGRAD = "torch.autograd.functional"

LIBRARY = {DROPIN_TORCH: "torch", CASADI: "casadi", CASADI_BUFFER: "casadi", JAX: "jax",
           TORCH_FUNC: "torch", TORCH_AUTOGRAD: "torch"}
WHAT = {
    HANDWRITTEN: "analytic Hessian and hvp, hand-written loops (batches: prange over the points)",
    HANDWRITTEN_ONE_THREAD: "the same batches with numba.set_num_threads(1) (threads can cost more than they give)",
    SYMHESS: "f = symhess.compile(func, x): f.hessian(x), f.hvp(x, v=v), f.hessian(X)",
    SYMHESS_ONE_THREAD: "the same batches with numba.set_num_threads(1)",
    SYMHESS_BUFFER: "b = f.buffer() with x and v written in once: b.hessian() (dense b.H), b.hvp() (as CasADi's buffer)",
    DROPIN: "symhess.hessian(func, x), symhess.hvp(func, x, v) on NumPy arrays",
    DROPIN_TORCH: "symhess.hessian(func, x), symhess.hvp(func, x, v) on torch tensors",
    CASADI: "SX hessian / jtimes, casadi.Function called on NumPy arrays",
    CASADI_BUFFER: "the same Function through its buffer interface (batches: map, threads)",
    JAX: "jax.jit(jax.hessian(f)), jitted jvp-of-grad hvp, jit(vmap(hessian))",
    TORCH_FUNC: "torch.func.hessian, jvp of grad for hvp, vmap(hessian) for batches",
    TORCH_AUTOGRAD: "torch.autograd.functional.hessian and hvp",
}


@dataclass
class Calls:
    """One tool's prepared calls; ``dense`` and ``vector`` turn their results into NumPy."""

    hessian: Callable | None = None
    hvp: Callable | None = None
    hessian_batch: Callable | None = None
    dense: Callable = np.asarray
    vector: Callable = np.asarray
    batch_dense: Callable = np.asarray


def installed(library: str) -> bool:
    return importlib.util.find_spec(library) is not None


def missing() -> dict[str, str]:
    """Tools left out of this run, with the reason."""
    return {tool: f"{library} is not installed" for tool, library in LIBRARY.items() if not installed(library)}


def versions() -> dict[str, str]:
    names = ("symhess", "numpy", "numba", "llvmlite", "symengine", "sympy", "torch", "jax", "jaxlib",
             "casadi", "matplotlib")
    found = {}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


# ----- the builders ----------------------------------------------------------------
def handwritten(problem, x, v, X) -> Calls:
    from handwritten import kernels

    k = kernels(problem)
    return Calls(lambda: k.hessian(x), lambda: k.hvp(x, v), _unless_none(X, k.hessian_batch), vector=_second)


def one_thread(calls: Calls) -> Calls:
    """The batched call of ``calls`` with Numba's thread pool limited to one thread."""
    import numba

    def call():
        threads = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            return calls.hessian_batch()
        finally:
            numba.set_num_threads(threads)

    return Calls(hessian_batch=call if calls.hessian_batch else None)


def symhess_compiled(compiled, x, v, X) -> Calls:
    return Calls(lambda: compiled.hessian(x), lambda: compiled.hvp(x, v=v), _unless_none(X, compiled.hessian),
                 vector=_second)


def symhess_buffer(compiled, x, v) -> Calls:
    b = compiled.buffer()
    b.x[:], b.v[:] = x.reshape(-1), v.reshape(-1)
    hessian, hvp, H, hv = b.hessian, b.hvp, b.H, b.hv

    def hessian_call():
        hessian()
        return H

    return Calls(hessian_call, lambda: (hvp(), hv), vector=_second)


def symhess_dropin(problem, x, v, X) -> Calls:
    import symhess

    func = problem.function("numpy")
    return Calls(lambda: symhess.hessian(func, x), lambda: symhess.hvp(func, x, v), vector=_second)


def symhess_dropin_torch(problem, x, v, X) -> Calls:
    import torch

    import symhess

    func, xt, vt = problem.function("torch"), torch.as_tensor(x), torch.as_tensor(v)
    return Calls(lambda: symhess.hessian(func, xt), lambda: symhess.hvp(func, xt, vt),
                 dense=_numpy, vector=lambda r: _numpy(r[1]))


def torch_autograd(problem, x, v, X) -> Calls:
    import torch
    from torch.autograd import functional

    func, xt, vt = problem.function("torch"), torch.as_tensor(x), torch.as_tensor(v)
    return Calls(lambda: functional.hessian(func, xt), lambda: functional.hvp(func, xt, vt),
                 dense=_numpy, vector=lambda r: _numpy(r[1]))


def torch_func(problem, x, v, X) -> Calls:
    import torch
    from torch.func import grad, hessian, jvp, vmap

    func, xt, vt = problem.function("torch"), torch.as_tensor(x), torch.as_tensor(v)
    batch = None if X is None else _unless_none(torch.as_tensor(X), vmap(hessian(func)))
    return Calls(lambda: hessian(func)(xt), lambda: jvp(grad(func), (xt,), (vt,))[1], batch,
                 dense=_numpy, vector=_numpy, batch_dense=_numpy)


def jax_jit(problem, x, v, X) -> Calls:
    import jax
    import jax.numpy as jnp

    func = problem.function("jax")  # enables float64 first
    hessian = jax.jit(jax.hessian(func))
    product = jax.jit(lambda x, v: jax.jvp(jax.grad(func), (x,), (v,))[1])
    batch = jax.jit(jax.vmap(jax.hessian(func)))
    xj, vj, Xj = jnp.asarray(x), jnp.asarray(v), None if X is None else jnp.asarray(X)
    return Calls(lambda: hessian(xj).block_until_ready(), lambda: product(xj, vj).block_until_ready(),
                 _unless_none(Xj, lambda X: batch(X).block_until_ready()))


def casadi_functions(problem):
    """SX expressions of the problem: ``Function``s of the Hessian and of ``(value, H v)``."""
    import casadi as ca

    xs, vs = ca.SX.sym("x", problem.n), ca.SX.sym("v", problem.n)
    expression = problem.function("casadi")(xs)
    H, gradient = ca.hessian(expression, xs)
    return (ca.Function("hessian", [xs], [H]),
            ca.Function("hvp", [xs, vs], [expression, ca.jtimes(gradient, xs, vs)]))


def casadi_call(problem, x, v, X) -> Calls:
    hessian, product = casadi_functions(problem)
    return Calls(lambda: hessian(x), lambda: product(x, v), dense=lambda r: r.full(),
                 vector=lambda r: r[1].full().reshape(-1))


def casadi_buffer(problem, x, v, X) -> Calls:
    hessian, product = casadi_functions(problem)
    rows, cols = (np.array(a) for a in hessian.sparsity_out(0).get_triplet())

    def dense(nonzeros):
        H = np.zeros((problem.n, problem.n))
        H[rows, cols] = nonzeros
        return H

    def batch_dense(nonzeros):
        return np.stack([dense(part) for part in nonzeros.reshape(X.shape[0], -1)])

    hv = np.empty(problem.n)
    # the rows of a C-ordered X are the columns of the n x B input of the mapped Function
    batch = None if X is None else buffered(hessian.map(X.shape[0], "thread", os.cpu_count() or 1), [X])
    return Calls(buffered(hessian, [x]), buffered(product, [x, v], [np.empty(1), hv]), batch,
                 dense=dense, vector=lambda _: hv, batch_dense=batch_dense)


def buffered(function, inputs, outputs=None) -> Callable:
    """A call of ``function`` through CasADi's buffer interface; returns its first output's non-zeros."""
    buffer, trigger = function.buffer()
    inputs = [np.ascontiguousarray(a, dtype=float) for a in inputs]
    outputs = outputs or [np.empty(function.nnz_out(k)) for k in range(function.n_out())]
    for k, array in enumerate(inputs):
        buffer.set_arg(k, memoryview(array))
    for k, array in enumerate(outputs):
        buffer.set_res(k, memoryview(array))

    def call():
        trigger()
        return outputs[0]

    call.keep = (buffer, inputs, outputs)  # the buffers must outlive the call
    return call


def _unless_none(X, batch):
    """``batch(X)`` bound as a call, or None when this run has no batch for the problem."""
    return None if X is None else lambda: batch(X)


def _second(result):
    return np.asarray(result[1])


def _numpy(tensor):
    return tensor.detach().numpy()


BUILDERS = {DROPIN: symhess_dropin, DROPIN_TORCH: symhess_dropin_torch, CASADI: casadi_call,
            CASADI_BUFFER: casadi_buffer, JAX: jax_jit, TORCH_FUNC: torch_func, TORCH_AUTOGRAD: torch_autograd}
