"""Preallocated inputs and outputs with calls of no arguments, for hot loops from Python.

Most of a call into a Numba kernel of a tiny problem is the call itself: the dispatcher
checks each argument's type, and the result is allocated.  A :class:`Buffer` owns
float64 arrays for the inputs and outputs and compiles, per kernel, a Numba function of
no arguments with the arrays' addresses built in, so a call is Numba's dispatch of
nothing (as CasADi's buffer interface is a C call without arguments).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic


@intrinsic
def _pointer(typingctx, address):
    """The float64 pointer at an integer address (a buffer's array, kept alive by the call)."""
    pointer = types.CPointer(types.float64)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(pointer))
    return pointer(types.intp), codegen


@numba.njit(inline="always")
def _array(address, shape):
    return numba.carray(_pointer(address), shape)


class Buffer:
    """``b = f.buffer()``: write the inputs in place, call, read the outputs.

    Inputs: ``b.x`` holds the differentiated inputs, flattened (C order) and concatenated
    in ``f.wrt`` order; ``b.p`` the other inputs likewise; ``b.v`` the direction of ``hvp``.
    Calls: ``value()`` returns the value; ``gradient()`` writes ``b.g``; ``hessian()`` writes
    the dense ``b.H``; ``hessian_values()`` writes ``b.values`` (the upper triangle's
    non-zeros in ``f.hessian_structure()`` order); ``hvp()`` writes ``b.hv = H @ v`` and
    returns the value.  Each call is compiled when it is first used (a fraction of a
    second).  Write into the arrays (``b.x[:] = x``); they cannot be replaced.
    """

    _ARRAYS = ("x", "p", "v", "g", "values", "hv")
    _CALLS = ("value", "gradient", "hessian", "hessian_values", "hvp")

    def __init__(self, kernels, n: int, m: int, rows: np.ndarray, cols: np.ndarray):
        sizes = {"x": n, "p": m, "v": n, "g": n, "values": len(rows), "hv": n}
        fields = {name: np.zeros(sizes[name]) for name in self._ARRAYS}
        fields.update(_kernels=kernels, _rows=rows, _cols=cols, _H=None,
                      _points=hasattr(kernels, "hessian_into"))  # no parameters: the entries of few arguments
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        raise AttributeError(f"Buffer.{name} cannot be replaced (the compiled calls hold its address); "
                             f"write into it instead: b.{name}[:] = ...")

    @property
    def H(self) -> np.ndarray:
        """The dense Hessian ``hessian()`` writes (allocated when first asked for)."""
        if self._H is None:
            object.__setattr__(self, "_H", np.zeros((self.x.size, self.x.size)))
        return self._H

    def __getattr__(self, name):
        """A call, compiled when first asked for and then an attribute (``b.hessian``)."""
        if name not in self._CALLS:
            raise AttributeError(f"Buffer has no attribute {name!r}; its calls are {', '.join(self._CALLS)}")
        body, arrays = getattr(self, f"_{name}_body")()
        call = _compiled(body, arrays)
        object.__setattr__(self, name, call)
        return call

    # ----- the bodies: Python functions of no arguments, the addresses in their closures ------
    def _addresses(self, *names):
        arrays = [getattr(self, name) for name in names]
        return [(a.ctypes.data, a.shape) for a in arrays], arrays

    def _value_body(self):
        ((x, n), (p, m)), arrays = self._addresses("x", "p")
        kernel = self._kernels.value
        return (lambda: kernel(_array(x, n), _array(p, m))), arrays

    def _gradient_body(self):
        return self._filling_body(self._kernels.gradient, "g")

    def _hessian_values_body(self):
        return self._filling_body(self._kernels.hessian, "values")

    def _filling_body(self, kernel, output: str):
        """``kernel(x, p, output)``, returning nothing (the kernels' return value is unused)."""
        ((x, n), (p, m), (out, size)), arrays = self._addresses("x", "p", output)

        def body():
            kernel(_array(x, n), _array(p, m), _array(out, size))
        return body, arrays

    def _hessian_body(self):
        ((x, n), (p, m), (h, nnz), (H, square)), arrays = self._addresses("x", "p", "values", "H")
        if self._points:
            into = self._kernels.hessian_into

            def body():
                out = _array(H, square)
                out[:] = 0.0  # the caller may have written into H
                into(_array(x, n), out)
            return body, arrays
        kernel, rows, cols = self._kernels.hessian, self._rows, self._cols

        def body():
            values, out = _array(h, nnz), _array(H, square)
            kernel(_array(x, n), _array(p, m), values)
            out[:] = 0.0
            for k in range(rows.size):
                out[rows[k], cols[k]] = values[k]
                out[cols[k], rows[k]] = values[k]
        return body, arrays

    def _hvp_body(self):
        ((x, n), (p, m), (v, _), (hv, _)), arrays = self._addresses("x", "p", "v", "hv")
        if self._points:
            into = self._kernels.hvp_into
            return (lambda: into(_array(x, n), _array(v, n), _array(hv, n))), arrays
        kernel = self._kernels.hvp
        return (lambda: kernel(_array(x, n), _array(p, m), _array(v, n), _array(hv, n))), arrays


def _compiled(body, arrays):
    """``body`` compiled by Numba (its closure's integers are constants); it keeps ``arrays`` alive."""
    call = numba.njit(body)
    call.compile(())
    call.disable_compile()
    call.arrays = arrays  # the addresses inside are these arrays': they live as long as the call
    return call
