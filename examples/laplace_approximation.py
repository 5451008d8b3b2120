"""Laplace approximation of a Bayesian Poisson regression, checked by importance sampling.

Teaches: the Hessian of the negative log-posterior at its mode is the inverse covariance
of the Gaussian that approximates the posterior (Laplace's method). symhess compiles the
negative log-posterior with the data as runtime parameters (``wrt=0``); the mode comes from
``scipy.optimize.minimize`` with the compiled gradient and Hessian; the reference is
self-normalised importance sampling with a Student-t proposal, which needs the density at
many points: one batched call ``f.value(B, X, y)`` with ``B`` of shape (samples, 2).

Model: counts y_i ~ Poisson(exp(b0 + b1 x_i)), prior b ~ N(0, 1) on each coefficient.

Run: python examples/laplace_approximation.py
"""

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp
from scipy.stats import multivariate_t

import symhess

PRIOR_SD = 1.0


def neg_log_posterior(b, X, y):
    """-log p(b | y) up to a constant: Poisson likelihood (log link) and Gaussian prior."""
    eta = X @ b
    return np.sum(np.exp(eta) - y * eta) + np.sum(b**2) / (2 * PRIOR_SD**2)


def laplace(f, X, y):
    """Mode, covariance (inverse Hessian at the mode) and log of the integral of exp(-f)."""
    result = minimize(f.value, np.zeros(X.shape[1]), args=(X, y), jac=f.gradient, hess=f.hessian,
                      method="trust-exact")
    H = f.hessian(result.x, X, y)
    log_integral = -result.fun + len(result.x) / 2 * np.log(2 * np.pi) - np.linalg.slogdet(H)[1] / 2
    return result.x, np.linalg.inv(H), log_integral


def importance_sampling(f, X, y, mode, covariance, samples, rng):
    """Posterior mean, covariance, log integral of exp(-f) and effective sample size."""
    proposal = multivariate_t(loc=mode, shape=1.5 * covariance, df=4, seed=rng)
    B = proposal.rvs(samples)
    log_weights = -f.value(B, X, y) - proposal.logpdf(B)  # f.value over all samples at once
    weights = np.exp(log_weights - log_weights.max())
    weights /= weights.sum()
    mean = weights @ B
    covariance = (B - mean).T @ (weights[:, None] * (B - mean))
    return mean, covariance, logsumexp(log_weights) - np.log(samples), 1 / np.sum(weights**2)


def main(observations=25, samples=20_000, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, observations)
    X = np.column_stack([np.ones(observations), x])
    y = rng.poisson(np.exp(0.5 + 1.0 * x)).astype(float)
    f = symhess.compile(neg_log_posterior, np.zeros(2), X, y, wrt=0)
    print(f"{observations} counts, true coefficients (0.5, 1.0), prior sd {PRIOR_SD}; {f!r}")

    mode, covariance, log_z_laplace = laplace(f, X, y)
    sd = np.sqrt(np.diag(covariance))
    mean_is, covariance_is, log_z_is, ess = importance_sampling(f, X, y, mode, covariance, samples, rng)
    sd_is = np.sqrt(np.diag(covariance_is))
    print(f"importance sampling: {samples} draws, effective sample size {ess:.0f}")
    print(f"{'':>6}{'Laplace mean':>14}{'IS mean':>10}{'Laplace sd':>12}{'IS sd':>9}")
    for k in range(2):
        print(f"{f'b{k}':>6}{mode[k]:14.4f}{mean_is[k]:10.4f}{sd[k]:12.4f}{sd_is[k]:9.4f}")
    print(f"posterior correlation: Laplace {covariance[0, 1] / (sd[0] * sd[1]):.3f}, "
          f"importance sampling {covariance_is[0, 1] / (sd_is[0] * sd_is[1]):.3f}")
    print(f"log normalising constant: Laplace {log_z_laplace:.4f}, importance sampling {log_z_is:.4f}")
    return {"mean": mode, "sd": sd, "mean_is": mean_is, "sd_is": sd_is, "ess": ess,
            "log_z": log_z_laplace, "log_z_is": log_z_is}


if __name__ == "__main__":
    main()
