"""What a function reads besides its arguments, and its data lifted out as runtime values.

A function reads closure cells, defaults, the globals its code names and, through them,
other Python functions (and ``functools.partial`` arguments).  :func:`reads` walks all of
it once, in a fixed order, and gives

* a hashable *key* that summarises it: numbers by value, library functions by identity,
  arrays of *data* by shape and dtype only, other arrays by their bytes (``None`` when
  something cannot be summarised: arbitrary objects, dicts, bound methods);
* the *data*: the arrays that become runtime values of the compiled code instead of
  numbers baked into the expressions (see :func:`is_data`), each with a readable name;
* with ``substitutes``, a copy of the function graph that reads the substitutes in place
  of the data (new cells, defaults and globals dicts: the user's objects are not touched,
  so another thread calling them meanwhile sees nothing).

The rule for data (documented in "What can be traced"): floating-point arrays (and, with
``lift="all"``, integer arrays) of more than :data:`SMALL` elements, except matrices that
are mostly zeros (a sparse operator's zeros are structure: they stay literal, so the
Hessian keeps its sparsity).  Numbers, small arrays and boolean masks stay literal.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import numbers
import types
from dataclasses import dataclass, field

import numpy as np

from ..lru import LRU

SMALL = 4
"""Arrays of at most this many elements stay literal (coefficients that simplify the maths)."""

LIFTS = ("all", "floats", "none")
"""What may become data, from most to least: every numeric array, floating arrays only, nothing."""

LIBRARIES = {"numpy", "torch", "scipy", "math", "builtins", "symhess", "sympy", "symengine"}
_CONSTANT_TYPES = (types.ModuleType, np.ufunc, type)  # builtin functions: see _stateless_routine
_ABSENT = object()
UNKNOWN = object()


@dataclass
class Reads:
    """The result of :func:`reads`."""

    key: tuple | None
    names: list[str] = field(default_factory=list)        # one per datum, unique
    data: list[np.ndarray] = field(default_factory=list)  # the data, float64, in walk order
    function: object = None                                # the rebuilt function (with substitutes)


def reads(func, lift: str = "none", substitutes=None, taken=(), copy: bool = True) -> Reads:
    """Walk what ``func`` reads (see the module docstring); ``substitutes(name, array)`` gives the
    value the rebuilt function reads in place of each datum; ``taken``: names data may not have.
    ``copy=False`` for a caller that copies the data at once (a copy costs microseconds per
    kilobyte, and the drop-in API concatenates them on every call)."""
    walk = _Walk(lift, substitutes, set(taken), copy)
    key, rebuilt = walk.root(func)
    return Reads(None if key is UNKNOWN else key, walk.names, walk.data, rebuilt)


def reads_again(func, lift: str = "none") -> Reads:
    """``reads(func, lift, copy=False)`` without the rebuilt function, for a function called again
    and again: a function of code walked before is checked by that walk's guard (see
    :class:`_GuardWriter`; 3 µs against 20 µs for a closure over two arrays), and walked only
    when something it reads has changed."""
    code = getattr(func, "__code__", None)
    known = _GUARDS.get((code, lift)) if code is not None else None
    if known is not None:
        guard, key, names = known
        data = guard(func)
        if data is not None:
            return Reads(key, list(names), [np.asarray(d, dtype=np.float64) for d in data])
    writer = _GuardWriter()
    walk = _Walk(lift, None, set(), copy=False, guard=writer)
    key, _ = walk.root(func)
    if key is UNKNOWN:
        return Reads(None, walk.names, walk.data)
    guard = writer.build() if code is not None else None
    if guard is not None:
        _GUARDS[(code, lift)] = (guard, key, tuple(walk.names))
    return Reads(key, walk.names, walk.data)


_GUARDS = LRU(1024)
"""(code object, lift) -> (guard, key, data names) of the last walk of a function of that code."""


def is_data(value, lift: str) -> bool:
    """Whether an array read by ``func`` becomes a runtime value (the rule in the module docstring)."""
    if lift == "none":
        return False
    array = _numeric(value)
    if array is None or array.size <= SMALL:
        return False
    kinds = "f" if lift == "floats" else "fiu"
    if array.dtype.kind not in kinds:
        return False
    return array.ndim < 2 or np.count_nonzero(array) * 2 > array.size


def _numeric(value):
    """A NumPy view of a NumPy array or CPU torch tensor, else None."""
    if isinstance(value, np.ndarray):
        return value if value.dtype != object else None
    if type(value).__module__.split(".")[0] == "torch" and hasattr(value, "detach"):
        if getattr(value, "device", None) is not None and value.device.type != "cpu":
            return None
        try:
            return value.detach().numpy()
        except (TypeError, RuntimeError):  # complex or quantised tensors: not data
            return None
    return None


def _library_object(value) -> bool:
    """A library's module, class or ufunc: the user's own modules and classes hold attributes that
    change (``Config.scale = 5.0``), so they are not constants."""
    name = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", None) or ""
    return name.split(".")[0] in LIBRARIES or isinstance(value, np.ufunc)


def _library_routine(value) -> bool:
    """A builtin or library routine (not a Python function: those are walked) bound to no state."""
    return not isinstance(value, types.FunctionType) and _stateless_routine(value) and (
        isinstance(value, types.BuiltinFunctionType) or is_library_function(value))


def _stateless_routine(value) -> bool:
    """A function, not an object that holds state: a torch.nn.Module, a method bound to one or to
    a random generator (``rng.normal``) are not constants, whatever library they come from."""
    if not inspect.isroutine(value) or isinstance(value, types.MethodType):
        return False
    owner = getattr(value, "__self__", None)
    return owner is None or isinstance(owner, (types.ModuleType, type))


def is_library_function(func) -> bool:
    """Functions of NumPy, SciPy, PyTorch...: assumed to depend only on their arguments."""
    module = getattr(func, "__module__", None) or ""
    return module.split(".")[0] in LIBRARIES


class _Walk:
    """One walk: keys, data found, and (with substitutes) rebuilt functions; with ``guard``, the
    checks of :class:`_GuardWriter` that let the next call skip it."""

    def __init__(self, lift: str, substitutes, taken: set, copy: bool = True, guard=None):
        self.lift, self.substitutes, self.taken = lift, substitutes, taken
        self.copy_data = np.array if copy else np.asarray
        self.guard = guard or _NO_GUARD
        self.names: list[str] = []
        self.data: list[np.ndarray] = []
        self.found: dict[int, tuple] = {}      # id(array) -> (key, substitute): one datum per array object
        self.data_index: dict[int, int] = {}   # id(array) -> its position in data
        self.read_at: dict[int, str] = {}      # id(array) -> the guard's name for its first read
        self.keep: list = []                   # arrays found, alive while ids are compared
        self.functions: dict[int, object] = {}  # id(func) -> its rebuilt copy (recursion ends there)
        self.visiting: set[int] = set()
        self.namespaces: dict[int, dict] = {}  # id(globals) -> the copy rebuilt functions share

    def root(self, func, at: str = "f"):
        if isinstance(func, functools.partial):
            return self.partial(func, at)
        if is_library_function(func):
            self.guard.require("{0} is {func}", at, func=func)
            return ("library", id(func)), func
        return self.function(func, at)

    def partial(self, func, at: str):
        guard = self.guard
        guard.require("type({0}) is partial and len({0}.args) == {n} and tuple({0}.keywords) == {names}",
                      at, n=len(func.args), names=tuple(func.keywords))
        inner_key, inner = self.root(func.func, guard.bind("{0}.func", at))
        parts = [inner_key]
        args = []
        for k, value in enumerate(func.args):
            key, new = self.value(value, f"args_{k}", guard.bind("{0}.args[{k}]", at, k=k))
            parts.append(key)
            args.append(new)
        keywords = {}
        for name, value in func.keywords.items():
            key, keywords[name] = self.value(value, name, guard.bind("{0}.keywords[{name}]", at, name=name))
            parts.append(UNKNOWN if key is UNKNOWN else (name, key))  # combine() must see it
        rebuilt = functools.partial(inner, *args, **keywords) if self.substitutes else func
        return self.combine(("partial", *parts)), rebuilt

    def function(self, func, at: str):
        guard = self.guard
        if not isinstance(func, types.FunctionType):
            return UNKNOWN, func
        guard.require("type({0}) is FunctionType and {0}.__code__ is {code}", at, code=func.__code__)
        if id(func) in self.visiting:
            return ("recursive", id(func.__code__)), self.functions.get(id(func), func)
        self.visiting.add(id(func))
        rebuilt = self.copy(func) if self.substitutes else func
        parts = [id(func.__code__)]
        defaults = []
        guard.require("len({0}.__defaults__ or ()) == {n}", at, n=len(func.__defaults__ or ()))
        for k, (name, value) in enumerate(zip(_default_names(func), func.__defaults__ or ())):
            key, new = self.value(value, name, guard.bind("{0}.__defaults__[{k}]", at, k=k), func.__code__)
            parts.append(key)
            defaults.append(new)
        kwdefaults = {}
        guard.require("tuple({0}.__kwdefaults__ or ()) == {names}", at, names=tuple(func.__kwdefaults__ or ()))
        for name, value in (func.__kwdefaults__ or {}).items():
            key, kwdefaults[name] = self.value(value, name, guard.bind("{0}.__kwdefaults__[{name}]", at, name=name),
                                               func.__code__)
            parts.append(key)
        for k, (name, cell, new_cell) in enumerate(zip(func.__code__.co_freevars, func.__closure__ or (),
                                                       rebuilt.__closure__ or ())):
            try:
                contents = cell.cell_contents
            except ValueError:  # an empty cell (a name assigned later)
                guard.give_up()
                parts.append("empty")
                continue
            key, new = self.value(contents, name, guard.bind("{0}.__closure__[{k}].cell_contents", at, k=k),
                                  func.__code__)
            parts.append(key)
            if self.substitutes:
                new_cell.cell_contents = new
        space = guard.bind("{0}.__globals__", at)
        for name in global_names(func.__code__):
            if name in func.__globals__:
                key, new = self.value(func.__globals__[name], name, guard.bind("{0}[{name}]", space, name=name),
                                      func.__code__)
                parts.append(UNKNOWN if key is UNKNOWN else (name, key))  # combine() must see it
                if self.substitutes and new is not func.__globals__[name]:
                    rebuilt.__globals__[name] = new
            else:
                guard.require("{name} not in {0}", space, name=name)
        if self.substitutes:
            rebuilt.__defaults__ = tuple(defaults) if func.__defaults__ is not None else None
            rebuilt.__kwdefaults__ = kwdefaults if func.__kwdefaults__ is not None else None
        self.visiting.discard(id(func))
        return self.combine(tuple(parts)), rebuilt

    def copy(self, func):
        """A new function object with fresh cells and the module's shared globals copy."""
        namespace = self.namespaces.get(id(func.__globals__))
        if namespace is None:
            namespace = self.namespaces[id(func.__globals__)] = dict(func.__globals__)
        cells = tuple(types.CellType() for _ in func.__closure__ or ())
        rebuilt = types.FunctionType(func.__code__, namespace, func.__name__, None, cells or None)
        rebuilt.__dict__.update(func.__dict__)
        rebuilt.__qualname__ = func.__qualname__
        self.functions[id(func)] = rebuilt
        return rebuilt

    def value(self, value, name: str, at: str = "", code=None):
        """``(key, value read by the rebuilt function)`` of one value named ``name`` (the guard's ``at``),
        read by ``code`` (whose attribute names a user's module or class is fingerprinted by)."""
        guard = self.guard
        if isinstance(value, (types.ModuleType, type)) and not _library_object(value):
            return self.namespace(value, at, code), value
        if value is None or isinstance(value, (bool, str, bytes, numbers.Number)):
            text = repr(value)  # exact, and tells -0.0 from 0.0 (which compare equal)
            guard.require("type({0}) is {kind} and repr({0}) == {text}", at, kind=type(value), text=text)
            return (type(value).__name__, text), value
        if isinstance(value, _CONSTANT_TYPES) or _library_routine(value):  # the user's own: namespace() above
            guard.require("{0} is {value}", at, value=value)
            return ("id", id(value)), value
        array = _numeric(value)
        if array is not None:
            return self.array(value, array, name, at)
        if isinstance(value, (tuple, list)):
            guard.require("type({0}) is {kind} and len({0}) == {n}", at, kind=type(value), n=len(value))
            pairs = [self.value(v, f"{name}_{k}", guard.bind("{0}[{k}]", at, k=k), code) for k, v in enumerate(value)]
            key = self.combine((type(value).__name__, tuple(k for k, _ in pairs)))
            if not self.substitutes or all(new is old for (_, new), old in zip(pairs, value)):
                return key, value
            news = [new for _, new in pairs]
            return key, (tuple(news) if isinstance(value, tuple) else news)
        if isinstance(value, functools.partial):
            return self.partial(value, at)
        if isinstance(value, types.FunctionType):
            if is_library_function(value):
                guard.require("{0} is {value}", at, value=value)
                return ("id", id(value)), value
            return self.function(value, at)
        guard.give_up()
        return UNKNOWN, value

    def namespace(self, value, at: str, code):
        """The key of a user's module or class: its identity and the attributes ``code`` may read
        (their arrays by their bytes: the rebuilt function reads them from the object itself)."""
        guard = self.guard
        if code is None:  # no code says which attributes are read (a partial's argument): walked at each call
            guard.give_up()
            return UNKNOWN
        guard.require("{0} is {value}", at, value=value)
        if id(value) in self.visiting:
            return ("recursive", id(value))
        parts, lift = [("namespace", id(value))], self.lift
        self.lift = "none"
        self.visiting.add(id(value))
        try:
            for attribute in global_names(code):
                member = getattr(value, attribute, _ABSENT)
                if member is _ABSENT:
                    guard.require("not hasattr({0}, {attribute})", at, attribute=attribute)
                    continue
                key, _ = self.value(member, attribute, guard.bind("getattr({0}, {attribute})", at, attribute=attribute),
                                    code)
                parts.append(UNKNOWN if key is UNKNOWN else (attribute, key))
        finally:
            self.lift = lift
            self.visiting.discard(id(value))
        return self.combine(tuple(parts))

    def array(self, value, array: np.ndarray, name: str, at: str = ""):
        known = self.found.get(id(value))
        if known is not None:  # read again: the key says which datum, so two arrays never share its key
            self.guard.require("{0} is {1}", at, self.read_at[id(value)])
            key, substitute = known
            return (("same", self.data_index[id(value)]) if key[0] == "data" else key), substitute
        self.read_at[id(value)] = at
        kind = "torch" if array is not value else "ndarray"
        view = self.guarded_view(value, array, at)
        if is_data(value, self.lift):
            self.guard.require("is_data({0}, {lift})", at, lift=self.lift)
            self.guard.read(at, view)
            self.data_index[id(value)] = len(self.data)
            name = self.unique(name)
            self.names.append(name)
            self.data.append(self.copy_data(array, dtype=np.float64))  # a copy: later writes do not reach it
            key = ("data", kind, array.shape, array.dtype.str)
            substitute = self.substitutes(name, array) if self.substitutes else value
        else:
            digest = _digest(array)
            self.guard.require("not is_data({0}, {lift}) and digest({1}) == {digest}", at, view,
                               lift=self.lift, digest=digest)
            self.guard.read(at, None)
            key, substitute = (kind, array.shape, array.dtype.str, digest), value
        self.found[id(value)] = key, substitute
        self.keep.append(value)
        return key, substitute

    def guarded_view(self, value, array: np.ndarray, at: str) -> str:
        """The guard's name for the NumPy view of ``value`` (a CPU torch tensor's, or itself),
        required to have ``array``'s type, shape and dtype."""
        guard = self.guard
        guard.require("type({0}) is {kind}", at, kind=type(value))
        view = at if array is value else guard.bind("numeric({0})", at)
        guard.require("{0} is not None and {0}.shape == {shape} and {0}.dtype == {dtype}", view,
                      shape=array.shape, dtype=array.dtype)
        return view

    def unique(self, name: str) -> str:
        base, k = name, 1
        while name in self.taken:
            k += 1
            name = f"{base}_{k}"
        self.taken.add(name)
        return name

    @staticmethod
    def combine(parts: tuple):
        return UNKNOWN if any(p is UNKNOWN for p in parts) else parts


def _digest(array: np.ndarray) -> bytes:
    """What a literal array's key holds of its values."""
    return hashlib.blake2b(np.ascontiguousarray(array).tobytes(), digest_size=16).digest()


class _GuardWriter:
    """The source of a *guard*: a function that checks, in a few microseconds, that another call's
    function reads what the walk saw (the same code objects, numbers, library objects and literal
    arrays; data of the same shapes and types) and gives the data it reads now, or None.

    While it holds, the walk would give the same key and data names; the drop-in API calls a
    function again and again (a new closure of the same code, new data of the same shapes).
    """

    def __init__(self):
        self.lines: list[str] = []
        self.constants: dict[str, object] = {}
        self.data: list[str] = []    # names of the data read, in walk order
        self.arrays: list[str] = []  # names of every array read once (distinct objects)
        self.broken = False

    def bind(self, template: str, *names: str, **constants) -> str:
        """A new name for the value of ``template`` (see :meth:`text`)."""
        name = f"t{len(self.lines)}"
        self.lines.append(f"{name} = {self.text(template, names, constants)}")
        return name

    def require(self, template: str, *names: str, **constants) -> None:
        """The guard gives None unless ``template`` holds."""
        self.lines.append(f"if not ({self.text(template, names, constants)}): return None")

    def text(self, template: str, names, constants) -> str:
        """``template`` with ``{0}, {1}...`` the guard's names and ``{key}`` its constants' names
        (written only when a guard is made: a walk without one pays no formatting)."""
        named = {}
        for key, value in constants.items():
            named[key] = f"k{len(self.constants)}"
            self.constants[named[key]] = value
        return template.format(*names, **named)

    def read(self, at: str, datum: str | None) -> None:
        """An array read at ``at``; ``datum``: the name of its values if it is data."""
        self.arrays.append(at)
        if datum is not None:
            self.data.append(datum)

    def give_up(self) -> None:
        self.broken = True

    def build(self):
        """The guard function, or None where the walk met what a guard does not check."""
        if self.broken:
            return None
        lines = list(self.lines)
        if len(self.arrays) > 1:  # arrays read apart must still be apart (one object is one datum)
            lines.append(f"if len({{id(a) for a in ({', '.join(self.arrays)},)}}) != {len(self.arrays)}: return None")
        lines.append(f"return [{', '.join(self.data)}]")
        source = "def guard(f):\n    try:\n" + "".join(f"        {line}\n" for line in lines) + \
            "    except (AttributeError, IndexError, KeyError, TypeError, ValueError):\n        return None\n"
        namespace = {**self.constants, "FunctionType": types.FunctionType, "ndarray": np.ndarray,
                     "partial": functools.partial, "is_data": is_data, "digest": _digest, "numeric": _numeric}
        try:
            exec(compile(source, "<symhess guard>", "exec"), namespace)  # our own checks, written above
        except (RecursionError, SystemError):  # a guard too deep to compile: walk each time instead
            return None
        return namespace["guard"]


class _NoGuard:
    """What a walk without a guard calls."""

    def bind(self, template: str, *names: str, **constants) -> str:
        return ""

    def require(self, template: str, *names: str, **constants) -> None:
        pass

    def read(self, at: str, datum: str | None) -> None:
        pass

    def give_up(self) -> None:
        pass


_NO_GUARD = _NoGuard()


def _default_names(func) -> list[str]:
    code = func.__code__
    count = len(func.__defaults__ or ())
    positional = code.co_varnames[:code.co_argcount]
    return list(positional[len(positional) - count:])


@functools.lru_cache(maxsize=4096)
def global_names(code) -> tuple:
    """Names the code (and its nested functions) may read from globals, sorted."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= set(global_names(const))
    return tuple(sorted(names))
