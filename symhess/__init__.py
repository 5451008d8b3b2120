"""symhess: symbolic Hessians of ordinary numeric Python functions, compiled with Numba."""

__version__ = "0.1.0"

from .compiled import Compiled, compile  # noqa: E402
from .functional import hessian, hvp, jacobian, vhp  # noqa: E402
from .tracing import TraceError  # noqa: E402
from .api_trace import trace  # noqa: E402

__all__ = ["Compiled", "TraceError", "compile", "hessian", "hvp", "jacobian", "trace", "vhp",
           "__version__"]
