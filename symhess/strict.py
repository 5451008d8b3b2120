"""``strict=True``: PyTorch's RuntimeErrors, decided exactly from the symbolic derivatives.

PyTorch detects "independent of an input" from its autograd graph; here the same facts
come from which input symbols the traced value and its gradient reach, checked in the
order PyTorch checks them so that the same message is raised first.
"""

from __future__ import annotations

from .tracing.elementwise import graph_inputs

OUTPUT_NO_GRAD = ("Output 0 of the user-provided function does not require gradients. The outputs "
                  "must be computed in a differentiable manner from the input when running in "
                  "strict mode.")
OUTPUT_INDEPENDENT = ("The output of the user-provided function is independent of input {0}. This "
                      "is not allowed in strict mode.")
JACOBIAN_CONSTANT = ("While computing the hessian, found that the jacobian of the user-provided "
                     "function with respect to input {0} is independent of the input. This is not "
                     "allowed in strict mode. You should ensure that your function is twice "
                     "differentiable and that the jacobian depends on the inputs (this would be "
                     "violated by a linear function for example).")
GRAPH_JACOBIAN_CONSTANT = ("The jacobian of the user-provided function is independent of input {0}. "
                           "This is not allowed in strict mode when create_graph=True.")
BLOCK_INDEPENDENT = ("Output {0} of the user-provided function is independent of input {1}. This is "
                     "not allowed in strict mode.")
HVP_INDEPENDENT = ("The hessian of the user-provided function is independent of entry {0} in the "
                   "grad_jacobian. This is not allowed in strict mode as it prevents from using the "
                   "double backward trick to replace forward mode AD.")
VHP_INDEPENDENT = ("The jacobian of the user-provided function is independent of input {0}. This is "
                   "not allowed in strict mode.")


def _structure(compiled):
    """PyTorch's graph, by input block: whether the output requires grad, the blocks it
    reaches (``jac[i]`` is not None), for each ``jac[i]`` whether it requires grad and the
    blocks it reaches, and the Hessian's non-zero block rows (double backward connects).

    Connections follow the expressions, as PyTorch's graph does (``floor(x)`` reaches ``x``
    with a zero derivative); ``detach()`` and comparisons cut them.
    """
    derivs = compiled._derivatives()
    offsets = compiled._offsets
    blocks = range(len(offsets) - 1)
    owner = {s: k for k in blocks for s in derivs.variables[offsets[k]:offsets[k + 1]]}
    symbols, marked = graph_inputs(compiled._trace.output.reshape(-1))
    reached = {owner[s] for s in symbols if s in owner}
    jacobian_grad, jacobian_reached = [], []
    for k in blocks:
        symbols, jacobian_marked = graph_inputs(derivs.gradient[offsets[k]:offsets[k + 1]])
        jacobian_reached.append({owner[s] for s in symbols if s in owner})
        jacobian_grad.append(bool(jacobian_reached[-1]) or jacobian_marked)
    variable_block = [k for k in blocks for _ in range(offsets[k], offsets[k + 1])]
    hessian_rows = {variable_block[i] for pair in derivs.hessian for i in pair}
    return bool(reached) or marked, reached, jacobian_grad, jacobian_reached, hessian_rows


VECTORIZE_STRICT = ("torch.autograd.functional.jacobian: `strict=True` and `vectorized=True` are not "
                    "supported together. Please either set `strict=False` or `vectorize=False`.")


def check_outputs(trace) -> None:
    """PyTorch's first strict check: every output must reach an input (or a
    ``requires_grad_()`` leaf); the first that does not is named."""
    inputs = {s for sym in trace.symbols for s in sym.reshape(-1)}
    for index, out in enumerate(trace.outputs):
        symbols, marked = graph_inputs(out.reshape(-1))
        if not (symbols & inputs or marked):
            raise RuntimeError(OUTPUT_NO_GRAD.replace("Output 0", f"Output {index}"))


def check_hessian(compiled, vectorize: bool = False) -> None:
    """PyTorch's order: output, then ``jac[i]`` (inner jacobian), then the outer jacobian
    (whose ``vectorize`` check comes after it has called the inner one)."""
    requires_grad, _, jacobian_grad, jacobian_reached, _ = _structure(compiled)
    if not requires_grad:
        raise RuntimeError(OUTPUT_NO_GRAD)
    for i, grad in enumerate(jacobian_grad):
        if not grad:
            raise RuntimeError(JACOBIAN_CONSTANT.format(i))
    if vectorize:
        raise RuntimeError(VECTORIZE_STRICT)
    for i, reached in enumerate(jacobian_reached):  # the outer jacobian: jac[i] w.r.t. each input
        for j in range(len(jacobian_reached)):
            if j not in reached:
                raise RuntimeError(BLOCK_INDEPENDENT.format(i, j))


def check_product(compiled, fn_name: str) -> None:
    """hvp and vhp check ``jac[i]`` input by input (None, then requires_grad), then the
    second backward: through ``grad_jac`` for hvp, to the inputs for vhp."""
    requires_grad, reached, jacobian_grad, jacobian_reached, hessian_rows = _structure(compiled)
    if not requires_grad:
        raise RuntimeError(OUTPUT_NO_GRAD)
    for i, grad in enumerate(jacobian_grad):
        if i not in reached:
            raise RuntimeError(OUTPUT_INDEPENDENT.format(i))
        if not grad:
            raise RuntimeError(JACOBIAN_CONSTANT.format(i))
    for i in range(len(jacobian_grad)):
        if fn_name == "hvp" and i not in hessian_rows:
            raise RuntimeError(HVP_INDEPENDENT.format(i))
        if fn_name == "vhp" and not any(i in r for r in jacobian_reached):
            raise RuntimeError(VHP_INDEPENDENT.format(i))
