"""The two examples of PyTorch's ``torch.autograd.functional.hessian`` docs, with NumPy.

Teaches: ``symhess.hessian`` is a drop-in for PyTorch's (same call, same shapes and
nesting), and behind its numbers is a symbolic Hessian you can look at:
``symhess.compile(func, *inputs).hessian_expression`` is a SymPy matrix over the
placeholder symbols (``f.variables``), here pretty-printed next to the numbers.

Run: python examples/pytorch_doc_examples.py
"""

import numpy as np
import sympy as sp

import symhess


def pow_reducer(x):
    return x.pow(3).sum()


def pow_adder_reducer(x, y):
    return (2 * x.pow(2) + 3 * y.pow(2)).sum()


def show(func, inputs, H, H_as_matrix):
    """Print the symbolic Hessian, then symhess.hessian's numbers laid out the same way."""
    f = symhess.compile(func, *inputs)
    point = dict(zip(f.variables, np.concatenate([np.ravel(v) for v in inputs])))
    print(f"{func.__name__}: f = {f.expression}")
    print(f"symbolic Hessian, rows and columns {', '.join(map(str, f.variables))}:")
    sp.pprint(f.hessian_expression)
    print(f"symhess.hessian({func.__name__}, inputs) at {', '.join(f'{k} = {v:.4f}' for k, v in point.items())}:")
    print(H_as_matrix.round(4))
    return np.array(f.hessian_expression.subs(point), dtype=float)


def main():
    rng = np.random.default_rng(0)
    x = rng.random((2, 2))
    H = symhess.hessian(pow_reducer, x)
    symbolic = show(pow_reducer, (x,), H, H.reshape(4, 4))
    print(f"(returned with shape {H.shape}, as PyTorch's: H[i, j, k, l] = d2f / dx[i, j] dx[k, l])\n")

    inputs = (rng.random(2), rng.random(2))
    H2 = symhess.hessian(pow_adder_reducer, inputs)
    symbolic2 = show(pow_adder_reducer, inputs, H2, np.block([[H2[0][0], H2[0][1]], [H2[1][0], H2[1][1]]]))
    print("(returned as PyTorch's tuple of tuples: H2[i][j] = d2f / d inputs[i] d inputs[j], 2 x 2 blocks)")
    return H, H2, symbolic, symbolic2


if __name__ == "__main__":
    main()
