"""Skipping the re-trace is only allowed while nothing func reads has changed."""

import numpy as np

import symhess
from symhess.guards import fingerprint

SCALE = 2.0
TABLE = np.array([1.0, 3.0])


def uses_globals(x):
    return (SCALE * TABLE * x**2).sum()


def test_global_changes_are_seen():
    global SCALE
    for _ in range(3):
        np.testing.assert_array_equal(symhess.hessian(uses_globals, np.ones(2)), np.diag([4.0, 12.0]))
    SCALE = 3.0
    np.testing.assert_array_equal(symhess.hessian(uses_globals, np.ones(2)), np.diag([6.0, 18.0]))
    TABLE[1] = 5.0  # in place
    np.testing.assert_array_equal(symhess.hessian(uses_globals, np.ones(2)), np.diag([6.0, 30.0]))
    SCALE, TABLE[1] = 2.0, 3.0


def test_closure_arrays_mutated_in_place_are_seen():
    weights = np.array([1.0, 1.0])

    def f(x):
        return (weights * x**2).sum()

    for _ in range(3):
        symhess.hessian(f, np.ones(2))
    weights *= 5
    np.testing.assert_array_equal(symhess.hessian(f, np.ones(2)), np.diag([10.0, 10.0]))


def test_random_functions_are_not_frozen():
    def noisy(x):
        return (x**2).sum() * (1 + np.random.rand())

    results = [symhess.hessian(noisy, np.ones(2))[0, 0] for _ in range(5)]
    assert len(set(results[2:])) == 3


def test_objects_are_not_fingerprinted():
    class Model:
        W = np.eye(2)

        def loss(self, x):
            return (x @ self.W @ x).sum()

    model = Model()
    assert fingerprint(model.loss) is None
    np.testing.assert_array_equal(symhess.hessian(model.loss, np.ones(2)), 2 * np.eye(2))
    model.W = 3 * np.eye(2)
    np.testing.assert_array_equal(symhess.hessian(model.loss, np.ones(2)), 6 * np.eye(2))


def test_library_functions_are_constants():
    from scipy.optimize import rosen

    assert fingerprint(rosen)[0] == "library"
    assert fingerprint(lambda x: np.sin(x).sum()) is not None
