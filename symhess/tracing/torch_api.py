"""PyTorch's ``__torch_function__`` protocol for placeholders: one translation table.

``torch.sin(x)``, ``torch.nn.functional.softplus(x)`` or ``torch_tensor + x`` with a
placeholder ``x`` reach :func:`torch_call`.  Functions whose name and meaning match a
placeholder method (``sin``, ``sum(dim, keepdim)``, ``matmul``, ...) are forwarded to it;
the others are in :func:`table`.  PyTorch is imported only when a torch function is
actually called on a placeholder, i.e. when it is already loaded.
"""

from __future__ import annotations

import functools

import numpy as np

from . import arrays, linalg, nn, ordering, probe, special_functions, variance, views
from .arguments import STYLE
from .elementwise import ALIASES, METHODS
from .errors import trace_error
from .numpy_api import _tensordot as numpy_tensordot
from .placeholder import Placeholder, as_objects, elementwise, wrap

METHOD_NAMES = {
    "pow", "clamp", "sum", "mean", "prod", "amax", "amin", "logsumexp", "softmax", "log_softmax", "norm", "cumsum",
    "reshape", "view", "flatten", "t", "transpose", "permute", "squeeze", "unsqueeze", "narrow", "expand",
    "expand_as", "repeat", "flip", "diagonal", "trace", "matmul", "mm", "mv", "dot", "detach", "clone",
    "float", "double", "long", "int", "contiguous", "requires_grad_", "to", "cpu", "add", "sub", "mul", "div", "neg",
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
    "__rtruediv__", "__pow__", "__rpow__", "__matmul__", "__rmatmul__", "__neg__", "__abs__",
    "__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__", "__getitem__", "is_floating_point", "is_complex",
    "mvlgamma", "zero_", *METHODS, *ALIASES,
}
"""torch functions and ``torch.Tensor`` methods forwarded to the placeholder method of that name: those above, each
elementwise entry (:data:`.elementwise.METHODS`) and PyTorch's other names of them (:data:`.elementwise.ALIASES`)."""


def _placeholder(value):
    return value if isinstance(value, Placeholder) else wrap(as_objects(value))


def _cat(tensors, dim=0, out=None):
    return wrap(np.concatenate([as_objects(t) for t in tensors], axis=dim))


def _stack(tensors, dim=0, out=None):
    return wrap(np.stack([as_objects(t) for t in tensors], axis=dim))


def _elementwise(name, *operands):
    return elementwise(name, *operands)


def _where(condition, input=None, other=None):  # noqa: A002 - PyTorch's names
    if input is None or other is None:
        raise trace_error("torch.where(condition) returns indices of traced values",
                          "use torch.where(condition, input, other)")
    return elementwise("where", condition, input, other)


def _extreme(name):
    def call(input, dim=None, keepdim=False, *, other=None):  # noqa: A002
        if dim is not None and not isinstance(dim, int):  # torch.max(a, b) is maximum
            return getattr(_placeholder(input), "maximum" if name == "max" else "minimum")(dim)
        return getattr(_placeholder(input), name)(dim=dim, keepdim=keepdim)

    return call


def _variance(name):
    """``torch.var``/``torch.std``: PyTorch's overloads, whatever library the inputs come from."""
    def call(input, *args, **kwargs):  # noqa: A002
        return variance.torch_var(f"torch.{name}", _placeholder(input), args, kwargs)

    return call


def _softplus(input, beta=1.0, threshold=20.0):  # noqa: A002
    """PyTorch's: ``x`` itself where ``beta * x > threshold``, and the derivative follows that branch."""
    x = _placeholder(input)
    scaled = x * beta
    smooth = elementwise("softplus", scaled)
    return elementwise("where", scaled > threshold, x, smooth if beta == 1 else smooth / beta)


def _logsigmoid(input):  # noqa: A002
    """``-softplus(-x)`` with no threshold (PyTorch's logsigmoid has none)."""
    return -elementwise("softplus", -_placeholder(input))


def _reduce(loss, reduction, weight=None):
    """``weight`` of mse_loss/l1_loss: the weighted mean divides by the weights' sum (as PyTorch)."""
    if weight is not None:
        loss = loss * weight
        if reduction == "mean":
            return loss.sum() / _placeholder(weight).sum()
    return nn.reduced(loss, reduction)


def _mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):  # noqa: A002
    difference = _placeholder(input) - target
    return _reduce(difference * difference, reduction, weight)


def _l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):  # noqa: A002
    # PyTorch 2.13's l1_loss does not pass weight= on to __torch_function__: it never arrives here
    return _reduce(abs(_placeholder(input) - target), reduction, weight)


def _bce_with_logits(input, target, weight=None, size_average=None, reduce=None,  # noqa: A002
                     reduction="mean", pos_weight=None):
    if pos_weight is not None:
        raise trace_error("binary_cross_entropy_with_logits(pos_weight=...)", "leave pos_weight out")
    x = _placeholder(input)
    loss = elementwise("softplus", x) - x * target
    return _reduce(loss if weight is None else loss * weight, reduction)


def _linear(input, weight, bias=None):  # noqa: A002
    out = arrays.matmul(input, _placeholder(weight).T)
    return out if bias is None else out + bias


def _activation(name, formula):
    """``F.<name>(x, ..., inplace=False)``: with ``inplace=True`` the result is written into x."""
    def call(input, *args, inplace=False, **kwargs):  # noqa: A002
        x = _placeholder(input)
        result = formula(x, *args, **kwargs)
        return views.update(x, result, f"F.{name}(..., inplace=True)") if inplace else result

    call.__name__ = name
    return call


def _silu(x):
    return x * x.sigmoid()


def _leaky_relu(x, negative_slope=0.01):
    return elementwise("where", x > 0, x, x * negative_slope)


def _elu(x, alpha=1.0):
    return elementwise("where", x > 0, x, (x.expm1()) * alpha)


def _einsum(equation, *operands):
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    return arrays.einsum(equation, *operands)


def _scaled(value, factor):
    """``factor * value``, nothing at all for factor 0 (PyTorch ignores ``input`` when beta == 0)."""
    return 0 if factor == 0 else _placeholder(value) * factor


def _addmm(input, mat1, mat2, *, beta=1, alpha=1, out=None):  # noqa: A002
    _no_out("addmm", out)
    return _scaled(input, beta) + arrays.matmul(mat1, mat2) * alpha


def _addr(input, vec1, vec2, *, beta=1, alpha=1, out=None):  # noqa: A002
    _no_out("addr", out)
    return _scaled(input, beta) + np.outer(_placeholder(vec1), vec2) * alpha


def _addbmm(input, batch1, batch2, *, beta=1, alpha=1, out=None):  # noqa: A002
    _no_out("addbmm", out)
    return _scaled(input, beta) + arrays.reduce_sum(arrays.matmul(batch1, batch2), 0) * alpha


def _addcmul(input, tensor1, tensor2, *, value=1, out=None):  # noqa: A002
    _no_out("addcmul", out)
    return _placeholder(input) + _placeholder(tensor1) * tensor2 * value


def _addcdiv(input, tensor1, tensor2, *, value=1, out=None):  # noqa: A002
    _no_out("addcdiv", out)
    return _placeholder(input) + _placeholder(tensor1) / tensor2 * value


def _bmm(input, mat2, *, out=None):  # noqa: A002
    _no_out("bmm", out)
    return arrays.matmul(input, mat2)


def _cross(input, other, dim=None, *, out=None):  # noqa: A002
    """``torch.cross``: without dim, the first dimension of size 3 (PyTorch's deprecated default)."""
    _no_out("cross", out)
    a, b = np.broadcast_arrays(as_objects(input), as_objects(other))
    if dim is None:
        dim = next((k for k, n in enumerate(a.shape) if n == 3), None)
        if dim is None:
            raise RuntimeError("no dimension of size 3 in input")
    a, b = np.moveaxis(a, dim, -1), np.moveaxis(b, dim, -1)
    parts = [a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1], a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
             a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]]
    return wrap(np.moveaxis(np.stack(parts, axis=-1), -1, dim).copy())


def _tensordot(a, b, dims=2, out=None):
    _no_out("tensordot", out)
    if isinstance(dims, (list, tuple)):
        dims = tuple(list(d) if isinstance(d, (list, tuple)) else [d] for d in dims)
    return numpy_tensordot(a, b, dims)


def _no_out(name, out):
    if out is not None:
        raise trace_error(f"torch.{name}(..., out=...) writes into a preallocated array", "assign the result instead")


@functools.cache
def table() -> dict:
    """torch function -> implementation on placeholders (beyond same-named methods)."""
    import torch
    import torch.nn.functional as F  # noqa: N812 - PyTorch convention

    return {
        **special_functions.torch_table(torch),
        torch.Tensor.__rdiv__: lambda self, other: _placeholder(self).reciprocal() * other,  # PyTorch's own
        torch.Tensor.__rmod__: lambda self, other: _elementwise("remainder", other, self),
        torch.cat: _cat, torch.concat: _cat, torch.stack: _stack, torch.where: _where,
        torch.var: _variance("var"), torch.std: _variance("std"),
        torch.Tensor.var: _variance("var"), torch.Tensor.std: _variance("std"),
        torch.max: _extreme("max"), torch.min: _extreme("min"),
        torch.Tensor.max: _extreme("max"), torch.Tensor.min: _extreme("min"),
        torch.outer: lambda a, b: np.outer(_placeholder(a), b),
        torch.einsum: _einsum, torch.det: linalg.det, torch.inverse: linalg.inv,
        torch.linalg.det: linalg.det, torch.linalg.inv: linalg.inv,
        torch.diag: lambda a, diagonal=0: np.diag(_placeholder(a), diagonal).clone(),  # np.diag views
        torch.linalg.norm: linalg.linalg_norm,
        F.softplus: _softplus, F.logsigmoid: _logsigmoid,
        F.mse_loss: _mse_loss, F.l1_loss: _l1_loss,
        F.binary_cross_entropy_with_logits: nn.binary_cross_entropy_with_logits, F.linear: _linear,
        F.silu: _activation("silu", _silu), F.leaky_relu: _activation("leaky_relu", _leaky_relu),
        F.elu: nn.elu, F.relu: _activation("relu", lambda x: x.relu()),
        F.sigmoid: lambda x: _placeholder(x).sigmoid(),
        F.tanh: lambda x: _placeholder(x).tanh(),
        torch.addmm: _addmm, torch.addmv: _addmm, torch.addr: _addr, torch.addbmm: _addbmm,
        torch.baddbmm: _addmm, torch.addcmul: _addcmul, torch.addcdiv: _addcdiv, torch.bmm: _bmm,
        torch.cross: _cross, torch.linalg.cross: lambda a, b, *, dim=-1, out=None: _cross(a, b, dim, out=out),
        torch.inner: lambda a, b, *, out=None: arrays.inner(a, b), torch.tensordot: _tensordot,
        torch.vdot: lambda a, b, *, out=None: arrays.dot(_placeholder(a).reshape(-1), _placeholder(b).reshape(-1)),
        torch.kron: lambda a, b, *, out=None: _placeholder(np.kron(_placeholder(a).data, _placeholder(b).data)),
        torch.linalg.vecdot: lambda a, b, *, dim=-1, out=None: arrays.reduce_sum(_placeholder(a) * b, dim),
        torch.linalg.multi_dot: linalg.multi_dot, torch.chain_matmul: lambda *m, out=None: linalg.multi_dot(m),
        # order statistics
        torch.sort: ordering.torch_sort, torch.msort: ordering.torch_msort, torch.topk: ordering.torch_topk,
        torch.kthvalue: ordering.torch_kthvalue, torch.median: ordering.torch_median,
        torch.nanmedian: ordering.torch_median, torch.mode: ordering.torch_mode,
        torch.quantile: lambda x, q, dim=None, keepdim=False, *, interpolation="linear", out=None:
            ordering.quantile(x, q, dim, keepdim, interpolation),
        torch.nanquantile: lambda x, q, dim=None, keepdim=False, *, interpolation="linear", out=None:
            ordering.quantile(x, q, dim, keepdim, interpolation, "torch.nanquantile"),
        torch.cummax: lambda x, dim, *, out=None: ordering.cumulative_extreme(x, dim, "cummax"),
        torch.cummin: lambda x, dim, *, out=None: ordering.cumulative_extreme(x, dim, "cummin"),
        torch.aminmax: ordering.aminmax,
        torch.argsort: ordering.refuse_indices("torch.argsort"), torch.argmax: ordering.refuse_indices("torch.argmax"),
        torch.argmin: ordering.refuse_indices("torch.argmin"),
        # elementwise and reductions written with traced operations
        torch.var_mean: nn.var_mean("var"), torch.std_mean: nn.var_mean("std"),
        torch.cumprod: nn.cumprod, torch.logcumsumexp: nn.logcumsumexp, torch.nansum: nn.nansum,
        torch.nanmean: nn.nanmean, torch.nan_to_num: nn.nan_to_num, torch.logit: nn.logit,
        torch.sinc: nn.sinc, torch.special.entr: nn.special_entr, torch.special.ndtr: nn.ndtr, torch.special.logit: nn.logit,
        torch.special.expit: lambda x: _placeholder(x).sigmoid(), torch.special.sinc: nn.sinc,
        torch.special.softmax: lambda x, dim, dtype=None: _placeholder(x).softmax(dim, dtype),
        torch.special.log_softmax: lambda x, dim, dtype=None: _placeholder(x).log_softmax(dim, dtype),
        torch.special.logsumexp: lambda x, dim, keepdim=False: _placeholder(x).logsumexp(dim, keepdim),
        torch.copysign: nn.copysign, torch.ldexp: nn.ldexp,
        torch.fmax: lambda a, b: _placeholder(a).maximum(b), torch.fmin: lambda a, b: _placeholder(a).minimum(b),
        torch.float_power: lambda a, b: _elementwise("power", a, b), torch.heaviside: nn.heaviside,
        torch.clamp_min: lambda x, min: _placeholder(x).clamp(min=min),  # noqa: A006
        torch.clamp_max: lambda x, max: _placeholder(x).clamp(max=max),  # noqa: A006
        torch.Tensor.clamp_min: lambda x, min: _placeholder(x).clamp(min=min),  # noqa: A006
        torch.Tensor.clamp_max: lambda x, max: _placeholder(x).clamp(max=max),  # noqa: A006
        torch.dist: nn.dist, torch.cdist: nn.cdist, torch.pairwise_distance: nn.pairwise_distance,
        torch.cosine_similarity: nn.cosine_similarity,
        # linear algebra (small matrices, closed forms)
        torch.linalg.solve: linalg.solve, torch.linalg.slogdet: linalg.slogdet, torch.slogdet: linalg.slogdet,
        torch.logdet: linalg.logdet, torch.linalg.cholesky: linalg.cholesky,
        torch.cholesky: lambda a, upper=False, *, out=None: linalg.cholesky(a, upper=upper),
        torch.linalg.matrix_power: linalg.matrix_power, torch.matrix_power: linalg.matrix_power,
        torch.linalg.vector_norm: linalg.vector_norm, torch.linalg.matrix_norm: linalg.matrix_norm,
        torch.linalg.inv_ex: linalg.inv_ex,
        torch.linalg.eig: linalg.refuse("torch.linalg.eig", "eigenvalues have no closed form"),
        torch.linalg.eigh: linalg.refuse("torch.linalg.eigh", "eigenvalues have no closed form"),
        torch.linalg.eigvals: linalg.refuse("torch.linalg.eigvals", "eigenvalues have no closed form"),
        torch.linalg.eigvalsh: linalg.refuse("torch.linalg.eigvalsh", "eigenvalues have no closed form"),
        torch.linalg.svd: linalg.refuse("torch.linalg.svd", "singular values have no closed form"),
        torch.svd: linalg.refuse("torch.svd", "singular values have no closed form"),
        torch.linalg.svdvals: linalg.refuse("torch.linalg.svdvals", "singular values have no closed form"),
        torch.linalg.qr: linalg.refuse("torch.linalg.qr", "not implemented symbolically"),
        torch.linalg.pinv: linalg.refuse("torch.linalg.pinv", "needs singular values"),
        torch.linalg.lstsq: linalg.refuse("torch.linalg.lstsq", "not implemented symbolically; "
                                          "write (A.T @ A)^-1 A.T b with linalg.solve for small A"),
        # nn.functional
        F.gelu: nn.gelu, F.hardtanh: nn.hardtanh, F.relu6: nn.relu6, F.selu: nn.selu, F.celu: nn.celu,
        F.mish: nn.mish, F.softsign: nn.softsign, F.tanhshrink: nn.tanhshrink, F.softshrink: nn.softshrink,
        F.hardshrink: nn.hardshrink, F.threshold: nn.threshold, F.hardsigmoid: nn.hardsigmoid,
        F.hardswish: nn.hardswish, F.softmin: nn.softmin, F.glu: nn.glu, F.prelu: nn.prelu,
        F.dropout: nn.dropout, F.alpha_dropout: nn.dropout, F.feature_alpha_dropout: nn.dropout,
        F.dropout1d: nn.dropout, F.dropout2d: nn.dropout, F.dropout3d: nn.dropout,
        F.layer_norm: nn.layer_norm, F.rms_norm: nn.rms_norm, F.group_norm: nn.group_norm,
        F.batch_norm: nn.batch_norm, F.instance_norm: nn.instance_norm, F.normalize: nn.normalize,
        F.cosine_similarity: nn.cosine_similarity, F.pairwise_distance: nn.pairwise_distance,
        F.max_pool1d: nn.max_pool(1), F.max_pool2d: nn.max_pool(2), F.max_pool3d: nn.max_pool(3),
        torch.max_pool1d: nn.max_pool(1), torch.max_pool2d: nn.max_pool(2), torch.max_pool3d: nn.max_pool(3),
        **{getattr(F, f"max_pool{d}d_with_indices"): nn.max_pool(d, with_indices=True) for d in (1, 2, 3)},
        F.huber_loss: nn.huber_loss, F.smooth_l1_loss: nn.smooth_l1_loss, F.kl_div: nn.kl_div,
        F.poisson_nll_loss: nn.poisson_nll_loss, F.gaussian_nll_loss: nn.gaussian_nll_loss,
        F.nll_loss: nn.nll_loss, F.cross_entropy: nn.cross_entropy,
        F.binary_cross_entropy: nn.binary_cross_entropy,
        F.rrelu: nn.rrelu, F.linear_cross_entropy: nn.linear_cross_entropy,
        F.conv1d: nn.convolution(F.conv1d, 1), F.conv2d: nn.convolution(F.conv2d, 2),
        torch.conv1d: nn.convolution(torch.conv1d, 1), torch.conv2d: nn.convolution(torch.conv2d, 2),
        torch.cov: nn.cov, torch.corrcoef: nn.corrcoef, torch.linalg.vander: nn.linalg_vander,
        F.margin_ranking_loss: nn.margin_ranking_loss, F.soft_margin_loss: nn.soft_margin_loss,
        F.hinge_embedding_loss: nn.hinge_embedding_loss,
        F.multilabel_soft_margin_loss: nn.multilabel_soft_margin_loss,
        F.cosine_embedding_loss: nn.cosine_embedding_loss,
        F.softmax: lambda x, dim=None, _stacklevel=3, dtype=None: _placeholder(x).softmax(dim, dtype),
        F.log_softmax: lambda x, dim=None, _stacklevel=3, dtype=None: _placeholder(x).log_softmax(dim, dtype),
    }


def torch_call(func, args, kwargs):
    """Translate one torch function call that involves a placeholder, with PyTorch's semantics."""
    dtype, device = STYLE.get()
    if isinstance(dtype, np.dtype):  # NumPy inputs: torch.flatten(x) still views, x[0] is 0-d
        import torch

        token = STYLE.set((getattr(torch, dtype.name, torch.float64), device))
        try:
            return _torch_call(func, args, kwargs or {})
        finally:
            STYLE.reset(token)
    return _torch_call(func, args, kwargs or {})


def _torch_call(func, args, kwargs):
    impl = table().get(func)
    if impl is not None:
        return impl(*args, **kwargs)
    name = getattr(func, "__name__", "")
    if name in METHOD_NAMES and args:
        _no_out(name, kwargs.pop("out", None))
        return getattr(_placeholder(args[0]), name)(*args[1:], **kwargs)
    spec = probe.table().get(func)
    if spec is not None:
        return probe.affine_call(func, f"torch.{name}", spec, args, kwargs)
    qualified = f"{getattr(func, '__module__', None) or 'torch'}.{getattr(func, '__qualname__', name)}"
    raise trace_error(f"{qualified} is not supported by symhess",
                      "write it with supported torch/NumPy functions (see 'What can be traced'), "
                      "or open an issue")
