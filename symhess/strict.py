"""``strict=True``: PyTorch's RuntimeErrors, decided exactly from the symbolic derivatives.

PyTorch detects "independent of an input" from its graph; here the same facts come
from the structural non-zeros of the gradient and the Hessian, checked in the
order PyTorch checks them so that the same message is raised first.
"""

from __future__ import annotations

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
BLOCK_INDEPENDENT = ("Output {0} of the user-provided function is independent of input {1}. This is "
                     "not allowed in strict mode.")
HVP_INDEPENDENT = ("The hessian of the user-provided function is independent of entry {0} in the "
                   "grad_jacobian. This is not allowed in strict mode as it prevents from using the "
                   "double backward trick to replace forward mode AD.")
VHP_INDEPENDENT = ("The jacobian of the user-provided function is independent of input {0}. This is "
                   "not allowed in strict mode.")


def _structure(compiled):
    """Per input: which gradient entries are non-zero, and the Hessian's non-zero pairs."""
    derivs = compiled._derivatives()
    offsets = compiled._offsets
    owner = [k for k in range(len(offsets) - 1) for _ in range(offsets[k], offsets[k + 1])]
    gradient_nonzero = [g != 0 for g in derivs.gradient]
    pairs = set()
    for i, j in derivs.hessian:
        pairs.add((i, j))
        pairs.add((j, i))
    return offsets, owner, gradient_nonzero, pairs


def check_hessian(compiled) -> None:
    offsets, owner, gradient_nonzero, pairs = _structure(compiled)
    inputs = range(len(offsets) - 1)
    if not any(gradient_nonzero):
        raise RuntimeError(OUTPUT_NO_GRAD)
    rows_with_entries = {owner[i] for i, _ in pairs}
    for block in inputs:
        if block not in rows_with_entries:
            raise RuntimeError(JACOBIAN_CONSTANT.format(block))
    touched = {}
    for i, j in pairs:
        touched.setdefault(i, set()).add(owner[j])
    for block in inputs:
        for element in range(offsets[block], offsets[block + 1]):
            for other in inputs:
                if other not in touched.get(element, ()):
                    raise RuntimeError(BLOCK_INDEPENDENT.format(block, other))


def check_product(compiled, fn_name: str) -> None:
    offsets, owner, gradient_nonzero, pairs = _structure(compiled)
    inputs = range(len(offsets) - 1)
    if not any(gradient_nonzero):
        raise RuntimeError(OUTPUT_NO_GRAD)
    for block in inputs:
        if not any(gradient_nonzero[offsets[block]:offsets[block + 1]]):
            raise RuntimeError(OUTPUT_INDEPENDENT.format(block))
    rows_with_entries = {owner[i] for i, _ in pairs}
    for block in inputs:
        if block not in rows_with_entries:
            raise RuntimeError(JACOBIAN_CONSTANT.format(block))
    message = HVP_INDEPENDENT if fn_name == "hvp" else VHP_INDEPENDENT
    for block in inputs:
        if block not in rows_with_entries:
            raise RuntimeError(message.format(block))
