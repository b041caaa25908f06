"""Figures: gradient error against samples, learning curves, policies on the simplex. PNG files only."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .config import TrainConfig, load_toml  # noqa: E402
from .files import atomic_write  # noqa: E402
from .stats import t975  # noqa: E402

__all__ = ["save_figure", "plot_gradcheck"]


def save_figure(fig, path: str) -> str:
    """Write ``fig`` to ``path`` atomically (:func:`policygrad.files.atomic_write`) and close it."""
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, bbox_inches="tight"), suffix=".png")
    finally:
        plt.close(fig)


def plot_gradcheck(report, path: str) -> str:
    """Relative error |g - grad V| / |grad V| against m (log-log), each estimator with its standard
    error bars, beside the 1/sqrt(m) slope of an unbiased Monte-Carlo estimate."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    estimators = list(dict.fromkeys(r.estimator for r in report.rows))
    for name in estimators:
        rows = [r for r in report.rows if r.estimator == name]
        ax.errorbar([r.samples for r in rows], [r.rel_error_mean for r in rows], yerr=[r.rel_error_se for r in rows], marker="o", capsize=3, label=name)
    first = [r for r in report.rows if r.estimator == estimators[0]]
    m0, e0 = first[0].samples, first[0].rel_error_mean
    ms = [r.samples for r in first]
    ax.plot(ms, [e0 * (m0 / m) ** 0.5 for m in ms], "k--", lw=1, label=r"$\propto 1/\sqrt{m}$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("sampled matches m")
    ax.set_ylabel(r"relative error $|g - \nabla V| / |\nabla V|$")
    ax.set_title(f"{report.policy} policy vs {report.opponent}, T={report.rounds}, k={report.context}")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    return save_figure(fig, path)


def read_metrics(run_dir: str) -> dict[str, list[float]]:
    """metrics.csv of a run as columns of floats (blank cells become NaN)."""
    import csv

    path = os.path.join(run_dir, "metrics.csv")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no metrics.csv in {run_dir}")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ValueError(f"{path} has no rows yet")
    return {k: [float(r[k]) if r[k] not in ("", None) else float("nan") for r in rows] for k in rows[0]}


def _batch(run_dir: str) -> int:
    """N, the matches of each iteration, from the run's config.toml (the default when it is absent)."""
    path = os.path.join(run_dir, "config.toml")
    return int(load_toml(path).get("batch", TrainConfig.batch)) if os.path.exists(path) else TrainConfig.batch


def plot_learning_curves(run_dirs: list[str], path: str) -> str:
    """Reward per round against agent-steps with its 95% band, several runs overlaid, and the exact
    optimum as a dashed line where it is known."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for run in run_dirs:
        m = read_metrics(run)
        x, y, se = m["agent_steps"], m["reward_per_round"], m["reward_se"]
        line = ax.plot(x, y, label=os.path.basename(os.path.normpath(run)))[0]
        t = t975(_batch(run) - 1)  # each row's standard error is over that iteration's N matches
        ax.fill_between(x, [a - t * s for a, s in zip(y, se)], [a + t * s for a, s in zip(y, se)], color=line.get_color(), alpha=0.2)
        opt = [v for v in m.get("optimum", []) if v == v]
        if opt:
            ax.axhline(opt[-1], color=line.get_color(), ls="--", lw=1, label=f"optimum {opt[-1]:.3f}")
    ax.set_xlabel("agent-steps")
    ax.set_ylabel("reward per round")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def _prob_columns(m: dict) -> list[str]:
    return [k for k in m if k.startswith("p_")]


def plot_action_probs(run_dir: str, path: str) -> str:
    """The policy's mean action probabilities over training."""
    m = read_metrics(run_dir)
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for k in _prob_columns(m):
        ax.plot(m["agent_steps"], m[k], label=k[2:])
    ax.set_xlabel("agent-steps")
    ax.set_ylabel("mean probability")
    ax.set_ylim(0, 1)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def simplex_xy(p) -> tuple[float, float]:
    """Barycentric (p0, p1, p2) -> a point of the equilateral triangle with corners 0 (left), 1 (right), 2 (top)."""
    return p[1] + 0.5 * p[2], (3**0.5 / 2) * p[2]


def draw_simplex(ax, labels=("rock", "paper", "scissors")) -> None:
    """The probability simplex of a 3-action game, with its corners named."""
    corners = [(0, 0), (1, 0), (0.5, 3**0.5 / 2), (0, 0)]
    ax.plot(*zip(*corners), color="k", lw=1)
    for (x, y), name in zip(corners[:3], labels):
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(0, -12 if y == 0 else 5), ha="center", fontsize=9)
    ax.set_aspect("equal")
    ax.axis("off")


def plot_simplex(run_dir: str, path: str) -> str:
    """The mean policy's path over training on the probability simplex (3-action games)."""
    m = read_metrics(run_dir)
    cols = _prob_columns(m)
    if len(cols) != 3:
        raise ValueError(f"the simplex plot needs a 3-action game, this run has {len(cols)} actions")
    pts = [simplex_xy(p) for p in zip(*(m[c] for c in cols))]
    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    draw_simplex(ax, tuple(c[2:] for c in cols))
    xs, ys = zip(*pts)
    ax.plot(xs, ys, "-", lw=1, color="tab:blue", alpha=0.7)
    ax.scatter(xs, ys, c=range(len(xs)), cmap="viridis", s=8, zorder=3)
    ax.plot(*simplex_xy((1 / 3, 1 / 3, 1 / 3)), "k+", ms=10)
    ax.set_title("mean policy over training (dark: early)")
    return save_figure(fig, path)


def plot_run(run_dirs: list[str], out_dir: str) -> list[str]:
    """All the figures of ``policygrad plot``: learning curve (all runs), and per run its action
    probabilities and (3 actions) its simplex path."""
    written = [plot_learning_curves(run_dirs, os.path.join(out_dir, "learning_curve.png"))]
    for run in run_dirs:
        name = os.path.basename(os.path.normpath(run))
        prefix = os.path.join(out_dir, name + "_" if len(run_dirs) > 1 else "")
        written.append(plot_action_probs(run, prefix + "action_probs.png"))
        if len(_prob_columns(read_metrics(run))) == 3:
            written.append(plot_simplex(run, prefix + "simplex.png"))
    return written
