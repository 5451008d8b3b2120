"""A generated corpus of small programs that write through views, for NumPy and PyTorch.

Each program copies its input, takes views of views (basic slicing with steps and negative
indices, ``None``, ``...``, transposes, reshapes, squeezes), and writes into some of them
(``x[i] = ...``, ``+=``, ``*=``, torch's in-place methods); it returns a weighted sum of
cubes of every array it made, so that every write shows in the value and the Hessian.
Each statement is kept only if the real library runs it, so the corpus holds programs
that NumPy or PyTorch accept, with their aliasing deciding the numbers.
"""

from __future__ import annotations

import random
import warnings

import numpy as np

X = np.array([[0.3, -0.8, 1.1, -0.45], [0.9, 0.6, -1.2, 0.25], [-0.35, 0.7, 0.15, -1.05]])


def _torch():
    import torch

    return torch


def _slice(rng, negative_steps):
    start = rng.choice([None, 0, 1, -1, -2, 2])
    stop = rng.choice([None, 3, -1, 2, 4])
    steps = [None, 1, 2] + ([-1, -2] if negative_steps else [])
    return f"{'' if start is None else start}:{'' if stop is None else stop}" + (
        "" if (step := rng.choice(steps)) is None else f":{step}")


def _index(rng, ndim, negative_steps):
    """A basic index: integers (negative too), slices with steps, None and Ellipsis."""
    items = []
    for _ in range(rng.randint(1, max(1, ndim))):
        kind = rng.random()
        items.append(str(rng.choice([0, 1, -1, 2, -2])) if kind < 0.3 else _slice(rng, negative_steps))
    if rng.random() < 0.2:
        items.insert(rng.randint(0, len(items)), "None")
    if rng.random() < 0.2:
        items.insert(rng.randint(0, len(items)), "...")
    return ", ".join(items)


def _views(library):
    common = ["{a}[{index}]", "{a}.T", "{a}.reshape(-1)", "{a}[None]", "{a}.squeeze()",
              "{a}.reshape({a}.shape[::-1])", "{a}.transpose()", "{a}.ravel()", "{a}.flatten()"]
    if library == "numpy":
        return [*common, "np.swapaxes({a}, 0, -1)", "np.expand_dims({a}, -1)", "np.reshape({a}, (-1, 1))",
                "np.asarray({a})", "np.array({a})", "{a}.copy()", "+{a}", "np.flip({a})"]
    return [*common, "{a}.t()", "{a}.view(-1)", "{a}.unsqueeze(0)", "{a}.narrow(0, 0, 1)",
            "{a}.transpose(0, -1)", "{a}.squeeze(0)", "{a}.flip(0)", "{a}.detach().clone()", "+{a}",
            "{a}.contiguous()", "{a}.permute(*reversed(range({a}.dim())))"]


def _values(rng, names, library):
    other = rng.choice(names)
    return rng.choice(["1.5", "-0.5", f"{other}.sum() * 0.1", f"0.5 * {other}[{_index(rng, 2, library == 'numpy')}]",
                       f"{other} * 0.5", f"{other}.mean()"])


def _writes(library):
    common = ["{a}[{index}] = {value}", "{a} += {value}", "{a} -= {value}", "{a} *= {value}", "{a} /= 2.0",
              "{a}[{index}] *= {value}", "{a}[{index}] += {value}", "{a} **= 2", "{a}[...] = {value}"]
    if library == "numpy":
        return common
    return [*common, "{a}.mul_({value})", "{a}.add_({value}, alpha=0.5)", "{a}.sub_({value})",
            "{a}.div_(4.0)", "{a}.clamp_(-0.5, 0.75)", "{a}.pow_(2)", "{a}.copy_({value})", "{a}.zero_()",
            "{a}.fill_(0.25)", "{a}.neg_()", "{a}.sin_()", "{a}.t_()", "{a}.unsqueeze_(0)",
            "{a}.squeeze_()", "{a}.clamp_(min=0.1)", "{a}[{index}].mul_(3.0)"]


def _statement(rng, names, library, arrays):
    target = rng.choice(names)
    ndim = getattr(arrays[target], "ndim", 0)
    fields = {"a": target, "index": _index(rng, ndim, library == "numpy"),
              "value": _values(rng, names, library)}
    if rng.random() < 0.5:
        return f"a{len(names)} = " + rng.choice(_views(library)).format(**fields), True
    return rng.choice(_writes(library)).format(**fields), False


def program(seed: int, library: str, steps: int = 9) -> str:
    """Source of ``def f(x): ...``, every statement of which the real library accepts."""
    rng = random.Random(f"{library}-{seed}")
    names, lines = ["a0"], ["a0 = x.copy()" if library == "numpy" else "a0 = x.clone()"]
    namespace = _run(lines, library)
    for _ in range(steps):
        for _attempt in range(40):
            line, new = _statement(rng, names, library, namespace)
            trial = _run([*lines, line], library)
            if trial is not None:
                namespace = trial
                lines.append(line)
                if new:
                    names.append(f"a{len(names)}")
                break
    weights = [round(0.3 + 0.1 * k, 1) * (-1) ** k for k in range(len(names))]
    total = " + ".join(f"{w} * ({n} ** 3).sum()" for w, n in zip(weights, names))
    return "def f(x):\n" + "".join(f"    {line}\n" for line in lines) + f"    return {total}\n"


def _run(lines, library):
    """The namespace after running ``lines`` from the start, or None if the library refuses one."""
    namespace = {"np": np, "torch": _torch() if library == "torch" else None}
    namespace["x"] = X.copy() if library == "numpy" else namespace["torch"].tensor(X)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            exec("\n".join(lines), namespace)
    except Exception:
        return None
    return namespace


def function(source: str, library: str):
    """The program as a function, with ``np`` and ``torch`` in scope."""
    namespace = {"np": np, "torch": _torch() if library == "torch" else None}
    exec(source, namespace)
    return namespace["f"]
