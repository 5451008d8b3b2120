"""Constrained optimisation: HS071 with IPOPT and with SciPy's trust-constr, then an optimal control problem.

Teaches: ``symhess.compile_nlp`` turns an objective and a vector of constraints written in NumPy
into the callbacks interior-point solvers want: gradient, sparse constraint Jacobian and the sparse
Hessian of the Lagrangian σ∇²f + Σ λᵢ∇²gᵢ (lower triangle for IPOPT), each with its pattern.

HS071 (Hock and Schittkowski's problem 71, IPOPT's own first example):

    minimise   x0 x3 (x0 + x1 + x2) + x2
    subject to x0 x1 x2 x3 >= 25,  x0² + x1² + x2² + x3² = 40,  1 <= x <= 5,

whose optimum is x* = (1, 4.743, 3.821, 1.379).  Then the Van der Pol oscillator steered to rest
with least effort, discretised (explicit Euler) into n = 3N + 2 variables and 2N equality constraints.

Run: python examples/constrained_ipopt.py  (needs cyipopt: pip install "symhess[ipopt]")
"""

import numpy as np
from scipy.optimize import Bounds, minimize

import symhess


def hs071_objective(x):
    return x[0] * x[3] * (x[0] + x[1] + x[2]) + x[2]


def hs071_constraints(x):
    return np.array([x.prod(), (x**2).sum()])


def hs071(quiet=True):
    nlp = symhess.compile_nlp(hs071_objective, hs071_constraints, np.ones(4))
    print(nlp)
    x0 = np.array([1.0, 5.0, 5.0, 1.0])
    options = {"print_level": 0, "sb": "yes"} if quiet else {}
    ipopt = symhess.minimize_ipopt(nlp, x0, lb=1.0, ub=5.0, cl=[25.0, 40.0], cu=[np.inf, 40.0], options=options)
    print(f"IPOPT:        x* = {np.round(ipopt.x, 6)}, f = {ipopt.fun:.9f}, {ipopt.nit} iterations")
    scipy = minimize(nlp.objective, x0, jac=nlp.gradient, hess=nlp.objective_hessian, method="trust-constr",
                     bounds=Bounds(np.ones(4), np.full(4, 5.0)),
                     constraints=[nlp.nonlinear_constraint([25.0, 40.0], [np.inf, 40.0])],
                     options={"gtol": 1e-10, "xtol": 1e-12, "maxiter": 2000})
    print(f"trust-constr: x* = {np.round(scipy.x, 6)}, f = {scipy.fun:.9f}, {scipy.nit} iterations")
    return ipopt, scipy


def van_der_pol(N, T=10.0):
    """Objective, constraints, bounds and start of the discretised optimal control problem."""
    h = T / N

    def split(z):
        return z[:N + 1], z[N + 1:2 * N + 2], z[2 * N + 2:]

    def effort(z):
        x1, x2, u = split(z)
        return h * (x1[:-1] ** 2 + x2[:-1] ** 2 + u**2).sum()

    def dynamics(z):
        x1, x2, u = split(z)
        return np.concatenate([x1[1:] - x1[:-1] - h * ((1 - x2[:-1] ** 2) * x1[:-1] - x2[:-1] + u),
                               x2[1:] - x2[:-1] - h * x1[:-1]])

    lb = np.concatenate([np.full(2 * N + 2, -np.inf), np.full(N, -1.0)])
    ub = np.concatenate([np.full(2 * N + 2, np.inf), np.full(N, 1.0)])
    lb[0] = ub[0] = 0.0          # x1(0) = 0
    lb[N + 1] = ub[N + 1] = 1.0  # x2(0) = 1
    return effort, dynamics, lb, ub, np.zeros(3 * N + 2)


def optimal_control(N=1000):
    effort, dynamics, lb, ub, z0 = van_der_pol(N)
    nlp = symhess.compile_nlp(effort, dynamics, z0)
    print(nlp)
    result = symhess.minimize_ipopt(nlp, z0, lb, ub, options={"print_level": 0, "sb": "yes", "tol": 1e-10})
    print(f"Van der Pol, N = {N}: effort {result.fun:.8f} after {result.nit} IPOPT iterations ({result.message})")
    return nlp, result


def main(N=1000):
    return hs071(), optimal_control(N)


if __name__ == "__main__":
    main()
