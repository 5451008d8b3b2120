"""PyTorch's operator database (``op_db``) against symhess: the coverage sweep of issue 14.

For every OpInfo that PyTorch marks as twice differentiable (``supports_gradgrad``) in
float64 on CPU, its first two sample inputs of at most 24 elements: ``f(x) = sum(w *
op(x, *args, **kwargs))`` with fixed weights ``w``, and ``symhess.hessian(f, x)`` against
``torch.autograd.functional.hessian(f, x)`` (relative tolerance 1e-8). A sample whose
output is not a floating tensor is skipped (for a (values, indices) pair, the values are
the output); when the sample's input is a list of tensors (``cat``, ``stack``), ``x`` is
its first tensor and the others are constants.

Each operator ends in one class: ``equal`` (every tried sample traced and equal),
``refused`` (a ``TraceError``, its message kept), ``mismatch`` or ``error`` (any other
exception from symhess), or ``skipped`` (no usable sample). ``python -m
tests.tracing.op_db_sweep`` runs it all and writes the table the docs include
(:data:`TABLE`).
"""

from __future__ import annotations

import itertools
import signal
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

TABLE = Path(__file__).resolve().parents[2] / "docs" / "snippets" / "op_db_coverage.md"
MAX_ELEMENTS = 24
SAMPLES = 2
RTOL = 1e-8
TIMEOUT = 120  # seconds per operator: a symbolic blow-up is a failure, not a hang


@dataclass
class Result:
    name: str            # OpInfo name, with its variant ("max.reduction_with_dim")
    outcome: str         # equal, refused, mismatch, error, skipped
    detail: str = ""     # the TraceError's problem, the mismatch or the raw error
    seconds: float = 0.0


def operators():
    """The OpInfos of the sweep, in op_db's order."""
    import torch
    from torch.testing._internal.common_methods_invocations import op_db

    return [op for op in op_db
            if op.supports_gradgrad and torch.float64 in op.supported_dtypes("cpu")]


def op_name(op) -> str:
    return op.name + (f".{op.variant_test_name}" if op.variant_test_name else "")


def samples(op):
    """Up to :data:`SAMPLES` of ``op``'s sample inputs with at most 24 elements to differentiate."""
    import torch

    chosen = []
    try:
        generated = op.sample_inputs("cpu", torch.float64, requires_grad=False)
        for sample in itertools.islice(generated, 64):
            x = _differentiated(sample.input)
            if x is not None and x.is_floating_point() and 0 < x.numel() <= MAX_ELEMENTS:
                chosen.append(sample)
                if len(chosen) == SAMPLES:
                    break
    except Exception:  # a sample generator that fails on this machine: nothing to test
        return []
    return chosen


def _differentiated(value):
    import torch

    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], torch.Tensor):
        return value[0]
    return None


def weights(shape):
    """Fixed, distinct weights (no two equal, none zero) of ``shape``."""
    import torch

    n = 1
    for s in shape:
        n *= s
    return (0.3 + 0.7 * torch.arange(1, n + 1, dtype=torch.float64).sin().abs()
            * torch.tensor([1.0, -1.0], dtype=torch.float64).repeat(n)[:n]).reshape(shape)


def objective(op, sample):
    """``(f, x)``, or ``None`` when the output is not a floating tensor."""
    import torch

    x0 = _differentiated(sample.input).detach().clone()
    is_list = not isinstance(sample.input, torch.Tensor)

    def call(x):
        first = [x, *sample.input[1:]] if is_list else x
        out = op.op(first, *sample.args, **sample.kwargs)
        if isinstance(out, tuple) and out and not isinstance(out, torch.Size):
            out = out[0]  # (values, indices) pairs: the values
        return out

    try:
        out = call(x0.clone())
    except Exception:
        return None
    if not isinstance(out, torch.Tensor) or not out.is_floating_point() or out.is_complex():
        return None
    w = weights(out.shape)

    def f(x):
        return (w * call(x)).sum()

    return f, x0


def compare(op, sample):
    """``None`` if equal (or not applicable), else (outcome, detail)."""
    import numpy as np
    import torch

    import symhess
    from symhess import TraceError

    made = objective(op, sample)
    if made is None:
        return "skip", ""
    f, x = made
    try:
        expected = torch.autograd.functional.hessian(f, x.clone())
    except Exception:
        return "skip", ""
    try:
        got = symhess.hessian(f, x.clone())
    except TraceError as error:
        return "refused", _problem(str(error))
    except SweepTimeoutError:
        return "error", f"no result within {TIMEOUT} s"
    except Exception as error:
        return "error", f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    got, expected = np.asarray(got.detach(), dtype=float), np.asarray(expected.detach(), dtype=float)
    if got.shape != expected.shape:
        return "mismatch", f"shape {got.shape} instead of {expected.shape}"
    scale = max(1.0, float(np.nanmax(np.abs(expected), initial=0.0)))
    if np.allclose(got, expected, rtol=RTOL, atol=RTOL * scale, equal_nan=True):
        return None
    worst = float(np.nanmax(np.abs(got - expected), initial=np.inf))
    return "mismatch", f"largest difference {worst:.3g} (Hessian scale {scale:.3g})"


def _problem(message: str) -> str:
    first = message.splitlines()[0]
    return first.removeprefix("symhess cannot trace this: ")


class SweepTimeoutError(Exception):
    pass


def _alarm(signum, frame):
    raise SweepTimeoutError


def run(op) -> Result:
    """One operator's outcome over its samples."""
    start = time.perf_counter()
    outcomes = []
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIMEOUT)
    try:
        with warnings.catch_warnings():  # PyTorch's deprecation notices: the same outcome under pytest's -W error
            for category in (UserWarning, DeprecationWarning, FutureWarning):
                warnings.simplefilter("ignore", category)
            for sample in samples(op):
                outcomes.append(compare(op, sample))
    except SweepTimeoutError:
        outcomes.append(("error", f"no result within {TIMEOUT} s"))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    seconds = time.perf_counter() - start
    failures = [o for o in outcomes if o is not None and o[0] != "skip"]
    for kind in ("error", "mismatch", "refused"):
        found = [o for o in failures if o[0] == kind]
        if found:
            return Result(op_name(op), kind, found[0][1], seconds)
    if any(o is None for o in outcomes):
        return Result(op_name(op), "equal", "", seconds)
    return Result(op_name(op), "skipped", "no sample with a floating output of at most 24 elements", seconds)


def summary(results) -> str:
    counts = Counter(r.outcome for r in results)
    tested = sum(counts[k] for k in ("equal", "refused", "mismatch", "error"))
    fraction = counts["equal"] / tested if tested else 0.0
    return (f"{counts['equal']} of {tested} operators traced and equal ({fraction:.0%}); "
            f"refused {counts['refused']}, mismatch {counts['mismatch']}, raw error {counts['error']}, "
            f"skipped {counts['skipped']} (no usable sample)")


def table(results) -> str:
    """The Markdown table the docs include."""
    import torch

    lines = [f"Measured with PyTorch {torch.__version__.split('+')[0]}: {summary(results)}.", "",
             "| operator | result | reason |", "| --- | --- | --- |"]
    for r in sorted(results, key=lambda r: r.name):
        reason = r.detail.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{r.name}` | {r.outcome} | {reason} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    names = set(argv)
    results = []
    for op in operators():
        if names and op.name not in names and op_name(op) not in names:
            continue
        result = run(op)
        results.append(result)
        print(f"{result.outcome:9s} {result.seconds:6.1f}s {result.name}  {result.detail}", flush=True)
    print(summary(results))
    if not names:
        TABLE.parent.mkdir(parents=True, exist_ok=True)
        TABLE.write_text(table(results), encoding="utf-8")
        print(f"wrote {TABLE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
