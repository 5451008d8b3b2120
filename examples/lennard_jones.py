"""A Lennard-Jones cluster: find a minimum, then its vibrational modes from the Hessian.

Teaches: a compiled gradient and Hessian plug straight into ``scipy.optimize.minimize``
(trust-ncg); at the minimum the Hessian's eigenvalues are the squared vibrational
frequencies. Six are zero (three translations and three rotations move the cluster
without changing its energy), the others are positive, and symmetry shows up as
degenerate modes (for four atoms, a regular tetrahedron: 1 + 2 + 3).

Run: python examples/lennard_jones.py
"""

import numpy as np
from scipy.optimize import minimize

import symhess

# global minima in reduced units (Cambridge Cluster Database; Wales and Doye, 1997)
KNOWN_MINIMUM = {3: -3.0, 4: -6.0, 5: -9.103852, 6: -12.712062, 7: -16.505384, 8: -19.821489}


def energy(coordinates):
    """Total Lennard-Jones energy 4 (r^-12 - r^-6) over all pairs, in reduced units."""
    x = coordinates.reshape(-1, 3)
    i, j = np.triu_indices(len(x), 1)
    r2 = ((x[i] - x[j]) ** 2).sum(axis=1)
    return (4 * (r2**-6 - r2**-3)).sum()


def random_cluster(atoms, rng, closest=0.9):
    """Random positions in a small box, no two atoms closer than ``closest``."""
    side = 1.2 * atoms ** (1 / 3)
    while True:
        x = rng.uniform(0, side, (atoms, 3))
        distances = np.linalg.norm(x[:, None] - x[None], axis=-1)[np.triu_indices(atoms, 1)]
        if distances.min() > closest:
            return x.reshape(-1)


def degeneracies(values, rtol=1e-6):
    """Group sorted eigenvalues that agree within ``rtol``: [(value, multiplicity), ...]."""
    groups = []
    for v in np.sort(values):
        if groups and abs(v - groups[-1][0]) <= rtol * abs(v):
            groups[-1][1] += 1
        else:
            groups.append([v, 1])
    return [tuple(group) for group in groups]


def lowest_minimum(f, atoms, starts, rng):
    """trust-ncg from several random clusters; the compiled f is reused, so each start costs milliseconds."""
    results = [minimize(f.value, random_cluster(atoms, rng), jac=f.gradient, hess=f.hessian,
                        method="trust-ncg", options={"gtol": 1e-10}) for _ in range(starts)]
    energies = np.array([r.fun for r in results])
    print(f"trust-ncg from {starts} random clusters reached the energies {np.unique(energies.round(6))}")
    return results[int(np.argmin(energies))]


def main(atoms=7, starts=10, seed=0):
    # simplify="none": the default expands the powers of r^2 in the derivatives, which makes them
    # no shorter and takes half a minute for 7 atoms
    f = symhess.compile(energy, np.zeros(3 * atoms), simplify="none")
    print(f"{atoms} atoms: {f!r}")
    result = lowest_minimum(f, atoms, starts, np.random.default_rng(seed))
    print(f"lowest energy {result.fun:.6f} (known global minimum {KNOWN_MINIMUM.get(atoms, 'not listed here')}), "
          f"|gradient| {np.linalg.norm(result.jac):.1e}")

    eigenvalues = np.linalg.eigvalsh(f.hessian(result.x))
    near_zero = np.abs(eigenvalues) < 1e-6 * eigenvalues.max()
    print(f"Hessian eigenvalues: {near_zero.sum()} near zero (largest |value| "
          f"{np.abs(eigenvalues[near_zero]).max():.1e}: translations and rotations)")
    print("vibrational modes, frequency = sqrt(eigenvalue) (unit masses):")
    for value, multiplicity in degeneracies(eigenvalues[~near_zero]):
        frequency = f"{np.sqrt(value):7.4f}" if value > 0 else "imaginary (a saddle point)"
        print(f"  eigenvalue {value:9.4f}  frequency {frequency}  x{multiplicity}")
    return {"energy": result.fun, "gradient": result.jac, "eigenvalues": eigenvalues, "near_zero": near_zero}


if __name__ == "__main__":
    main()
