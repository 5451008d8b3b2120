"""PyTorch's operator database against symhess (issue 14): no mismatch, no raw error.

The quick run checks a fixed subset of operators; the full sweep over every twice
differentiable float64 operator (see ``op_db_sweep.py``) is slow, reports the fraction
traced and equal, and writes the table the docs include (``docs/snippets/op_db_coverage.md``).
Refusals are allowed (a clear TraceError); a mismatch or any other exception fails.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("expecttest")  # torch.testing._internal imports it

sys.path.insert(0, str(Path(__file__).resolve().parent))
import op_db_sweep as sweep

QUICK = ("add", "mul", "exp", "sort", "topk", "kthvalue", "median", "max.reduction_with_dim",
         "cumprod", "diff", "roll", "addmm", "addcdiv", "cross", "nn.functional.mish",
         "nn.functional.layer_norm", "nn.functional.cross_entropy", "nn.functional.kl_div",
         "nn.functional.huber_loss", "nn.functional.conv1d", "nn.functional.pad.reflect",
         "linalg.det", "linalg.slogdet", "xlogy", "special.entr", "nan_to_num", "__radd__",
         "logcumsumexp", "var_mean", "nn.functional.normalize",
         # special functions (symhess.special), torch.masked (placeholders' layout), modulo from the right
         "lgamma", "digamma", "polygamma.polygamma_n_3", "mvlgamma.mvlgamma_p_3", "erfc", "special.ndtri",
         "special.log_ndtr", "special.erfcx", "special.i1e", "i0", "masked.softmax", "masked.amax", "__rmod__",
         "masked.median", "scatter_reduce.sum", "scatter_reduce.mean", "combinations", "gradient",
         "meshgrid.list_of_tensors", "cov", "corrcoef", "linalg.vander", "nn.functional.linear_cross_entropy",
         "nn.functional.linear_cross_entropy.chunked")
REFUSED = {"__radd__": "a C descriptor no hook reaches: refused clearly",
           "masked.median": "fills masked elements with NaN, which symhess does not order",
           "nn.functional.linear_cross_entropy.chunked": "PyTorch's own Hessian of the chunked form is zero"}


@pytest.fixture(scope="module")
def operators():
    return {sweep.op_name(op): op for op in sweep.operators()}


def _check(result):
    assert result.outcome in ("equal", "refused", "skipped"), f"{result.name}: {result.outcome}: {result.detail}"


@pytest.mark.parametrize("name", QUICK)
def test_quick_subset(operators, name):
    result = sweep.run(operators[name])
    _check(result)
    assert result.outcome == ("refused" if name in REFUSED else "equal"), result.detail


@pytest.mark.slow
def test_full_sweep(operators):
    results = [sweep.run(op) for op in operators.values()]
    print(sweep.summary(results))
    bad = [r for r in results if r.outcome in ("mismatch", "error")]
    assert not bad, "\n".join(f"{r.name}: {r.outcome}: {r.detail}" for r in bad)
    equal = sum(r.outcome == "equal" for r in results)
    tested = sum(r.outcome != "skipped" for r in results)
    assert equal / tested >= 0.75, sweep.summary(results)
    assert sweep.TABLE.read_text(encoding="utf-8") == sweep.table(results), \
        "the docs' table is out of date: run python -m tests.tracing.op_db_sweep and commit it"
