"""The three figures of the performance page, drawn with matplotlib from ``run.py``'s results.

Each function returns its figure, or None when the results hold nothing to draw.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from report import BATCH_TOOLS, COMPILE_COLUMNS, RATIO_TOOLS, latency_ratios

TARGETS = {1000: 10.0, 10_000: 60.0}


def compile_plot(results: dict):
    """Compile (or first-call) seconds of chained Rosenbrock against n, per tool; timeouts as crosses."""
    rosenbrock = sorted(((p["n"], p["compile"]) for p in results["problems"].values()
                         if p["family"] == "rosenbrock" and "compile" in p), key=lambda item: item[0])
    if not rosenbrock:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, label in COMPILE_COLUMNS:
        points = [(n, found[name]) for n, found in rosenbrock if name in found]
        done = [(n, m["total"]) for n, m in points if m["status"] == "ok"]
        late = [(n, m["timeout"]) for n, m in points if m["status"] == "timeout"]
        line, = ax.plot(*zip(*done), marker="o", label=label) if done else ax.plot([], [], label=label)
        if late:
            ax.plot(*zip(*late), linestyle="none", marker="x", markersize=10, color=line.get_color())
    goals = {n: goal for n, goal in TARGETS.items() if any(n == size for size, _ in rosenbrock)}
    if goals:
        ax.plot(list(goals), list(goals.values()), linestyle="none", marker="_", markersize=20, color="black",
                label="target (symhess, empty cache)")
    ax.set(xscale="log", yscale="log", xlabel="n (variables)", ylabel="seconds (x: timeout)",
           title="Chained Rosenbrock: compile + first call, new process")
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    return fig


def grouped_bars(ax, groups: list[str], series: dict[str, dict[str, float]]) -> None:
    width = 0.8 / max(len(series), 1)
    for k, (label, values) in enumerate(series.items()):
        positions = np.arange(len(groups)) + (k - (len(series) - 1) / 2) * width
        heights = [values.get(g, np.nan) for g in groups]
        ax.bar(positions, heights, width, label=label)
    ax.set_xticks(np.arange(len(groups)), groups, rotation=45, ha="right", fontsize=7)
    ax.set_yscale("log")
    ax.grid(True, axis="y", which="both", alpha=0.3)


def latency_plot(results: dict):
    """symhess per-call time ÷ each tool's, Hessian and hvp, per problem (log scale, 1 = parity)."""
    found = {op: {f"÷ {tool}": latency_ratios(results, op, tool) for tool in RATIO_TOOLS} for op in ("hessian", "hvp")}
    found = {op: {label: values for label, values in series.items() if values} for op, series in found.items()}
    if not any(found.values()):
        return None
    fig, axes = plt.subplots(2, 1, figsize=(9, 8))
    for ax, (op, series) in zip(axes, found.items()):
        groups = [key for key in results["problems"] if any(key in values for values in series.values())]
        grouped_bars(ax, groups, series)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.axhline(1.2, color="black", linewidth=0.8, linestyle=":")
        ax.set(ylabel="symhess time ÷ tool time", title=f"{op} per call (below 1: symhess faster; dotted: 1.2)")
        if series:
            ax.legend(fontsize=7, ncol=3)
    return fig


def throughput_plot(results: dict):
    """Hessians per second on 10,000 points, per tool and problem."""
    batched = {key: p["batch"]["tools"] for key, p in results["problems"].items() if "batch" in p}
    tools = BATCH_TOOLS
    series = {tool: {key: found[tool]["per_second"] for key, found in batched.items()
                     if "per_second" in found.get(tool, {})} for tool in tools}
    series = {tool: values for tool, values in series.items() if values}
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.5))
    grouped_bars(ax, list(batched), series)
    ax.set(ylabel="Hessians per second", title="Batched Hessians at 10,000 points (higher is better)")
    ax.legend(fontsize=7)
    return fig


def save(figure, path) -> None:
    """Write the figure, or remove an older file of that name when there is nothing to draw."""
    if figure is None:
        path.unlink(missing_ok=True)
        return
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
