"""The function that "How it works" follows through every stage of the pipeline."""

import numpy as np


def rosenbrock(x):
    """Chained Rosenbrock: a sum of ``100 (x[i+1] - x[i]²)² + (1 - x[i])²``."""
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
