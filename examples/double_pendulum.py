"""Lagrangian mechanics of a double pendulum from Hessians.

Teaches: written in Cartesian velocities, the kinetic energy T(qdot, q) is quadratic in the
angular velocities qdot, and its Hessian with respect to them is the mass matrix M(q).
``symhess.compile(kinetic, qdot, q, mass, length, wrt=0)`` differentiates only in qdot (angles,
masses and lengths are runtime parameters), and SymPy's simplify recovers the textbook

    M = [[(m1 + m2) l1^2,           m2 l1 l2 cos(q1 - q2)],
         [m2 l1 l2 cos(q1 - q2),    m2 l2^2              ]].

The gradient and Hessian of the Lagrangian L = T - V with respect to (qdot, q) then give the
equations of motion of any such system, d/dt dL/dqdot = dL/dq, solved for the accelerations:

    qddot = M^-1 (dL/dq - d2L/dqdot dq @ qdot)

which SciPy integrates; the energy qdot . dL/dqdot - L stays constant.

Run: python examples/double_pendulum.py
"""

import numpy as np
import sympy as sp
from scipy.integrate import solve_ivp

import symhess

GRAVITY = 9.81


def kinetic(qdot, q, mass, length):
    """Kinetic energy of the two bobs at (l1 sin q1, -l1 cos q1) and l2 further on."""
    v1x, v1y = length[0] * qdot[0] * np.cos(q[0]), length[0] * qdot[0] * np.sin(q[0])
    v2x, v2y = v1x + length[1] * qdot[1] * np.cos(q[1]), v1y + length[1] * qdot[1] * np.sin(q[1])
    return (mass[0] * (v1x**2 + v1y**2) + mass[1] * (v2x**2 + v2y**2)) / 2


def lagrangian(qdot, q, mass, length):
    height1 = -length[0] * np.cos(q[0])
    height2 = height1 - length[1] * np.cos(q[1])
    return kinetic(qdot, q, mass, length) - GRAVITY * (mass[0] * height1 + mass[1] * height2)


def textbook_mass_matrix(q, mass, length, cos=np.cos):
    coupling = mass[1] * length[0] * length[1] * cos(q[0] - q[1])
    return [[(mass[0] + mass[1]) * length[0] ** 2, coupling], [coupling, mass[1] * length[1] ** 2]]


def check_mass_matrix(rng):
    """The Hessian of T in qdot against the textbook matrix: symbolically, then at random values."""
    T = symhess.compile(kinetic, np.zeros(2), np.zeros(2), np.ones(2), np.ones(2), wrt=0)
    _, q, mass, length = T.symbols
    M = T.hessian_expression
    print("mass matrix M(q) = Hessian of T with respect to qdot:")
    sp.pprint(M, num_columns=125)
    symbolic = sp.simplify(M - sp.Matrix(textbook_mass_matrix(q, mass, length, cos=sp.cos))).is_zero_matrix
    print("equals the textbook mass matrix symbolically:", symbolic)
    qdot, q = rng.normal(size=2), rng.uniform(-np.pi, np.pi, 2)
    mass, length = rng.uniform(0.5, 2, (2, 2))
    numeric = np.allclose(T.hessian(qdot, q, mass, length), textbook_mass_matrix(q, mass, length), rtol=1e-13, atol=0)
    print("and numerically at random angles, masses and lengths:", numeric)
    return symbolic, numeric


def equations_of_motion(L, mass, length):
    """d/dt (q, qdot) from the compiled gradient and Hessian of the Lagrangian."""

    def rates(t, state):
        q, qdot = state[:2], state[2:]
        (_, dL_dq), ((M, mixed), _) = L.gradient(qdot, q, mass, length), L.hessian(qdot, q, mass, length)
        return np.concatenate([qdot, np.linalg.solve(M, dL_dq - mixed @ qdot)])

    return rates


def energy(L, state, mass, length):
    """qdot . dL/dqdot - L, which is T + V."""
    q, qdot = state[:2], state[2:]
    return qdot @ L.gradient(qdot, q, mass, length)[0] - L.value(qdot, q, mass, length)


def main(duration=10.0, seed=0):
    symbolic, numeric = check_mass_matrix(np.random.default_rng(seed))
    mass, length = np.array([1.0, 2.0]), np.array([1.0, 0.5])
    L = symhess.compile(lagrangian, np.zeros(2), np.zeros(2), mass, length, wrt=(0, 1))
    start = np.array([2.0, -1.0, 0.0, 0.0])  # angles (rad), angular velocities (rad/s): chaotic motion
    solution = solve_ivp(equations_of_motion(L, mass, length), (0, duration), start, method="DOP853",
                         rtol=1e-11, atol=1e-11, dense_output=True)
    energies = np.array([energy(L, s, mass, length) for s in solution.sol(np.linspace(0, duration, 500)).T])
    drift = np.abs(energies - energies[0]).max() / abs(energies[0])
    print(f"\nintegrated {duration} s of motion from angles {start[:2]} ({solution.nfev} evaluations "
          f"of the compiled gradient and Hessian): final angles {solution.y[:2, -1].round(4)}")
    print(f"energy {energies[0]:.6f} J, largest relative drift {drift:.1e}")
    return {"symbolic": symbolic, "numeric": numeric, "energy_drift": drift, "solution": solution}


if __name__ == "__main__":
    main()
