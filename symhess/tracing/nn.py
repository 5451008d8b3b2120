"""``torch.nn.functional`` activations, normalisations and losses, and more ``torch.*`` functions,
written with traced operations; each follows PyTorch's formula and derivative conventions.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import symengine as se

from . import arrays, probe, variance, views
from .errors import trace_error
from .placeholder import Placeholder, as_objects, elementwise, wrap


def _t(value):
    return value if isinstance(value, Placeholder) else wrap(as_objects(value))


def _where(cond, a, b):
    return elementwise("where", cond, a, b)


def _e(name, *operands):
    return elementwise(name, *operands)


def _inplace(name, x, result, inplace):
    return views.update(x, result, f"F.{name}(..., inplace=True)") if inplace else result


def _legacy(size_average, reduce, reduction):
    """PyTorch's deprecated size_average/reduce pair, mapped to ``reduction`` as PyTorch does."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return ("mean" if size_average else "sum") if reduce else "none"


def reduced(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction")


# ----- activations ------------------------------------------------------------------------
def gelu(input, approximate="none"):  # noqa: A002
    x = _t(input)
    if approximate == "none":
        return x * 0.5 * (1 + _e("erf", x * (1 / math.sqrt(2))))
    if approximate == "tanh":
        return x * 0.5 * (1 + (math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)).tanh())
    raise RuntimeError(f"approximate argument must be either none or tanh, not {approximate!r}")


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):  # noqa: A002
    """Gradient 1 strictly inside (min_val, max_val), 0 at and beyond the ends (PyTorch)."""
    x = _t(input)
    result = _where(x <= min_val, min_val, _where(x >= max_val, max_val, x))
    return _inplace("hardtanh", x, result, inplace)


def relu6(input, inplace=False):  # noqa: A002
    return hardtanh(input, 0.0, 6.0, inplace)


def selu(input, inplace=False):  # noqa: A002
    alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    x = _t(input)
    return _inplace("selu", x, _where(x > 0, x * scale, x.expm1() * (alpha * scale)), inplace)


def celu(input, alpha=1.0, inplace=False):  # noqa: A002
    x = _t(input)
    return _inplace("celu", x, _where(x > 0, x, (x / alpha).expm1() * alpha), inplace)


def elu(input, alpha=1.0, inplace=False):  # noqa: A002
    x = _t(input)
    return _inplace("elu", x, _where(x > 0, x, x.expm1() * alpha), inplace)


def mish(input, inplace=False):  # noqa: A002
    x = _t(input)
    return _inplace("mish", x, x * _e("softplus", x).tanh(), inplace)


def softsign(input):  # noqa: A002
    x = _t(input)
    return x / (1 + abs(x))


def tanhshrink(input):  # noqa: A002
    x = _t(input)
    return x - x.tanh()


def softshrink(input, lambd=0.5):  # noqa: A002
    x = _t(input)
    return _where(x > lambd, x - lambd, _where(x < -lambd, x + lambd, 0))


def hardshrink(input, lambd=0.5):  # noqa: A002
    x = _t(input)
    return _where((x > lambd) | (x < -lambd), x, 0)


def threshold(input, threshold, value, inplace=False):  # noqa: A002
    x = _t(input)
    return _inplace("threshold", x, _where(x > threshold, x, value), inplace)


def hardsigmoid(input, inplace=False):  # noqa: A002
    x = _t(input)
    return _inplace("hardsigmoid", x, _where(x <= -3, 0, _where(x >= 3, 1, x / 6 + 0.5)), inplace)


def hardswish(input, inplace=False):  # noqa: A002
    x = _t(input)
    return _inplace("hardswish", x, _where(x < -3, 0, _where(x <= 3, x * (x + 3) / 6, x)), inplace)


def softmin(input, dim=None, _stacklevel=3, dtype=None):  # noqa: A002
    return (-_t(input)).softmax(dim, dtype)


def glu(input, dim=-1):  # noqa: A002
    x = _t(input)
    n = x.shape[dim]
    if n % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {dim % x.ndim} is size {n}")
    a, b = x.narrow(dim, 0, n // 2), x.narrow(dim, n // 2, n // 2)
    return a * b.sigmoid()


def prelu(input, weight):  # noqa: A002
    x, w = _t(input), _t(weight)
    if w.data.size > 1 and x.ndim >= 2:
        w = w.reshape((w.data.size,) + (1,) * (x.ndim - 2))
    return _where(x > 0, x, x * w)


def dropout(input, p=0.5, training=True, inplace=False):  # noqa: A002
    x = _t(input)
    if training and p > 0:
        raise trace_error(f"dropout with p={p} in training mode (a random mask)",
                          "pass training=False (or p=0) inside the traced function")
    return x if inplace else x.clone()


# ----- normalisation -----------------------------------------------------------------------
def _normalized(x, axes, eps, correction=0):
    mean = arrays.mean(x, axes, keepdims=True)
    var = arrays.var(x.data, axes, True, correction)
    return (x - mean) / (var + eps).sqrt()


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):  # noqa: A002
    x = _t(input)
    k = len(tuple(normalized_shape)) if not isinstance(normalized_shape, int) else 1
    out = _normalized(x, tuple(range(x.ndim - k, x.ndim)), eps)
    if weight is not None:
        out = out * weight
    return out if bias is None else out + bias


def rms_norm(input, normalized_shape, weight=None, eps=None):  # noqa: A002
    x = _t(input)
    k = len(tuple(normalized_shape)) if not isinstance(normalized_shape, int) else 1
    if eps is None:
        eps = float(np.finfo(np.float64 if "64" in str(x.dtype) else np.float32).eps)
    out = x / (arrays.mean(x * x, tuple(range(x.ndim - k, x.ndim)), keepdims=True) + eps).sqrt()
    return out if weight is None else out * weight


def _per_channel(value, ndim):
    return _t(value).reshape((-1,) + (1,) * (ndim - 2))


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):  # noqa: A002
    x = _t(input)
    n, _c = x.shape[0], x.shape[1]
    grouped = x.reshape(n, num_groups, -1)
    out = _normalized(grouped, (2,), eps).reshape(x.shape)
    if weight is not None:
        out = out * _per_channel(weight, x.ndim)
    return out if bias is None else out + _per_channel(bias, x.ndim)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,  # noqa: A002
               momentum=0.1, eps=1e-5):
    x = _t(input)
    if training or running_mean is None:
        if training and (running_mean is not None or running_var is not None):
            raise trace_error("batch_norm in training mode with running statistics (PyTorch updates "
                              "running_mean/running_var in place with the batch's traced statistics)",
                              "pass running_mean=None, running_var=None, or training=False")
        out = _normalized(x, (0, *range(2, x.ndim)), eps)
    else:
        out = (x - _per_channel(running_mean, x.ndim)) / (_per_channel(running_var, x.ndim) + eps).sqrt()
    if weight is not None:
        out = out * _per_channel(weight, x.ndim)
    return out if bias is None else out + _per_channel(bias, x.ndim)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,  # noqa: A002
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    x = _t(input)
    if use_input_stats and (running_mean is not None or running_var is not None):
        raise trace_error("instance_norm with running statistics and use_input_stats=True (PyTorch "
                          "updates them in place with the traced statistics)",
                          "pass running_mean=None, running_var=None")
    if use_input_stats:
        out = _normalized(x, tuple(range(2, x.ndim)), eps)
    else:
        out = (x - _per_channel(running_mean, x.ndim)) / (_per_channel(running_var, x.ndim) + eps).sqrt()
    if weight is not None:
        out = out * _per_channel(weight, x.ndim)
    return out if bias is None else out + _per_channel(bias, x.ndim)


def _vector_norm(x, p, dim, keepdim):
    if p == 0:
        return arrays.reduce_sum(_e("detach", x != 0), dim, keepdim)
    return arrays.norm(x, p, dim, keepdim)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):  # noqa: A002
    if out is not None:
        raise trace_error("F.normalize(..., out=...)", "assign the result instead")
    x = _t(input)
    norm = _vector_norm(x, p, dim, True)
    return x / _e("clamp_min", norm, eps)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """PyTorch's: each side divided by its norm clamped at eps, then summed products."""
    a, b = _t(x1), _t(x2)
    shape = np.broadcast_shapes(a.shape, b.shape)
    a, b = a.expand(*shape), b.expand(*shape)
    na = _e("clamp_min", arrays.norm(a, 2, dim, True), eps)
    nb = _e("clamp_min", arrays.norm(b, 2, dim, True), eps)
    return arrays.reduce_sum((a / na) * (b / nb), dim)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    difference = _t(x1) - x2 + eps
    dim = -1 if difference.ndim else None
    return _vector_norm(difference, p, dim, keepdim)


def dist(input, other, p=2):  # noqa: A002
    return _vector_norm(_t(input) - other, p, None, False)


def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    a, b = _t(x1), _t(x2)
    difference = a.unsqueeze(-2) - b.unsqueeze(-3)
    return _vector_norm(difference, p, -1, False)


# ----- losses ------------------------------------------------------------------------------
def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):  # noqa: A002
    d = _t(input) - target
    z = abs(d)
    loss = _where(z < delta, 0.5 * d * d, delta * (z - 0.5 * delta))
    return reduced(loss if weight is None else loss * weight, reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):  # noqa: A002
    d = _t(input) - target
    z = abs(d)
    loss = z if beta == 0 else _where(z < beta, 0.5 * d * d / beta, z - 0.5 * beta)
    return reduced(loss, _legacy(size_average, reduce, reduction))


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):  # noqa: A002
    x, t = _t(input), _t(target)
    loss = t.exp() * (t - x) if log_target else _e("xlogy", t, t) - t * x
    reduction = _legacy(size_average, reduce, reduction)
    if reduction == "batchmean":
        return loss.sum() / (x.shape[0] if x.ndim else 1)
    return reduced(loss, reduction)


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8,  # noqa: A002
                     reduce=None, reduction="mean"):
    x, t = _t(input), _t(target)
    loss = x.exp() - t * x if log_input else x - t * (x + eps).log()
    if full:
        stirling = t * t.log() - t + 0.5 * (2 * math.pi * t).log()
        loss = loss + _where(t > 1, stirling, 0)
    return reduced(loss, _legacy(size_average, reduce, reduction))


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):  # noqa: A002
    """``var`` is clamped at eps without changing its gradient (PyTorch clamps under no_grad)."""
    x, v = _t(input), _t(var)
    if v.ndim == x.ndim - 1 or (v.ndim == x.ndim and v.shape[-1] == 1 and x.shape[-1] != 1):
        v = v.unsqueeze(-1) if v.ndim == x.ndim - 1 else v
    v = v + _e("detach", _e("clamp_min", v, eps) - v)
    loss = 0.5 * (v.log() + (x - target) ** 2 / v)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return reduced(loss, reduction)


def _class_weights(weight, target, classes):
    if weight is None:
        return np.ones(np.shape(target))
    w = np.asarray(weight.detach().cpu().numpy() if hasattr(weight, "detach") else weight, dtype=np.float64)
    return w[np.asarray(target)]


def _constant_array(value, name):
    if isinstance(value, Placeholder):
        raise trace_error(f"{name} with traced class indices (targets)", "pass the targets as constants")
    return np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,  # noqa: A002
             reduction="mean"):
    x = _t(input)
    if isinstance(weight, Placeholder):
        raise trace_error("nll_loss with traced class weights", "pass weight as a constant")
    labels = _constant_array(target, "nll_loss").astype(np.int64)
    data = x.data if x.ndim > 1 else x.data[None]
    labels_b = labels if x.ndim > 1 else labels[None]
    ignored = labels_b == ignore_index
    safe = np.where(ignored, 0, labels_b)
    w = np.where(ignored, 0.0, _class_weights(weight, safe, data.shape[1]))
    picked = np.take_along_axis(data, safe[:, None, ...], axis=1)[:, 0, ...]
    loss = wrap(picked) * (-w)
    if x.ndim == 1:
        loss = wrap(loss.data[0])
    reduction = _legacy(size_average, reduce, reduction)
    if reduction == "mean":
        return loss.sum() / float(w.sum())
    return reduced(loss, reduction)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,  # noqa: A002
                  reduction="mean", label_smoothing=0.0):
    x = _t(input)
    dim = 1 if x.ndim > 1 else 0
    logp = x.log_softmax(dim)
    reduction = _legacy(size_average, reduce, reduction)
    labels = _constant_array(target, "cross_entropy") if not isinstance(target, Placeholder) else None
    if labels is not None and labels.dtype.kind in "iu":
        if label_smoothing:
            raise trace_error("cross_entropy with class indices and label_smoothing", "pass class probabilities")
        return nll_loss(logp, target, weight, None, ignore_index, None, reduction)
    t = _t(target)
    classes = x.shape[dim]
    if label_smoothing:
        t = t * (1 - label_smoothing) + label_smoothing / classes
    terms = logp * t
    if weight is not None:
        terms = terms * _t(weight).reshape((classes,) + (1,) * (x.ndim - dim - 1))
    loss = -arrays.reduce_sum(terms, dim)
    if reduction == "mean":
        return loss.sum() / (x.shape[0] if x.ndim > 1 else 1)
    return reduced(loss, reduction)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,  # noqa: A002
                         reduction="mean"):
    x, t = _t(input), _t(target)
    log_x = _e("clamp_min", x.log(), -100)
    log_1x = _e("clamp_min", (1 - x).log(), -100)
    loss = -(t * log_x + (1 - t) * log_1x)
    if weight is not None:
        loss = loss * weight
    return reduced(loss, _legacy(size_average, reduce, reduction))


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None,  # noqa: A002
                                     reduce=None, reduction="mean", pos_weight=None):
    x, t = _t(input), _t(target)
    if pos_weight is None:
        loss = _e("softplus", x) - x * t
    else:
        log_weight = (_t(pos_weight) - 1) * t + 1
        loss = (1 - t) * x + log_weight * _e("softplus", -x)
    if weight is not None:
        loss = loss * weight
    return reduced(loss, _legacy(size_average, reduce, reduction))


def margin_ranking_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None,
                        reduction="mean"):
    loss = _e("clamp_min", -_t(target) * (_t(input1) - input2) + margin, 0)
    return reduced(loss, _legacy(size_average, reduce, reduction))


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):  # noqa: A002
    return reduced(_e("softplus", -_t(target) * input), _legacy(size_average, reduce, reduction))


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None,  # noqa: A002
                         reduction="mean"):
    x, t = _t(input), _t(target)
    loss = _where(t != 1, _e("clamp_min", margin - x, 0), 0) + _where(t != -1, x, 0)
    return reduced(loss, _legacy(size_average, reduce, reduction))


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,  # noqa: A002
                                reduction="mean"):
    x, t = _t(input), _t(target)
    loss = -(t * -_e("softplus", -x) + (1 - t) * -_e("softplus", x))
    if weight is not None:
        loss = loss * weight
    loss = arrays.mean(loss, -1)
    return reduced(loss, _legacy(size_average, reduce, reduction))


def cosine_embedding_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None,
                          reduction="mean"):
    a, b, t = _t(input1), _t(input2), _t(target)
    dim = a.ndim - 1
    products = arrays.reduce_sum(a * b, dim)
    magnitude = ((arrays.reduce_sum(a * a, dim) + 1e-12) * (arrays.reduce_sum(b * b, dim) + 1e-12)).sqrt()
    cos = products / magnitude
    loss = _where(t == 1, 1 - cos, 0) + _where(t == -1, _e("clamp_min", cos - margin, 0), 0)
    return reduced(loss, _legacy(size_average, reduce, reduction))


# ----- more torch.* ------------------------------------------------------------------------
def var_mean(name):
    def call(input, *args, **kwargs):  # noqa: A002
        x = _t(input)
        value = variance.torch_var(f"torch.{name}", x, args, kwargs)
        dim, keepdim = _dim_keepdim(args, kwargs)
        return value, arrays.mean(x, dim, keepdim)

    return call


def _dim_keepdim(args, kwargs):
    if args and isinstance(args[0], bool):
        return None, False
    dim = kwargs.get("dim", args[0] if args else None)
    keepdim = kwargs.get("keepdim", args[2] if len(args) > 2 else False)
    return (None if dim == () else dim), bool(keepdim)


def cumprod(input, dim, *, dtype=None, out=None):  # noqa: A002
    if out is not None:
        raise trace_error("torch.cumprod(..., out=...)", "assign the result instead")
    data = as_objects(input)
    if data.ndim == 0:
        return wrap(data.copy())
    moved = np.moveaxis(data, dim, -1)
    result = np.empty_like(moved)
    for index in np.ndindex(*moved.shape[:-1]):
        row = moved[index]
        for k in range(row.shape[0]):
            result[(*index, k)] = se.Mul(*row[:k + 1])
    return wrap(np.ascontiguousarray(np.moveaxis(result, -1, dim)))


def logcumsumexp(input, dim, *, out=None):  # noqa: A002
    data = as_objects(input)
    if data.ndim == 0:
        return wrap(data.copy())
    dim = dim % data.ndim
    pieces = [arrays.logsumexp(wrap(np.take(data, range(k + 1), axis=dim)), dim, True).data
              for k in range(data.shape[dim])]
    return wrap(np.concatenate(pieces, axis=dim))


def nansum(input, dim=None, keepdim=False, *, dtype=None):  # noqa: A002
    x = _t(input)
    return arrays.reduce_sum(_where(x != x, 0, x), dim, keepdim)


def nanmean(input, dim=None, keepdim=False, *, dtype=None, out=None):  # noqa: A002
    x = _t(input)
    kept = _e("detach", x == x)
    return arrays.reduce_sum(_where(x != x, 0, x), dim, keepdim) / arrays.reduce_sum(kept, dim, keepdim)


def nan_to_num(input, nan=0.0, posinf=None, neginf=None, *, out=None):  # noqa: A002
    x = _t(input)
    big = float(np.finfo(np.float64).max)
    posinf = big if posinf is None else posinf
    neginf = -big if neginf is None else neginf
    return _where(x != x, nan, _where(x > big, posinf, _where(x < -big, neginf, x)))


def logit(input, eps=None):  # noqa: A002
    x = _t(input)
    if eps is not None:
        x = _where(x < eps, _e("detach", x * 0 + eps), _where(x > 1 - eps, _e("detach", x * 0 + 1 - eps), x))
    return (x / (1 - x)).log()


def sinc(input):  # noqa: A002
    x = _t(input)
    scaled = x * math.pi
    return _where(x == 0, 1, scaled.sin() / _where(x == 0, 1, scaled))



def special_entr(input):  # noqa: A002
    """``-x log x``; -inf for x < 0, where PyTorch's derivatives still follow ``-x log|x|``."""
    x = _t(input)
    smooth = -x * abs(_where(x == 0, 1, x)).log()
    negative = smooth - _e("detach", smooth) - math.inf
    return _where(x > 0, smooth, _where(x == 0, 0, negative))


def scipy_entr(x):
    """scipy.special.entr: ``-x log x``, 0 at 0, -inf below."""
    x = _t(x)
    return _where(x > 0, -x * _where(x > 0, x, 1).log(), _where(x == 0, 0, -math.inf))


def ndtr(input):  # noqa: A002
    """``erfc(-x / sqrt(2)) / 2``: exact far in the left tail too (``1 + erf`` cancels there)."""
    return 0.5 * _e("erfc", -_t(input) * (1 / math.sqrt(2)))


def copysign(input, other):  # noqa: A002
    x = _t(input)
    return _where(_t(other) < 0, -abs(x), abs(x))


def ldexp(input, other):  # noqa: A002
    return _t(input) * _e("exp2", other)


def heaviside(input, values):  # noqa: A002
    x = _t(input)
    return _e("detach", _where(x == 0, values, _where(x > 0, 1, 0)))


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):  # noqa: A002
    """Outside training, leaky_relu with the mean slope ``(lower + upper) / 2`` (PyTorch's); random in training."""
    if training:
        raise trace_error("F.rrelu(..., training=True) draws a random slope per element",
                          "use training=False (the mean slope), or leaky_relu with a slope of your choice")
    x = _t(input)
    return _inplace("rrelu", x, _where(x >= 0, x, x * ((lower + upper) / 2)), inplace)


def linear_cross_entropy(input, linear_weight, target, *, linear_bias=None, weight=None, reduction="mean",  # noqa: A002
                         ignore_index=None, label_smoothing=0.0, options=None):
    """``cross_entropy(linear(input, linear_weight, linear_bias), target, ...)``."""
    if options is not None:
        raise trace_error("F.linear_cross_entropy(..., options=...): with these options PyTorch computes the "
                          "gradient in a backward it does not differentiate again (its Hessian comes out zero), so "
                          "symhess's exact Hessian would not be PyTorch's", "leave options out: the loss is the "
                          "same, and the two Hessians agree")
    logits = arrays.matmul(input, _t(linear_weight).T)
    if linear_bias is not None:
        logits = logits + linear_bias
    return cross_entropy(logits, target, weight, None, -100 if ignore_index is None else ignore_index, None,
                         reduction, label_smoothing)


def cov(input, *, correction=1, fweights=None, aweights=None):  # noqa: A002
    """``torch.cov``: rows are variables, columns observations; ``(X - mean)(X - mean)^T / (N - correction)``."""
    if fweights is not None or aweights is not None:
        raise trace_error("torch.cov with fweights or aweights", "weight the observations yourself: "
                          "m = (X * w).sum(1) / w.sum(), then ((X - m[:, None]) * w) @ (X - m[:, None]).T / ...")
    x = _t(input)
    if x.ndim > 2:
        raise RuntimeError(f"cov(): expected input to have two or fewer dimensions but got an input with {x.ndim} "
                           "dimensions")
    rows = x.reshape(1, -1) if x.ndim < 2 else x
    centred = rows - rows.mean(dim=1, keepdim=True)
    result = arrays.matmul(centred, centred.T) / (rows.shape[1] - correction)
    return result.reshape(()) if x.ndim < 2 else result


def corrcoef(input):  # noqa: A002
    """``torch.corrcoef``: ``C_ij / sqrt(C_ii C_jj)`` of :func:`cov`, clipped to [-1, 1] as PyTorch clips it."""
    c = cov(input)
    if c.ndim == 0:
        return c / c
    deviation = c.diagonal().sqrt()
    c = c / deviation.reshape(-1, 1)
    c = c / deviation.reshape(1, -1)
    return c.clamp(-1, 1)


def linalg_vander(x, *, N=None):
    """``torch.linalg.vander``: powers ``x^0 .. x^(N-1)`` along a new last dimension."""
    values = _t(x)
    count = values.shape[-1] if N is None else N
    if count <= 1:
        raise RuntimeError("N must be greater than 1.")
    columns = [values.data * 0 + 1] + [values.data ** k for k in range(1, count)]
    return wrap(np.stack(columns, axis=-1))


def max_pool(dimensions: int, with_indices: bool = False):
    """``F.max_pool1d/2d/3d``: windows by ``unfold``, each window's largest value (its derivative
    goes to the first largest, as PyTorch's max pooling sends it).  ``with_indices``: the
    ``return_indices=True`` form, refused."""
    name = f"max_pool{dimensions}d"

    def call(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,  # noqa: A002
             return_indices=False):
        if return_indices or with_indices:
            raise trace_error(f"F.{name}(..., return_indices=True): the indices depend on the traced values",
                              "use the pooled values only")
        if _sizes(padding, dimensions) != (0,) * dimensions or _sizes(dilation, dimensions) != (1,) * dimensions \
                or ceil_mode:
            raise trace_error(f"F.{name} with padding, dilation or ceil_mode is not supported",
                              "pad with F.pad(x, ..., value=-inf) first and pool with padding=0, dilation=1")
        kernel = _sizes(kernel_size, dimensions)
        steps = _sizes(kernel_size if stride is None or stride == [] else stride, dimensions)
        x = input
        first = x.ndim - dimensions
        for k in range(dimensions):  # each unfold appends a window axis at the end
            x = x.unfold(first + k, kernel[k], steps[k])
        x = x.reshape(*x.shape[:x.ndim - dimensions], math.prod(kernel))
        return x.max(-1).values

    return call


def _sizes(value, dimensions: int) -> tuple:
    """A pooling argument as one int per spatial dimension."""
    if isinstance(value, int):
        return (value,) * dimensions
    value = tuple(int(v) for v in value)
    return value * dimensions if len(value) == 1 else value


def convolution(func, dims: int):
    """``torch.conv1d`` / ``conv2d`` (and ``F.``'s): with traced values in more than one of input,
    weight and bias, the input's patches (moved by indexing) times the weights, one n-ary sum
    per output; with one, the probe's exact coefficients (it is affine in each alone).

    PyTorch runs first on zeros of the same shapes: its own errors for bad arguments, and the
    output shape, which the traced result must have."""

    def run(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
        arguments = (input, weight, bias, stride, padding, dilation, groups)
        if sum(isinstance(a, Placeholder) for a in (input, weight, bias)) <= 1:
            return probe.affine_call(func, f"torch.conv{dims}d", probe.table()[func], arguments, {})
        import torch

        zeros = [None if a is None else torch.zeros(tuple(as_objects(a).shape), dtype=torch.float64)
                 for a in (input, weight, bias)]
        with warnings.catch_warnings():  # PyTorch's advice on its own padded copy: not the user's concern here
            warnings.simplefilter("ignore", UserWarning)
            expected = tuple(func(*zeros, stride, padding, dilation, groups).shape)
        x, w = as_objects(input), as_objects(weight)
        unbatched = x.ndim == dims + 1
        x = x[None] if unbatched else x
        if dims == 1:  # a 2-D convolution of height 1
            x, w = x[:, :, None, :], w[:, :, None, :]
        steps, gaps = _pair(stride, dims, 1), _pair(dilation, dims, 1)
        x = np.pad(x, ((0, 0), (0, 0), *_padding(padding, dims, w.shape[2:], gaps)), constant_values=se.Integer(0))
        out = _patches_times_weights(x, w, steps, gaps, groups)
        if bias is not None:
            out = out + as_objects(bias)[None, :, None, None]
        out = out[:, :, 0, :] if dims == 1 else out
        out = out[0] if unbatched else out
        if out.shape != expected:
            raise trace_error(f"torch.conv{dims}d gave shape {out.shape} where PyTorch gives {expected}",
                              "keep all but one of input, weight and bias constant, and open an issue")
        return wrap(out)

    return run


def _pair(value, dims: int, fill: int) -> tuple[int, int]:
    """A stride, padding or dilation of a 1-D or 2-D convolution as (height, width): ``fill`` the height of 1-D."""
    sizes = _sizes(value if isinstance(value, (tuple, list)) else int(value), dims)
    return (fill, *sizes) if dims == 1 else sizes


def _padding(padding, dims: int, kernel, gaps) -> list[tuple[int, int]]:
    """(before, after) of height and width: numbers, or PyTorch's ``"valid"`` and ``"same"`` (the
    extra one of an odd total after, as PyTorch)."""
    if isinstance(padding, str):
        if padding == "valid":
            return [(0, 0), (0, 0)]
        totals = [gap * (size - 1) for gap, size in zip(gaps, kernel)]
        return [(total // 2, total - total // 2) for total in totals]
    height, width = _pair(padding, dims, 0)
    return [(height, height), (width, width)]


def _patches_times_weights(x, w, steps, gaps, groups: int) -> np.ndarray:
    """``out[n, o, i, j] = sum w[o, c, a, b] * x[n, g c, i s + a d, j t + b e]`` over each group's channels."""
    batch, channels, height, width = x.shape
    outs, per_group, kh, kw = w.shape
    rows = (height - gaps[0] * (kh - 1) - 1) // steps[0] + 1
    cols = (width - gaps[1] * (kw - 1) - 1) // steps[1] + 1
    i = (np.arange(rows) * steps[0])[:, None] + (np.arange(kh) * gaps[0])[None, :]  # (rows, kh)
    j = (np.arange(cols) * steps[1])[:, None] + (np.arange(kw) * gaps[1])[None, :]  # (cols, kw)
    patches = x[:, :, i[:, None, :, None], j[None, :, None, :]]  # (batch, channels, rows, cols, kh, kw)
    patches = patches.transpose(0, 1, 4, 5, 2, 3).reshape(batch, channels * kh * kw, rows * cols)
    result = np.empty((batch, outs, rows * cols), dtype=object)
    size, out_size = per_group * kh * kw, outs // groups
    for g in range(groups):
        kernel = w[g * out_size:(g + 1) * out_size].reshape(out_size, size)
        for n in range(batch):
            result[n, g * out_size:(g + 1) * out_size] = arrays.matrix_product(
                kernel, patches[n, g * size:(g + 1) * size])
    return result.reshape(batch, outs, rows, cols)
