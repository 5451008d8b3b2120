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


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", help="also run the checks marked slow")


def pytest_collection_modifyitems(config, items):
    """Slow checks run in CI (CI=true) or with --slow; a local default run stays quick."""
    if os.environ.get("CI") or config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="slow check: run with --slow (CI always runs it)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
