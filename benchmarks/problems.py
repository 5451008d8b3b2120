"""The benchmark problems, each written once against an ``ops`` namespace.

A formula ``formula(x, ops, *data)`` takes the flat vector ``x`` of the ``n``
differentiated variables and fixed data arrays; the same text runs on NumPy (what
symhess traces), PyTorch, JAX and CasADi SX, so every tool differentiates the same
function.  ``ops`` only names what differs between the libraries (reductions,
elementwise functions, matrix products, gathers, row-major reshapes); ``+ - * / **``,
slicing and ``.T`` are written as Python operators.  Nothing here imports PyTorch, JAX
or CasADi until its namespace is asked for.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

SEED = 20240611


# ----- the namespaces ----------------------------------------------------------------
def floats(convert):
    """Data conversion: float arrays become the backend's constants, index arrays stay NumPy."""
    return lambda a: convert(a) if np.asarray(a).dtype.kind == "f" else np.asarray(a)


def namespace(name, **functions) -> types.ModuleType:
    """A module, as ``numpy`` is: symhess's drop-in API keys a module by identity, not by content."""
    module = types.ModuleType(f"ops_{name}")
    module.__dict__.update(functions, name=name)
    return module


@functools.cache
def numpy_ops():
    return namespace("numpy", sum=np.sum, exp=np.exp, log=np.log, tanh=np.tanh,
                           matmul=np.matmul, take=lambda x, index: x[index],
                           reshape=lambda x, shape: x.reshape(shape), const=floats(np.asarray),
                           triu_indices=np.triu_indices)


@functools.cache
def torch_ops():
    import torch

    def take(x, index):
        return x[torch.as_tensor(index)]

    def triu_indices(n, k):
        return tuple(torch.as_tensor(a) for a in np.triu_indices(n, k))

    return namespace("torch", sum=torch.sum, exp=torch.exp, log=torch.log, tanh=torch.tanh,
                           matmul=torch.matmul, take=take, reshape=torch.reshape,
                           const=floats(lambda a: torch.as_tensor(a, dtype=torch.float64)),
                           triu_indices=triu_indices)


@functools.cache
def jax_ops():
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    return namespace("jax", sum=jnp.sum, exp=jnp.exp, log=jnp.log, tanh=jnp.tanh,
                           matmul=jnp.matmul, take=lambda x, index: x[index], reshape=jnp.reshape,
                           const=floats(jnp.asarray), triu_indices=np.triu_indices)


@functools.cache
def casadi_ops():
    """CasADi SX: column vectors, element-wise ``*``, ``mtimes`` for products, column-major reshape."""
    import casadi as ca

    def reshape(x, shape):
        rows, cols = shape
        return ca.reshape(x, cols, rows).T  # row-major, as NumPy

    return namespace("casadi", sum=lambda e: ca.sum1(ca.vec(e)), exp=ca.exp, log=ca.log,
                           tanh=ca.tanh, matmul=ca.mtimes, take=lambda x, index: x[[int(i) for i in index]],
                           reshape=reshape, const=floats(ca.DM))


OPS = {"numpy": numpy_ops, "torch": torch_ops, "jax": jax_ops, "casadi": casadi_ops}


# ----- the formulas ------------------------------------------------------------------
def sum_of_cubes(x, ops):
    return ops.sum(x ** 3)


def pow_adder_reducer(x, ops):
    """PyTorch's second ``hessian`` doc example, its two inputs ``x`` and ``y`` as ``x[:2]``, ``x[2:]``."""
    return ops.sum(2 * x[:2] ** 2 + 3 * x[2:] ** 2)


def rosenbrock(x, ops):
    return ops.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def logistic_nll(w, ops, X, y):
    z = ops.matmul(X, w)
    return ops.sum(ops.log(1 + ops.exp(z)) - y * z)


def lennard_jones(x, ops, first, second):
    """Energy of a cluster (reduced units); atom ``a`` is at ``x[3a:3a+3]``, pairs are ``first[k] < second[k]``."""
    dx, dy, dz = (ops.take(x, 3 * first + k) - ops.take(x, 3 * second + k) for k in range(3))
    inv6 = 1 / (dx ** 2 + dy ** 2 + dz ** 2) ** 3
    return ops.sum(4 * (inv6 ** 2 - inv6))


def lennard_jones_numpy(x, ops):
    """The same energy as a user writes it in plain NumPy: all differences by broadcasting, the
    upper triangle of the squared distances by ``triu_indices``, ``4 (r^-12 - r^-6)`` summed.
    (CasADi has no 3-d arrays: it computes the same function as :func:`lennard_jones`.)"""
    atoms = x.shape[0] // 3
    P = x.reshape(-1, 3)
    D = P[:, None] - P[None]
    r2 = (D ** 2).sum(-1)[ops.triu_indices(atoms, 1)]
    return ops.sum(4 * (r2 ** -6 - r2 ** -3))


def ax_fourth(x, ops, A):
    """``sum((A @ x)**4) + sum(x**2)`` with a constant dense ``A``."""
    return ops.sum(ops.matmul(A, x) ** 4) + ops.sum(x ** 2)


def mlp_loss(theta, ops, inputs, targets):
    """Mean squared error of a tanh network ``inputs -> hidden -> 1``.

    ``inputs`` carries a last column of ones, so the first layer's biases are the last
    column of ``W1`` (rows of ``theta[:hidden * columns]``); then ``w2`` and ``b2``.
    """
    columns = inputs.shape[1]
    hidden = (theta.shape[0] - 1) // (columns + 1)
    W1 = ops.reshape(theta[:hidden * columns], (hidden, columns))
    w2, b2 = theta[hidden * columns:hidden * columns + hidden], theta[hidden * (columns + 1)]
    out = ops.matmul(ops.tanh(ops.matmul(inputs, W1.T)), w2) + b2
    return ops.sum((out - targets) ** 2) / inputs.shape[0]


# ----- data and evaluation points ----------------------------------------------------
def no_data(size):
    return ()


def logistic_data(samples, features=10):
    rng = np.random.default_rng(SEED)
    X = rng.normal(size=(samples, features))
    probability = 1 / (1 + np.exp(-X @ rng.normal(size=features)))
    return X, (rng.random(samples) < probability).astype(float)


def wide_logistic_data(samples):
    return logistic_data(samples, WIDE_FEATURES)


def dense_matrix(n):
    """A dense normal n x n matrix scaled by 1 / sqrt(n) (entries of A @ x stay of order |x|)."""
    return (np.random.default_rng(SEED).normal(size=(n, n)) / np.sqrt(n),)


def atom_pairs(atoms):
    first, second = np.triu_indices(atoms, 1)
    return first.astype(np.int64), second.astype(np.int64)


def icosahedral_cluster(atoms):
    """A centre and up to 12 icosahedron vertices at distance 1.1: a near-minimum cluster."""
    phi = (1 + 5 ** 0.5) / 2
    vertices = [(0, s * 1, t * phi) for s in (1, -1) for t in (1, -1)]
    vertices = vertices + [(v[1], v[2], v[0]) for v in vertices] + [(v[2], v[0], v[1]) for v in vertices]
    shell = 1.1 * np.array(vertices) / np.linalg.norm(vertices[0])
    return np.vstack([np.zeros((1, 3)), shell])[:atoms].reshape(-1)


MLP_FEATURES, MLP_SAMPLES = 4, 16
MLP_FAMILIES = {"mlp": (4, 16), "mlp8": (8, 32), "mlp10": (10, 64)}
"""MLP families: name -> (input features, samples); the size in a key is the parameter count n."""
WIDE_FEATURES = 40


def mlp_data(n, features=MLP_FEATURES, samples=MLP_SAMPLES):
    """A fixed batch, its targets from a random 'teacher' network of the same shape plus noise."""
    rng = np.random.default_rng(SEED)
    inputs = np.hstack([rng.normal(size=(samples, features)), np.ones((samples, 1))])
    teacher = rng.normal(size=n)
    return inputs, mlp_loss_outputs(teacher, inputs) + 0.1 * rng.normal(size=samples)


def mlp_loss_outputs(theta, inputs):
    columns = inputs.shape[1]
    hidden = (theta.size - 1) // (columns + 1)
    W1 = theta[:hidden * columns].reshape(hidden, columns)
    return np.tanh(inputs @ W1.T) @ theta[hidden * columns:-1] + theta[-1]


# ----- the problems ------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """One problem instance: a formula, its size and how to make its data and a test point."""

    family: str
    size: int                                  # the family's own size (n, samples or atoms)
    n: int                                     # number of differentiated variables
    formula: Callable
    data: Callable[[int], tuple]               # size -> fixed data arrays
    point: Callable[[np.random.Generator, int], np.ndarray]
    label: str
    kernel: str | None = None                  # the family of handwritten.py's kernels, if not this one
    kernel_data: Callable[[int], tuple] | None = None  # their data, if not ``data``
    variants: tuple = ()                       # (backend, formula, data) where the formula cannot run as written
    data_as_inputs: bool = False               # symhess.compile(f, x, *data, wrt=0), not f reading them
    issue12: bool = False                      # an issue-12 problem: measured in new processes with timeouts

    @property
    def key(self) -> str:
        return f"{self.family}-{self.size}"

    @functools.cached_property
    def arrays(self) -> tuple:
        return self.data(self.size)

    @property
    def kernel_family(self) -> str:
        return self.kernel or self.family

    @functools.cached_property
    def kernel_arrays(self) -> tuple:
        return self.kernel_data(self.size) if self.kernel_data else self.arrays

    def _formula(self, backend: str):
        for name, formula, data in self.variants:
            if name == backend:
                return formula, data(self.size)
        return self.formula, self.arrays

    def function(self, backend: str = "numpy"):
        """``f(x)`` for one backend, its data converted once and captured (read from the closure)."""
        ops = OPS[backend]()
        formula, arrays = self._formula(backend)
        data = tuple(ops.const(a) for a in arrays)

        def f(x):
            return formula(x, ops, *data)

        f.__name__ = f.__qualname__ = self.family
        return f

    def function_of_data(self, backend: str = "numpy"):
        """``f(x, *data)``: the data as arguments (``symhess.compile(f, x, *problem.arrays, wrt=0)``)."""
        ops = OPS[backend]()
        formula = self._formula(backend)[0]

        def f(x, *data):
            return formula(x, ops, *data)

        f.__name__ = f.__qualname__ = self.family
        return f

    def sample(self, seed: int = 0) -> np.ndarray:
        return self.point(np.random.default_rng(seed), self.size)


def normal_point(scale):
    return lambda rng, size: scale * rng.normal(size=size)


def fcc_cluster(atoms):
    """The ``atoms`` sites of a face-centred cubic lattice (nearest neighbours at 2^(1/6), the pair
    potential's minimum) closest to a lattice site: for 38 atoms the truncated octahedron."""
    r = int(np.ceil(atoms ** (1 / 3))) + 1
    grid = np.array([(i, j, k) for i in range(-r, r + 1) for j in range(-r, r + 1) for k in range(-r, r + 1)
                     if (i + j + k) % 2 == 0], dtype=float)
    order = np.lexsort((grid[:, 2], grid[:, 1], grid[:, 0], np.round((grid ** 2).sum(1), 9)))
    return (grid[order[:atoms]] * 2 ** (1 / 6) / np.sqrt(2)).reshape(-1)


def cluster_point(rng, atoms):
    centre = icosahedral_cluster(atoms) if atoms <= 13 else fcc_cluster(atoms)
    return centre + 0.05 * rng.normal(size=3 * atoms)


def sum_of_cubes_problem(n):
    return Problem("sum_of_cubes", n, n, sum_of_cubes, no_data, normal_point(1.0), f"sum of cubes, n = {n}")


def rosenbrock_problem(n):
    return Problem("rosenbrock", n, n, rosenbrock, no_data, lambda rng, size: rng.uniform(-1.5, 1.5, size),
                   f"chained Rosenbrock, n = {n}")


def logistic_problem(samples):
    return Problem("logistic", samples, 10, logistic_nll, logistic_data, lambda rng, size: rng.normal(0, 0.5, 10),
                   f"logistic NLL, w in R^10, {samples} samples")


def lennard_jones_problem(atoms):
    return Problem("lennard_jones", atoms, 3 * atoms, lennard_jones, atom_pairs, cluster_point,
                   f"Lennard-Jones, N = {atoms} atoms (n = {3 * atoms})", issue12=atoms >= 38)


def lennard_jones_numpy_problem(atoms):
    return Problem("lennard_jones_numpy", atoms, 3 * atoms, lennard_jones_numpy, no_data, cluster_point,
                   f"Lennard-Jones, N = {atoms} atoms (n = {3 * atoms}) in plain NumPy: P[:, None] - P[None], "
                   "np.triu_indices", kernel="lennard_jones", kernel_data=atom_pairs,
                   variants=(("casadi", lennard_jones, atom_pairs),), issue12=True)


def wide_logistic_problem(samples, data_as_inputs=False):
    family, how = ("logistic_inputs", "X, y as inputs outside wrt") if data_as_inputs else \
        ("logistic_closure", "X, y read from the closure")
    return Problem(family, samples, WIDE_FEATURES, logistic_nll, wide_logistic_data,
                   lambda rng, size: rng.normal(0, 0.2, WIDE_FEATURES),
                   f"logistic NLL, {samples} x {WIDE_FEATURES} samples, {how}", kernel="logistic",
                   data_as_inputs=data_as_inputs, issue12=True)


def ax_fourth_problem(n):
    return Problem("ax4", n, n, ax_fourth, dense_matrix, normal_point(1.0),
                   f"sum((A @ x)**4) + sum(x**2), A a constant dense {n} x {n} matrix", issue12=True)


def mlp_problem(hidden, family="mlp"):
    features, samples = MLP_FAMILIES[family]
    n = hidden * (features + 2) + 1
    return Problem(family, n, n, mlp_loss, functools.partial(mlp_data, features=features, samples=samples),
                   lambda rng, size: rng.normal(0, 0.5, size),
                   f"MLP {features}-{hidden}-1 tanh, MSE on {samples} samples, n = {n} parameters",
                   kernel="mlp", issue12=family != "mlp")


def mlp_size(n, family="mlp"):
    features = MLP_FAMILIES[family][0]
    hidden, extra = divmod(n - 1, features + 2)
    if extra or hidden < 1:
        raise KeyError(f"{family}-{n}: an MLP {features}-h-1 has n = {features + 2} h + 1 parameters "
                       f"({features + 3}, {2 * features + 5}, ...)")
    return mlp_problem(hidden, family)


POW_ADDER = Problem("pow_adder_reducer", 4, 4, pow_adder_reducer, no_data, normal_point(1.0),
                    "PyTorch doc example 2 (pow_adder_reducer, 2 + 2)")


def problems(quick: bool = False) -> list[Problem]:
    """The suite's problem instances; ``quick`` keeps the small ones."""
    if quick:
        return [POW_ADDER, sum_of_cubes_problem(4), sum_of_cubes_problem(100), rosenbrock_problem(10),
                rosenbrock_problem(100), logistic_problem(20), lennard_jones_problem(5), mlp_problem(2)]
    return [POW_ADDER, *map(sum_of_cubes_problem, (4, 100, 1000)), *map(rosenbrock_problem, (10, 100, 1000, 10_000)),
            logistic_problem(200), lennard_jones_problem(5), lennard_jones_problem(13), mlp_problem(10)]


def issue12_problems() -> list[Problem]:
    """Issue 12's functions as people write them: data from the closure, broadcasting, dense products."""
    return [lennard_jones_numpy_problem(38), lennard_jones_problem(38), lennard_jones_numpy_problem(100),
            lennard_jones_problem(100), wide_logistic_problem(500), wide_logistic_problem(500, data_as_inputs=True),
            ax_fourth_problem(60), ax_fourth_problem(200), mlp_problem(10), mlp_size(241, "mlp8"),
            mlp_size(601, "mlp10")]


def by_key(key: str) -> Problem:
    """The problem instance named ``family-size`` (any size of a known family)."""
    family, _, size = key.rpartition("-")
    makers = {"sum_of_cubes": sum_of_cubes_problem, "rosenbrock": rosenbrock_problem,
              "logistic": logistic_problem, "lennard_jones": lennard_jones_problem,
              "lennard_jones_numpy": lennard_jones_numpy_problem, "logistic_closure": wide_logistic_problem,
              "logistic_inputs": functools.partial(wide_logistic_problem, data_as_inputs=True),
              "ax4": ax_fourth_problem, **{name: functools.partial(mlp_size, family=name) for name in MLP_FAMILIES}}
    if key == POW_ADDER.key:
        return POW_ADDER
    if family not in makers or not size.isdigit():
        raise KeyError(f"unknown problem {key!r}: use family-size with a family among "
                       f"{', '.join([*makers, POW_ADDER.family])}")
    return makers[family](int(size))


# ----- PyTorch's doc examples, exactly as written there -------------------------------
def pow_reducer(x):
    return x.pow(3).sum()


def pow_adder_reducer_pair(x, y):
    return (2 * x.pow(2) + 3 * y.pow(2)).sum()


def doc_examples():
    """``(name, func, inputs, v)`` of ``torch.autograd.functional.hessian``'s and ``hvp``'s docs (NumPy)."""
    rng = np.random.default_rng(SEED)
    return [("pow_reducer(x), x = rand(2, 2)", pow_reducer, rng.random((2, 2)), np.ones((2, 2))),
            ("pow_adder_reducer(x, y), (rand(2), rand(2))", pow_adder_reducer_pair,
             (rng.random(2), rng.random(2)), (np.ones(2), np.ones(2)))]
