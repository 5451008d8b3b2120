"""The two examples of PyTorch's ``torch.autograd.functional.hessian`` docs, with NumPy.

Run: python examples/pytorch_doc_examples.py
"""

import numpy as np

import symhess


def pow_reducer(x):
    return x.pow(3).sum()


def pow_adder_reducer(x, y):
    return (2 * x.pow(2) + 3 * y.pow(2)).sum()


def main():
    rng = np.random.default_rng(0)
    x = rng.random((2, 2))
    H = symhess.hessian(pow_reducer, x)
    print("pow_reducer: x.pow(3).sum() at x =\n", x)
    print("Hessian, shape", H.shape, "(as a 4x4 matrix: 6*x on the diagonal)\n", H.reshape(4, 4))

    inputs = (rng.random(2), rng.random(2))
    H2 = symhess.hessian(pow_adder_reducer, inputs)
    print("\npow_adder_reducer: (2 * x.pow(2) + 3 * y.pow(2)).sum()")
    for i in range(2):
        for j in range(2):
            print(f"H[{i}][{j}] =\n", H2[i][j])

    f = symhess.compile(pow_reducer, x)
    print("\nThe symbolic Hessian behind the numbers:")
    print("f =", f.expression)
    print("Hessian =", f.hessian_expression)
    return H, H2


if __name__ == "__main__":
    main()
