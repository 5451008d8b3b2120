"""symhess: symbolic Hessians of ordinary numeric Python functions, compiled with Numba."""

from .api_trace import trace
from .compiled import Compiled, compile  # noqa: A004 - the public name is fixed by API.md
from .functional import hessian, hvp, jacobian, jvp, vhp, vjp
from .nlp import NLP, compile_nlp, minimize_ipopt
from .tracing import TraceError
from .travel import load
from .version import __version__

__all__ = ["NLP", "Compiled", "TraceError", "__version__", "compile", "compile_nlp", "hessian", "hvp", "jacobian", "jvp",
           "load", "minimize_ipopt", "trace", "vhp", "vjp"]
