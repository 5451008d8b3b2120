"""Shared test setup: one symhess cache directory for the whole session.

Every Numba compile costs time, so all tests share compiled kernels: the cache
lives in ``.pytest_cache/symhess`` (kept between local runs, fresh on CI) unless
``SYMHESS_CACHE_DIR`` is already set.
"""

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("SYMHESS_CACHE_DIR", str(ROOT / ".pytest_cache" / "symhess"))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
