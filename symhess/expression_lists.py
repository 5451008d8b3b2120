"""One compiler of expression lists: outputs ``y(x; p)`` of flat variables ``x`` and parameters ``p``.

The drop-in ``jacobian``, ``vjp`` and ``jvp`` evaluate a list's values and its sparse Jacobian;
``create_graph`` evaluates lists as torch autograd nodes (:mod:`symhess.autograd`) whose
backward is the list's symbolic :attr:`ExpressionList.vjp`.  Lists are cached by structure (the
exact text of the expressions, the names and order of the symbols) in a bounded cache, so a
repeated call differentiates, generates and compiles nothing.
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np
import symengine as se

from .cache import cache_dir
from .codegen import generate_jacobian
from .differentiate import jacobian as sparse_jacobian
from .expressions import exact_text
from .jit import load
from .lru import LRU

NO_DATA = np.zeros(0)


def structural_key(outputs, variables, parameters) -> str:
    """What the compiled code depends on: the expressions' exact text and the symbols' names."""
    text = "\n".join(["|".join(map(str, variables)), "|".join(map(str, parameters)),
                      *(exact_text(e) for e in outputs)])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


_LISTS: dict[str, ExpressionList] = LRU(256)


def expression_list(outputs, variables, parameters=()) -> ExpressionList:
    """The (cached) list of ``outputs`` over ``variables`` and ``parameters`` (SymEngine)."""
    outputs, variables, parameters = tuple(outputs), tuple(variables), tuple(parameters)
    key = structural_key(outputs, variables, parameters)
    found = _LISTS.get(key)
    if found is None:
        found = _LISTS[key] = ExpressionList(outputs, variables, parameters, key)
    return found


class ExpressionList:
    """Outputs of variables and parameters; each kernel is generated and compiled on first use."""

    def __init__(self, outputs: tuple, variables: tuple, parameters: tuple, key: str):
        self.outputs, self.variables, self.parameters, self.key = outputs, variables, parameters, key

    @functools.cached_property
    def entries(self) -> dict:
        """The sparse Jacobian ``{(row, column): d y_row / d x_column}``, rows then columns."""
        return sparse_jacobian(self.outputs, self.variables)

    @functools.cached_property
    def structure(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows and columns of :attr:`entries`, in the order :meth:`jacobian` gives their values."""
        pairs = np.array(list(self.entries), dtype=np.int64).reshape(-1, 2)
        return pairs[:, 0].copy(), pairs[:, 1].copy()

    @functools.cached_property
    def _values_kernel(self):
        return load(generate_jacobian(self.outputs, self.variables, self.parameters, {}), cache_dir())

    @functools.cached_property
    def _jacobian_kernel(self):
        return load(generate_jacobian(self.outputs, self.variables, self.parameters, self.entries), cache_dir())

    def values(self, x: np.ndarray, p: np.ndarray = NO_DATA) -> np.ndarray:
        """``y(x; p)`` (float64)."""
        y = np.empty(len(self.outputs))
        self._values_kernel.jacobian(_vector(x), _vector(p), y, NO_DATA)
        return y

    def jacobian(self, x: np.ndarray, p: np.ndarray = NO_DATA) -> tuple[np.ndarray, np.ndarray]:
        """``y(x; p)`` and the values of the Jacobian's :attr:`structure`."""
        y, values = np.empty(len(self.outputs)), np.empty(len(self.entries))
        self._jacobian_kernel.jacobian(_vector(x), _vector(p), y, values)
        return y, values

    def dense_jacobian(self, x: np.ndarray, p: np.ndarray = NO_DATA) -> tuple[np.ndarray, np.ndarray]:
        y, values = self.jacobian(x, p)
        dense = np.zeros((len(self.outputs), len(self.variables)))
        dense[self.structure] = values
        return y, dense

    def vjp(self, x: np.ndarray, w: np.ndarray, p: np.ndarray = NO_DATA) -> tuple[np.ndarray, np.ndarray]:
        """``y`` and ``w @ J`` from the sparse Jacobian."""
        y, values = self.jacobian(x, p)
        rows, cols = self.structure
        return y, np.bincount(cols, weights=values * w[rows], minlength=len(self.variables))

    def jvp(self, x: np.ndarray, t: np.ndarray, p: np.ndarray = NO_DATA) -> tuple[np.ndarray, np.ndarray]:
        """``y`` and ``J @ t`` from the sparse Jacobian."""
        y, values = self.jacobian(x, p)
        rows, cols = self.structure
        return y, np.bincount(rows, weights=values * t[cols], minlength=len(self.outputs))

    @functools.cached_property
    def cotangent(self) -> tuple:
        """Symbols ``w`` of :attr:`vjp_list`, one per output."""
        return tuple(se.Symbol(f"w{self.key[:8]}[{k}]") for k in range(len(self.outputs)))

    @functools.cached_property
    def tangent(self) -> tuple:
        """Symbols ``t`` of :attr:`jvp_list`, one per variable."""
        return tuple(se.Symbol(f"t{self.key[:8]}[{k}]") for k in range(len(self.variables)))

    @functools.cached_property
    def vjp_list(self) -> ExpressionList:
        """``sum_k w_k dy_k/dx_j`` over the variables ``(x, w)``: the backward of an autograd node."""
        parts = [[] for _ in self.variables]
        for (k, j), derivative in self.entries.items():
            parts[j].append(self.cotangent[k] * derivative)
        return expression_list(_sums(parts), self.variables + self.cotangent, self.parameters)

    @functools.cached_property
    def jvp_list(self) -> ExpressionList:
        """``sum_j dy_k/dx_j t_j`` over the variables ``(x, t)``."""
        parts = [[] for _ in self.outputs]
        for (k, j), derivative in self.entries.items():
            parts[k].append(derivative * self.tangent[j])
        return expression_list(_sums(parts), self.variables + self.tangent, self.parameters)

    def followed_by(self, other: ExpressionList) -> ExpressionList:
        """This list's outputs, then ``other``'s, over ``other``'s variables (which extend these)."""
        return expression_list(self.outputs + other.outputs, other.variables, other.parameters)


def _sums(parts) -> list:
    return [se.Add(*p) if p else se.Integer(0) for p in parts]


def _vector(values) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.float64).reshape(-1)


def offsets(shapes) -> list[int]:
    """Where each flattened block of these shapes starts, and the total at the end."""
    ends = [0]
    for shape in shapes:
        ends.append(ends[-1] + int(np.prod(tuple(shape), dtype=np.int64)))
    return ends


def split_vector(vector, shapes) -> tuple:
    """A flat (NumPy or torch) vector as blocks of these shapes."""
    at = offsets(shapes)
    return tuple(vector[at[i]:at[i + 1]].reshape(tuple(shape)) for i, shape in enumerate(shapes))


def split_blocks(matrix, row_shapes, column_shapes) -> tuple:
    """Blocks ``M[i][j]`` of shape ``row_shapes[i] + column_shapes[j]`` of a flat (NumPy or torch)
    matrix: the nesting of PyTorch's ``jacobian`` and ``hessian``."""
    rows, columns = offsets(row_shapes), offsets(column_shapes)
    return tuple(
        tuple(matrix[rows[i]:rows[i + 1], columns[j]:columns[j + 1]].reshape(tuple(r) + tuple(c))
              for j, c in enumerate(column_shapes))
        for i, r in enumerate(row_shapes))
