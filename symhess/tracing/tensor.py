"""The placeholder tensor: an array of SymEngine expressions that only forwards.

``Tensor`` holds a NumPy object array of scalar expressions.  Python operators,
PyTorch-style methods and NumPy's ``__array_ufunc__`` / ``__array_function__``
protocols all translate through the tables in :mod:`.elementwise` and
:mod:`.numpy_api`; the placeholder itself never computes a number.  The operations
those methods call take and return placeholders through :mod:`.placeholder`, which holds
the base class they know and the conversions, so that none of them imports this module.
"""

from __future__ import annotations

import dis
import sys

import numpy as np

from . import arrays, numpy_api, probe, special_functions, torch_api, variance, views
from .arguments import STYLE, torch_style
from .elementwise import ALIASES, ARITY, METHODS, graph_inputs, mark_requires_grad
from .errors import UnsupportedAttributeError, trace_error, user_line
from .placeholder import (
    Placeholder,
    ValuesIndices,
    clamped,
    elementwise,
    is_torch_tensor,
    rounded,
    wrap,
    zero_dim,
)

_MARK = np.frompyfunc(mark_requires_grad, 1, 1)


class _Size(int):
    """``x.size`` is NumPy's element count, ``x.size()`` PyTorch's shape."""

    def __new__(cls, shape):
        obj = super().__new__(cls, int(np.prod(shape, dtype=np.int64)))
        obj.shape = tuple(shape)
        return obj

    def __call__(self, dim=None):
        return self.shape if dim is None else self.shape[dim]


def _instruction(frame) -> str:
    """The bytecode the calling Python line is executing (``STORE_SUBSCR``: ``a[i] = v``)."""
    try:
        return dis.opname[frame.f_code.co_code[frame.f_lasti]]
    except (AttributeError, IndexError):
        return ""


def _refuse_store(frame) -> None:
    if _instruction(frame) == "STORE_SUBSCR":
        raise trace_error(
            "a traced value was written into a preallocated NumPy array (out[i] = ...)",
            "collect the values in a list and build the array with np.array([...]) or "
            "np.stack, or start from a traced array: out = np.zeros_like(x)")


def _refuse(what: str, fix: str):
    def method(self, *args, **kwargs):
        _refuse_store(sys._getframe(1))
        raise trace_error(what, fix)

    return method


class Tensor(Placeholder):
    """A symbolic placeholder tensor (see module docstring)."""

    __slots__ = ()
    __array_priority__ = 1000.0
    __hash__ = None

    def __getattr__(self, name):
        """Only reached for names Tensor lacks: say so as a trace error (still an AttributeError)."""
        if name.startswith(("__", "_repr")) or name == "data":
            raise AttributeError(name)
        method = _torch_method(name)
        if method is not None:
            return lambda *args, **kwargs: torch_api.torch_call(method, (self, *args), kwargs)
        raise UnsupportedAttributeError(
            f"symhess cannot trace this: placeholder tensors have no method or attribute {name!r}\n"
            f"  at {user_line()}\n"
            "  fix: write it with traced operations (operators, NumPy functions, torch-style methods; "
            "see the docs page 'What can be traced'), or pass the value in as a constant")

    # ----- metadata ---------------------------------------------------------
    shape = property(lambda self: self.data.shape, lambda self, shape: views.reshaped(self, _view_as(self.data, shape)))
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: _Size(self.data.shape))
    dtype = property(lambda self: STYLE.get()[0])
    T = property(lambda self: wrap(self.data.transpose()))
    mT = property(lambda self: wrap(np.swapaxes(self.data, -1, -2)))  # noqa: N815 - PyTorch's name
    mH = property(lambda self: self._matrices("mH", 2, None).mT)  # noqa: N815 - real: conjugating is nothing
    H = property(lambda self: self._matrices("H", 2, 2).T)
    layout = property(lambda self: _torch_strided())
    device = property(lambda self: STYLE.get()[1])
    requires_grad = property(lambda self: any(graph_inputs(self.data.reshape(-1))))
    is_cuda = False

    def dim(self):
        return self.data.ndim

    def is_floating_point(self):
        return True  # placeholders hold real floating-point values (their dtype is float32 or float64)

    def is_complex(self):
        return False

    def _matrices(self, name, low, high):
        """``self`` if it has ``low`` to ``high`` dimensions, else PyTorch's RuntimeError for ``tensor.<name>``."""
        if self.ndim < low or (high is not None and self.ndim > high):
            what = "matrices (2-D tensors)" if high == 2 else "matrices or batches of matrices"
            raise RuntimeError(f"tensor.{name} is only supported on {what}. Got {self.ndim}-D tensor.")
        return self

    def numel(self):
        return self.data.size

    def __len__(self):
        _refuse_store(sys._getframe(1))
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self):
        for k in range(len(self)):
            yield self[k]

    def __repr__(self):
        if self.data.ndim == 0:
            return f"Tensor({self.data[()]})"
        return f"Tensor(shape={self.shape}, symbolic)"

    # ----- refused conversions ----------------------------------------------
    __bool__ = _refuse(
        "a traced value was used as a Python bool (an `if`, `while`, `and`/`or` or "
        "assert on a value that depends on the inputs)",
        "express the choice with np.where(cond, a, b) / torch.where, or np.maximum / "
        "np.minimum / np.clip, which are traced")
    __float__ = _refuse(
        "float() of a traced value (float(x), math.* functions, or writing a traced value "
        "into a preallocated NumPy float array such as out = np.zeros(n); out[i] = ...)",
        "use np.* instead of math.*, and build arrays with np.array([...]), np.stack or "
        "np.concatenate instead of filling a preallocated array")
    __int__ = _refuse("int() of a traced value", "keep the value symbolic; integers of "
                      "inputs have no derivative")
    __index__ = _refuse("a traced value used as an index or a size",
                        "index with Python integers or constant NumPy arrays")
    __complex__ = _refuse("complex() of a traced value", "symhess differentiates real functions")
    item = _refuse("x.item() turns a traced value into a Python number",
                   "keep the computation on tensors")
    tolist = _refuse("x.tolist() turns traced values into Python numbers",
                     "keep the computation on tensors")
    numpy = _refuse("x.numpy() on a traced value", "operate on the tensor directly")
    half = _refuse("x.half() rounds traced values to float16 (11 bits), which symhess does not model: it computes "
                   "in float64", "keep traced values float32 or float64")
    bfloat16 = _refuse("x.bfloat16() rounds traced values to bfloat16 (8 bits), which symhess does not model: it "
                       "computes in float64", "keep traced values float32 or float64")

    def __array__(self, dtype=None, copy=None):
        """For ``np.asarray(x)`` in third-party code: an object array of 0-d Tensors.

        ``np.array(x)`` (``copy=True``) gets copies; otherwise NumPy would return ``x``
        itself, so the elements are 0-d views that see later writes into ``x``, and the
        array holding them is read-only: a write into it could not reach ``x``.
        """
        frame = sys._getframe(1)
        _refuse_store(frame)
        if _instruction(frame) == "BINARY_SUBSCR":  # constant[traced]: NumPy converts the index
            _plain_index_item(self)
        if dtype is not None and np.dtype(dtype) != object:
            raise trace_error(f"converting a traced value to a NumPy {np.dtype(dtype)} array",
                              "leave the dtype out (np.asarray(x)) so that the values stay symbolic")
        out = np.empty(self.data.shape, dtype=object)
        for index in np.ndindex(*self.data.shape):
            out[index] = Tensor(zero_dim(self.data[index]) if copy else self.data[(*index, ...)])
        out.flags.writeable = bool(copy)
        return out

    # ----- NumPy protocols ----------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return numpy_api.ufunc_call(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return numpy_api.function_call(func, args, kwargs)

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return torch_api.torch_call(func, args, kwargs)

    # ----- indexing -----------------------------------------------------------
    def __getitem__(self, index):
        """Basic indexing gives a view (see :mod:`.views`); PyTorch's ``x[i]`` is a 0-d view too."""
        index = _plain_index(index)
        result = self.data[index]
        if not isinstance(result, np.ndarray) and torch_style():
            result = self.data[(*index, ...) if isinstance(index, tuple) else (index, ...)]
        return wrap(result)

    def __setitem__(self, index, value):
        views.assign(self, _plain_index(index), value)

    # ----- in-place operators: write into the storage that views share ---------
    def __iadd__(self, other): return views.update(self, self + other, "+=")
    def __isub__(self, other): return views.update(self, self - other, "-=")
    def __imul__(self, other): return views.update(self, self * other, "*=")
    def __itruediv__(self, other): return views.update(self, self / other, "/=")
    def __ipow__(self, other): return views.update(self, self ** other, "**=")
    def __iand__(self, other): return views.update(self, self & other, "&=")
    def __ior__(self, other): return views.update(self, self | other, "|=")

    def __imatmul__(self, other):
        """NumPy writes ``a @= b`` in place; torch tensors have no ``@=`` (Python rebinds)."""
        product = arrays.matmul(self, other)
        return product if torch_style() else views.update(self, product, "@=")

    # ----- Python operators -----------------------------------------------------
    def __add__(self, other): return elementwise("add", self, other)
    def __radd__(self, other): return elementwise("add", other, self)
    def __sub__(self, other): return elementwise("subtract", self, other)
    def __rsub__(self, other): return elementwise("subtract", other, self)
    def __mul__(self, other): return elementwise("multiply", self, other)
    def __rmul__(self, other): return elementwise("multiply", other, self)
    def __truediv__(self, other): return elementwise("divide", self, other)
    def __rtruediv__(self, other): return elementwise("divide", other, self)
    def __mod__(self, other): return elementwise("remainder", self, other)
    def __rmod__(self, other): return elementwise("remainder", other, self)
    def __pow__(self, other): return elementwise("power", self, other)
    def __rpow__(self, other): return elementwise("power", other, self)
    def __matmul__(self, other): return arrays.matmul(self, other)
    def __rmatmul__(self, other): return arrays.matmul(other, self)
    def __neg__(self): return elementwise("negative", self)
    def __pos__(self):
        """``+x``: PyTorch returns x itself, NumPy a copy (np.positive)."""
        return self if torch_style() else self.copy()

    positive = __pos__

    def __abs__(self): return elementwise("abs", self)
    def __lt__(self, other): return elementwise("less", self, other)
    def __le__(self, other): return elementwise("less_equal", self, other)
    def __gt__(self, other): return elementwise("greater", self, other)
    def __ge__(self, other): return elementwise("greater_equal", self, other)
    def __eq__(self, other): return elementwise("equal", self, other)
    def __ne__(self, other): return elementwise("not_equal", self, other)
    def __and__(self, other): return elementwise("logical_and", self, other)
    def __rand__(self, other): return elementwise("logical_and", other, self)
    def __or__(self, other): return elementwise("logical_or", self, other)
    def __ror__(self, other): return elementwise("logical_or", other, self)
    def __invert__(self): return elementwise("logical_not", self)

    # ----- PyTorch-style methods (and the NumPy method names object loops call) --
    # (and every entry of ELEMENTWISE: made below the class from the table)
    def pow(self, exponent): return elementwise("power", self, exponent)
    def polygamma(self, n): return elementwise("polygamma", n, self)
    def where(self, condition, other): return elementwise("where", condition, self, other)  # PyTorch's order
    def mvlgamma(self, p): return special_functions.mvlgamma(self, p)
    def neg(self): return elementwise("negative", self)
    def round(self, decimals=0, out=None):
        """PyTorch's ``round(*, decimals)`` and NumPy's ``round(decimals, out)``: half to even."""
        if out is not None:
            raise trace_error("x.round(..., out=...) writes into a preallocated array",
                              "assign the result instead")
        return rounded(self, decimals)

    def detach(self):
        """New expressions, where PyTorch shares the memory: later writes to either are refused."""
        result = elementwise("detach", self)
        views.unshare("detach()", self, result)
        return result

    def conjugate(self): return self
    conj = conjugate

    def clamp(self, min=None, max=None):  # noqa: A002 - PyTorch's names
        if min is None and max is None:
            raise ValueError("clamp: at least one of 'min' or 'max' must not be None")
        return clamped(self, min, max)


    def add(self, other, alpha=1): return self + other * alpha
    def sub(self, other, alpha=1): return self - other * alpha
    def mul(self, other): return self * other
    def div(self, other, *, rounding_mode=None):
        """PyTorch's ``rounding_mode``: ``'trunc'`` or ``'floor'`` of the quotient (derivative zero)."""
        quotient = self / other
        if rounding_mode is None:
            return quotient
        if rounding_mode not in ("trunc", "floor"):
            raise trace_error(f"div(..., rounding_mode={rounding_mode!r})",
                              "use rounding_mode=None, 'trunc' or 'floor', as PyTorch")
        return elementwise(rounding_mode, quotient)

    def float(self, memory_format=None): return self._as_dtype("float32")
    def double(self, memory_format=None): return self._as_dtype("float64")
    def clone(self): return wrap(self.data.copy())
    def copy(self): return wrap(self.data.copy())
    def contiguous(self, memory_format=None):
        """``self`` when already contiguous (PyTorch), else a copy."""
        return self if self.data.flags.c_contiguous else self.clone()

    def requires_grad_(self, requires_grad=True):
        """A value cut from the inputs (``x.long().float()``) becomes a leaf that requires grad.

        In place, as PyTorch: the same tensor (and its views) carry the mark.
        """
        if not requires_grad or self.requires_grad:
            return self
        self.data[...] = _MARK(self.data)
        return self

    def to(self, *args, **kwargs):
        """PyTorch: ``self`` unless the dtype changes or ``copy=True``."""
        given = (*args, kwargs.get("dtype"), kwargs.get("other"))
        dtypes = [a.dtype if isinstance(a, Tensor) or is_torch_tensor(a) else a for a in given]
        dtypes = [d for d in dtypes if _is_dtype(d)]
        if kwargs.get("copy", False):
            return self.clone()
        return self._as_dtype(str(dtypes[-1])) if dtypes else self

    def _as_dtype(self, name: str):
        """``self`` if the placeholders already have this dtype (the library returns self), else a copy;
        a dtype that would round or truncate the values is refused (computed in float64, they would not be)."""
        name = name.removeprefix("torch.")
        if name in ("int64", "int32", "int16", "int8", "uint8", "long", "int", "short"):
            return self.long()  # truncated, no gradient: as PyTorch
        if name not in ("float32", "float64", "float", "double"):
            raise trace_error(f"converting traced values to {name}: the library would round them (or make them "
                              "booleans or complex numbers), symhess computes in float64",
                              "keep traced values float32 or float64")
        same = name == str(STYLE.get()[0]).removeprefix("torch.")
        return self if same else self.clone()

    def cpu(self): return self
    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        """NumPy's: a copy (in the requested memory order) unless ``copy=False``."""
        if np.dtype(dtype).kind != "f":
            raise trace_error(f"casting a traced value to {np.dtype(dtype)}",
                              "keep traced values floating point")
        if not copy:
            return self
        return wrap(np.array(self.data, order="K" if order == "A" else order, copy=True))

    def long(self):
        """Truncation to integers: no gradient flows through it (as in PyTorch)."""
        return elementwise("detach", elementwise("trunc", self))

    int = long

    # reductions
    def sum(self, dim=None, keepdim=False, axis=None, keepdims=None, dtype=None):
        return arrays.reduce_sum(self, _axis(dim, axis), _keep(keepdim, keepdims))

    def mean(self, dim=None, keepdim=False, axis=None, keepdims=None, dtype=None):
        return arrays.mean(self, _axis(dim, axis), _keep(keepdim, keepdims))

    def prod(self, dim=None, keepdim=False, axis=None, keepdims=None, dtype=None):
        return arrays.prod(self, _axis(dim, axis), _keep(keepdim, keepdims))

    def max(self, dim=None, keepdim=False, axis=None, keepdims=None):
        """PyTorch: ``x.max()`` a value, ``x.max(dim)`` a (values, indices) pair; NumPy's ``axis=``."""
        values = arrays.amax(self, _axis(dim, axis), _keep(keepdim, keepdims))
        return values if dim is None else ValuesIndices(values, "x.max(dim)")

    def min(self, dim=None, keepdim=False, axis=None, keepdims=None):
        values = arrays.amin(self, _axis(dim, axis), _keep(keepdim, keepdims))
        return values if dim is None else ValuesIndices(values, "x.min(dim)")

    def amax(self, dim=None, keepdim=False, axis=None, keepdims=None):
        return arrays.amax(self, _axis(dim, axis), _keep(keepdim, keepdims))

    def amin(self, dim=None, keepdim=False, axis=None, keepdims=None):
        return arrays.amin(self, _axis(dim, axis), _keep(keepdim, keepdims))

    def __round__(self, ndigits=None):
        if ndigits is not None:
            raise trace_error("round(x, ndigits) of a traced value", "use round(x) or np.round(x)")
        return elementwise("round", self)

    def logsumexp(self, dim=None, keepdim=False):
        return arrays.logsumexp(self, dim, keepdim)

    def softmax(self, dim=-1, dtype=None):
        """``dtype`` only sets the precision (computed in float64); ``dim=None`` is PyTorch's implicit dim."""
        _float_dtype("softmax", dtype)
        return arrays.softmax(self, _softmax_dim(self, dim))

    def log_softmax(self, dim=-1, dtype=None):
        _float_dtype("log_softmax", dtype)
        return arrays.log_softmax(self, _softmax_dim(self, dim))

    def norm(self, p="fro", dim=None, keepdim=False, out=None, dtype=None):
        if out is not None:
            raise trace_error("norm(..., out=...) writes into a preallocated array", "assign the result instead")
        _float_dtype("norm", dtype)
        return arrays.norm(self, p, dim, keepdim)

    def var(self, *args, **kwargs):
        """PyTorch's or NumPy's arguments: see :func:`.variance.method_var`."""
        return variance.method_var("var", self, args, kwargs)

    def std(self, *args, **kwargs):
        return variance.method_var("std", self, args, kwargs)

    def cumsum(self, dim=None, axis=None, dtype=None):
        """PyTorch's ``dim`` of a 0-d tensor keeps it 0-d (NumPy's ``axis`` gives shape (1,))."""
        _floating_dtype("cumsum", dtype)
        if dim is not None and self.ndim == 0:
            return self.clone()
        return wrap(np.cumsum(self.data, axis=_axis(dim, axis)))

    # shape
    def reshape(self, *shape, order="C"):
        return wrap(self.data.reshape(_shape_args(shape), order=order))

    view = reshape

    def flatten(self, start_dim=0, end_dim=-1, order="C"):
        """NumPy's ``flatten([order])`` always copies; PyTorch's ``flatten(start, end)`` views when it can."""
        if isinstance(start_dim, str):  # NumPy's positional order
            start_dim, order = 0, start_dim
        if not torch_style() and start_dim == 0 and end_dim == -1:
            return wrap(self.data.flatten(order=order))
        if start_dim == 0 and end_dim == -1:
            return wrap(self.data.reshape(-1, order=order))
        return arrays.flatten(self, start_dim, end_dim)

    def ravel(self, order="C"):
        return wrap(self.data.reshape(-1, order=order))

    def t(self):
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
        return wrap(self.data.T)

    def transpose(self, *dims):
        """Two integers swap two dimensions (PyTorch); otherwise NumPy's permutation."""
        if len(dims) == 2 and all(isinstance(d, int) for d in dims):
            return wrap(np.swapaxes(self.data, *dims))
        return wrap(self.data.transpose(*dims))

    def swapaxes(self, a, b): return wrap(np.swapaxes(self.data, a, b))
    def permute(self, *dims): return wrap(self.data.transpose(_shape_args(dims)))
    def squeeze(self, dim=None, axis=None): return arrays.squeeze(self, _axis(dim, axis))
    def unsqueeze(self, dim): return wrap(np.expand_dims(self.data, dim))

    def narrow(self, dim, start, length):
        index = [slice(None)] * self.ndim
        index[dim] = slice(start, start + length)
        return wrap(self.data[tuple(index)])

    def expand(self, *sizes):
        sizes = _shape_args(sizes)
        target = tuple(s if s != -1 else self.shape[k - len(sizes) + self.ndim]
                       for k, s in enumerate(sizes))
        return wrap(np.broadcast_to(self.data, target))

    def expand_as(self, other): return wrap(np.broadcast_to(self.data, other.shape))

    def repeat(self, *sizes):
        """PyTorch's ``repeat``: NumPy's ``tile``, but never with fewer sizes than dimensions."""
        sizes = _shape_args(sizes)
        if len(sizes) < self.ndim:
            raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number "
                               "of dimensions of tensor")
        return wrap(np.tile(self.data, sizes))

    def flip(self, dims): return wrap(np.flip(self.data, dims).copy())  # PyTorch copies (NumPy's np.flip views)
    def diagonal(self, offset=0, dim1=0, dim2=1): return wrap(np.diagonal(self.data, offset, dim1, dim2))
    def trace(self): return arrays.reduce_sum(self.diagonal(), None, False)

    # linear algebra
    def matmul(self, other): return arrays.matmul(self, other)
    def dot(self, other): return arrays.dot(self, other)

    def mm(self, other):
        if self.ndim != 2 or np.ndim(other) != 2:
            raise RuntimeError("self must be a matrix")
        return arrays.matmul(self, other)

    def mv(self, other):
        if self.ndim != 2 or np.ndim(other) != 1:
            raise RuntimeError("vector + matrix @ vector expected, got wrong dimensions")
        return arrays.matmul(self, other)


# ----- methods made from the elementwise table, other names, in-place forms ------------------

def _elementwise_method(name: str):
    operands = ARITY[name] - 1

    def method(self, *others):
        if len(others) != operands:
            raise TypeError(f"{name}() takes {operands} argument(s) besides the tensor ({len(others)} given)")
        return elementwise(name, self, *others)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"Elementwise ``{name}`` (symhess.tracing.elementwise.ELEMENTWISE), the tensor first."
    return method


for _name in METHODS:
    if _name not in vars(Tensor):  # written by hand above: another signature (polygamma, round, clamp, ...)
        setattr(Tensor, _name, _elementwise_method(_name))


for _alias, _name in ALIASES.items():
    setattr(Tensor, _alias, getattr(Tensor, _name))


def _in_place(name: str):
    """PyTorch's in-place ``x.<name>_(...)``: the out-of-place method, written back."""
    method = getattr(Tensor, name)

    def write(self, *args, **kwargs):
        return views.update(self, method(self, *args, **kwargs), f"{name}_()")

    write.__name__ = write.__qualname__ = f"{name}_"
    write.__doc__ = f"In-place ``{name}``: written into the storage that views of the tensor share."
    return write


for _name in (*METHODS, *ALIASES, "sub", "mul", "div", "pow", "neg", "mvlgamma"):
    if _name != "detach":  # PyTorch's detach_() cuts a tensor out of the graph, not its values
        setattr(Tensor, f"{_name}_", _in_place(_name))

Tensor.clamp_min_ = lambda self, min: views.update(self, clamped(self, min, None), "clamp_min_()")  # noqa: A006
Tensor.clamp_max_ = lambda self, max: views.update(self, clamped(self, None, max), "clamp_max_()")  # noqa: A006
Tensor.zero_ = lambda self: views.update(self, 0, "zero_()")
Tensor.fill_ = lambda self, value: views.update(self, value, "fill_()")
Tensor.copy_ = lambda self, src, non_blocking=False: views.update(self, src, "copy_()")
# in-place shape changes: the tensor becomes another view of the same storage
Tensor.t_ = lambda self: views.reshaped(self, self.t().data)
Tensor.transpose_ = lambda self, dim0, dim1: views.reshaped(self, np.swapaxes(self.data, dim0, dim1))
Tensor.squeeze_ = lambda self, dim=None: views.reshaped(self, self.squeeze(dim).data)
Tensor.unsqueeze_ = lambda self, dim: views.reshaped(self, self.unsqueeze(dim).data)


def _softmax_dim(x, dim):
    """PyTorch's legacy implicit dim of ``softmax(x)`` without ``dim``: 0 for 0, 1 or 3 dimensions, else 1."""
    return dim if dim is not None else (0 if x.ndim in (0, 1, 3) else 1)


def _float_dtype(name, dtype):
    if dtype is not None and "float" not in str(dtype):
        raise trace_error(f"{name}(..., dtype={dtype}) of traced values", "leave dtype out or pass a float dtype")


def _view_as(data: np.ndarray, shape) -> np.ndarray:
    """NumPy's ``a.shape = shape``: a view of another shape, or NumPy's error if it needs a copy."""
    view = data.view()
    view.shape = shape
    return view


def _torch_method(name: str):
    """``torch.Tensor.<name>`` when the inputs are torch tensors and symhess translates it."""
    if "torch" not in sys.modules or not torch_style():
        return None
    torch = sys.modules["torch"]
    if not callable(getattr(torch.Tensor, name, None)):
        return None
    for method in (getattr(torch.Tensor, name), getattr(torch, name, None)):  # x.diag(): torch.diag(x)
        try:
            if method in torch_api.table() or method in probe.table():
                return method
        except TypeError:  # unhashable
            pass
    return None


def _floating_dtype(name: str, dtype) -> None:
    """A ``dtype=`` argument: floating-point ones are honoured (traced values are computed in float64),
    others refused (the result would be rounded to integers)."""
    if dtype is None:
        return
    if type(dtype).__module__ != "torch":
        dtype = np.dtype(dtype)
    if not (dtype.is_floating_point if type(dtype).__module__ == "torch" else dtype.kind == "f"):
        raise trace_error(f"{name}(..., dtype={dtype}) of traced values: the result would not be floating point",
                          "leave dtype out, or cast a constant instead")


def _torch_strided():
    import torch

    return torch.strided


def _is_dtype(value) -> bool:
    return isinstance(value, np.dtype) or (type(value).__module__ == "torch" and type(value).__name__ == "dtype")


def _axis(dim, axis):
    return axis if dim is None else dim


def _keep(keepdim, keepdims):
    return bool(keepdim if keepdims is None else keepdims)


def _shape_args(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _plain_index(index):
    if isinstance(index, tuple):
        return tuple(_plain_index_item(i) for i in index)
    return _plain_index_item(index)


def _plain_index_item(item):
    if isinstance(item, Tensor):
        raise trace_error("indexing with a traced value (a mask or index computed from the inputs)",
                          "use np.where(cond, a, b) instead of boolean masks of traced values")
    if is_torch_tensor(item):
        return item.detach().cpu().numpy()
    return item
