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
GRAD_INPUT_INDEPENDENT = ("The gradient with respect to input {0} is independent of the inputs of the "
                          "user-provided function. This is not allowed in strict mode.")
BACK_TRICK_INDEPENDENT = ("The gradient with respect to the input is independent of entry {0} in the "
                          "grad_outputs when using the double backward trick to compute forward mode "
                          "gradients. This is not allowed in strict mode.")
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


# ----- functions of tensor or tuple values: jacobian, vjp, jvp ------------------------------
# ``listed`` is the trace's ExpressionList (outputs flattened in order over the inputs' symbols),
# ``rows``/``columns`` the offsets of the outputs and inputs in it (expression_lists.offsets).

def _blocks(trace) -> list[set]:
    return [set(symbols.reshape(-1)) for symbols in trace.symbols]


def _reached(trace, blocks) -> list[set]:
    """Per output, the input blocks its autograd graph reaches."""
    reached = []
    for out in trace.outputs:
        symbols, _ = graph_inputs(out.reshape(-1))
        reached.append({j for j, block in enumerate(blocks) if symbols & block})
    return reached


def check_jacobian(trace) -> None:
    """PyTorch's strict check of ``jacobian`` after :func:`check_outputs`: an output whose autograd
    graph (:func:`graph_inputs`) does not reach an input.  Connections, not non-zero derivatives:
    ``floor(x)`` reaches ``x``; a ``requires_grad_()`` leaf cut from the inputs reaches none."""
    blocks = _blocks(trace)
    for i, reached in enumerate(_reached(trace, blocks)):
        for j in range(len(blocks)):
            if j not in reached:
                raise RuntimeError(BLOCK_INDEPENDENT.format(i, j))


def _terms(listed) -> list[tuple]:
    """``(row, column, entry)`` of the structurally non-zero Jacobian entries."""
    return [(row, column, entry) for (row, column), entry in listed.entries.items() if entry != 0]


def check_jacobian_graph(listed, rows, columns) -> None:
    """PyTorch's strict checks of jacobian(create_graph=True), in its loop order: per output and
    element, each input's part of the row must exist and must itself depend on the inputs."""
    variables = set(listed.variables)
    by_row: dict[int, list] = {}
    for row, column, entry in _terms(listed):
        by_row.setdefault(row, []).append((column, entry))
    for i in range(len(rows) - 1):
        for row in range(rows[i], rows[i + 1]):
            for j in range(len(columns) - 1):
                part = [e for column, e in by_row.get(row, ()) if columns[j] <= column < columns[j + 1]]
                if not part:
                    raise RuntimeError(BLOCK_INDEPENDENT.format(i, j))
                if not any(e.free_symbols & variables for e in part):
                    raise RuntimeError(GRAPH_JACOBIAN_CONSTANT.format(i))


def _owner(at: list[int]) -> list[int]:
    """The block of each flat position, for block offsets ``at``."""
    return [k for k in range(len(at) - 1) for _ in range(at[k], at[k + 1])]


def _requires_grad(terms, variables: set, v_requires_grad) -> bool:
    """Whether a sum of terms ``J[row, column] * v[...]`` requires grad under create_graph=True:
    an entry depends on the inputs, or multiplies a ``v`` that requires grad."""
    return any(entry.free_symbols & variables or v_requires_grad(row, column) for row, column, entry in terms)


def check_vjp(trace, listed, rows, columns, create_graph: bool, v_requires_grad) -> None:
    """vjp's checks after those of the outputs and of ``v``, input by input (PyTorch's
    ``_fill_in_zeros``): no output reaches it, or, with create_graph, its product ``v @ J``
    requires no grad."""
    blocks = _blocks(trace)
    reached = set().union(*_reached(trace, blocks))
    input_of, output_of = _owner(columns), _owner(rows)
    variables, terms = set(listed.variables), _terms(listed)
    for i in range(len(blocks)):
        if i not in reached:
            raise RuntimeError(OUTPUT_INDEPENDENT.format(i))
        part = [term for term in terms if input_of[term[1]] == i]
        if create_graph and not _requires_grad(part, variables, lambda row, _: v_requires_grad[output_of[row]]):
            raise RuntimeError(GRAPH_JACOBIAN_CONSTANT.format(i))


def check_jvp(trace, listed, rows, columns, create_graph: bool, v_requires_grad) -> None:
    """jvp's checks after the outputs', along its double backward: input by input, no output reaches
    it or its gradient ``u @ J`` is zero (requires no grad); then output by output, its Jacobian row
    is zero (``u_k`` unused) or, with create_graph, its product ``J @ v`` requires no grad."""
    blocks = _blocks(trace)
    reached = set().union(*_reached(trace, blocks))
    input_of, output_of = _owner(columns), _owner(rows)
    variables, terms = set(listed.variables), _terms(listed)
    for i in range(len(blocks)):
        if i not in reached:
            raise RuntimeError(OUTPUT_INDEPENDENT.format(i))
        if not any(input_of[column] == i for _, column, _ in terms):
            raise RuntimeError(GRAD_INPUT_INDEPENDENT.format(i))
    for k in range(len(rows) - 1):
        part = [term for term in terms if output_of[term[0]] == k]
        if not part:
            raise RuntimeError(BACK_TRICK_INDEPENDENT.format(k))
        if create_graph and not _requires_grad(part, variables, lambda _, column: v_requires_grad[input_of[column]]):
            raise RuntimeError(GRAPH_JACOBIAN_CONSTANT.format(k))
