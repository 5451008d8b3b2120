"""Per-call latency of the drop-in API against torch.autograd.functional, same process.

Run: python benchmarks/dropin_latency.py
Repeated calls with torch inputs (conversions included), after one warm-up call each.
"""

import timeit

import torch
from torch.autograd import functional as taf

import symhess


def pow_reducer(x):
    return x.pow(3).sum()


def pow_adder_reducer(x, y):
    return (2 * x.pow(2) + 3 * y.pow(2)).sum()


def rosenbrock(x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


PROBLEMS = {
    "doc example 1 (2x2)": (pow_reducer, torch.rand(2, 2)),
    "doc example 2 (2 + 2)": (pow_adder_reducer, (torch.rand(2), torch.rand(2))),
    "Rosenbrock n=10": (rosenbrock, torch.rand(10, dtype=torch.float64)),
}


def seconds_per_call(call, budget=1.0):
    call()
    number = max(1, int(budget / max(timeit.timeit(call, number=1), 1e-7)))
    return min(timeit.repeat(call, number=number, repeat=3)) / number


def main():
    print("| problem | function | torch.autograd.functional | symhess | ratio |")
    print("|---|---|---|---|---|")
    for name, (func, inputs) in PROBLEMS.items():
        for label, ours, theirs in (
            ("hessian", lambda f=func, x=inputs: symhess.hessian(f, x), lambda f=func, x=inputs: taf.hessian(f, x)),
            ("hvp", lambda f=func, x=inputs: symhess.hvp(f, x, x), lambda f=func, x=inputs: taf.hvp(f, x, x)),
        ):
            t_ours, t_theirs = seconds_per_call(ours), seconds_per_call(theirs)
            print(f"| {name} | {label} | {t_theirs * 1e6:.1f} us | {t_ours * 1e6:.1f} us | "
                  f"{t_theirs / t_ours:.1f}x |")


if __name__ == "__main__":
    main()
