"""Every figure of the library, as PNG files written atomically: gradient error against samples
(gradcheck), a run's learning curves, action probabilities and simplex path, the tournament's heat
map, self-play's simplex paths and exploitability curves, and the seed's claim (compare).

The figure functions take the results of the modules below (a run folder, a ``Tournament``, a list
of ``SelfPlayResult``, a ``compare`` report) and import none of them: figures sit on the top floor."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from .config import TrainConfig, load_toml  # noqa: E402
from .expert_train import EXPERT_KIND  # noqa: E402
from .files import atomic_write  # noqa: E402
from .games import make_game  # noqa: E402
from .stats import t975  # noqa: E402

__all__ = [
    "save_figure",
    "plot_gradcheck",
    "plot_run",
    "plot_learning_curves",
    "plot_action_probs",
    "plot_simplex",
    "plot_tournament",
    "plot_selfplay",
    "plot_compare",
    "plot_expert_curve",
]


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


def _trainer(run_dir: str) -> str:
    path = os.path.join(run_dir, "config.toml")
    return str(load_toml(path).get("trainer", "policy")) if os.path.exists(path) else "policy"


def plot_run(run_dirs: list[str], out_dir: str) -> list[str]:
    """All the figures of ``policygrad plot``: learning curve (all runs), and per run its action
    probabilities and (3 actions) its simplex path; for expert-mixture runs, each run's
    :func:`plot_expert_curve`."""
    experts = [run for run in run_dirs if _trainer(run) == EXPERT_KIND]
    if experts and len(experts) < len(run_dirs):
        raise ValueError(f"{experts[0]} is an expert-mixture run and {next(r for r in run_dirs if r not in experts)} is not; plot them apart")
    if experts:
        many = len(run_dirs) > 1
        names = [os.path.basename(os.path.normpath(run)) + "_" if many else "" for run in run_dirs]
        return [plot_expert_curve(os.path.join(run, "metrics.csv"), os.path.join(out_dir, name + "learning_curve.png")) for run, name in zip(run_dirs, names)]
    written = [plot_learning_curves(run_dirs, os.path.join(out_dir, "learning_curve.png"))]
    for run in run_dirs:
        name = os.path.basename(os.path.normpath(run))
        prefix = os.path.join(out_dir, name + "_" if len(run_dirs) > 1 else "")
        written.append(plot_action_probs(run, prefix + "action_probs.png"))
        if len(_prob_columns(read_metrics(run))) == 3:
            written.append(plot_simplex(run, prefix + "simplex.png"))
    return written


def plot_tournament(result, path: str) -> str:
    """A heat map of the mean reward per round of every (agent, opponent) pair of a
    :class:`policygrad.tournament.Tournament`, written atomically."""
    grid = np.full((len(result.agents), len(result.opponents)), np.nan)
    for p in result.pairs:
        if p["mean"] is not None:
            grid[result.agents.index(p["agent"]), result.opponents.index(p["opponent"])] = p["mean"]
    scale = float(make_game(result.game).payoff.abs().max())
    fig, ax = plt.subplots(figsize=(max(6.0, 0.32 * len(result.opponents) + 3), max(2.5, 0.45 * len(result.agents) + 2)))
    cmap = plt.get_cmap("RdBu").with_extremes(bad="0.75")  # grey: forfeited pairs
    im = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=-scale, vmax=scale, aspect="auto")
    ax.set_xticks(
        range(len(result.opponents)), [o.split("=", 1)[-1] if o.startswith(("roshambo:", "kaggle:")) else o for o in result.opponents], rotation=90, fontsize=8
    )
    ax.set_yticks(range(len(result.agents)), result.agents, fontsize=9)
    if len(result.opponents) <= 20 and grid.size <= 200:  # numbers in the cells while they fit
        for (i, j), v in np.ndenumerate(grid):
            dark = not np.isnan(v) and abs(v) > 0.6 * scale
            ax.text(j, i, "F" if np.isnan(v) else f"{v:+.2f}", ha="center", va="center", fontsize=7, color="white" if dark else "black")
    ax.set_title(f"mean reward per round of the agent ({result.rounds} rounds x {len(result.seeds)} seeds; grey/F: forfeit)")
    fig.colorbar(im, ax=ax, fraction=0.03, pad=0.02)
    return save_figure(fig, path)


def plot_selfplay(results: list, simplex_path: str, curve_path: str) -> list[str]:
    """Two figures of :func:`policygrad.selfplay.selfplay` results: player 0's policy path on the simplex, one panel per game (each method, and the
    average of plain gradient ascent; the Nash equilibrium marked), and exploitability against
    iterations (log scale) of every run and of the averages."""
    games = list(dict.fromkeys(r.config.game for r in results))
    colors = {"gradient": "tab:red", "entropy": "tab:orange", "mmd": "tab:blue"}
    fig, axes = plt.subplots(1, len(games), figsize=(5.2 * len(games), 5.0), squeeze=False)
    for ax, g in zip(axes[0], games):
        game = make_game(g)
        if game.num_actions != 3:
            raise ValueError(f"the simplex plot needs a 3-action game, {game.name} has {game.num_actions}")
        draw_simplex(ax, game.actions)
        nash = None
        for r in (r for r in results if r.config.game == g):
            pts = [simplex_xy(p) for p in r.policies[:, 0].tolist()]
            xs, ys = zip(*pts)
            ax.plot(xs, ys, "-", lw=0.8, color=colors[r.config.method], alpha=0.8, label=f"{r.config.method} (last {r.final:.1e})")
            ax.plot(xs[-1], ys[-1], "o", color=colors[r.config.method], ms=5)
            if r.config.method == "gradient":
                run = torch.cumsum(r.policies[:, 0], 0) / torch.arange(1, len(r.policies) + 1, dtype=torch.float64).unsqueeze(1)
                xs, ys = zip(*(simplex_xy(p) for p in run.tolist()))
                ax.plot(xs, ys, "--", lw=1.2, color="tab:green", label=f"gradient, average (last {r.final_average:.1e})")
            nash = r.nash
        ax.plot(*simplex_xy(nash.tolist()), "k*", ms=12, label="Nash equilibrium")
        ax.plot(*simplex_xy(results[0].policies[0, 0].tolist()), "ks", ms=5, label="start")
        ax.set_title(game.name, fontsize=10)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=2)
    fig.suptitle("player 0's policy in self-play")
    written = [save_figure(fig, simplex_path)]
    fig, axes = plt.subplots(1, len(games), figsize=(5.6 * len(games), 3.8), squeeze=False)
    for ax, g in zip(axes[0], games):
        for r in (r for r in results if r.config.game == g):
            its = range(len(r.exploitability))
            ax.plot(its, r.exploitability.clamp(min=1e-16).tolist(), color=colors[r.config.method], label=f"{r.config.method}, last iterate")
            if r.config.method == "gradient":
                ax.plot(its, r.average_exploitability.clamp(min=1e-16).tolist(), "--", color="tab:green", label="gradient, average policy")
        ax.axhline(0.01, color="k", ls=":", lw=1, label="0.01")
        ax.set_yscale("log")
        ax.set_xlabel("iteration")
        ax.set_ylabel("exploitability (reward per round)")
        ax.set_title(make_game(g).name, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    written.append(save_figure(fig, curve_path))
    return written


def plot_compare(report: dict, path: str) -> str:
    """Two panels of a :func:`policygrad.compare.compare` report: exact exploitability per agent and training opponent (bars with 95% intervals),
    and the reward per round of each trained agent against each evaluation opponent (a heat map)."""
    entries = report["entries"]
    agents = list(dict.fromkeys(e["agent"] for e in entries))
    opponents = list(dict.fromkeys(e["opponent"] for e in entries))
    evals = report["evaluation_opponents"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 0.3 * len(entries) + 3), gridspec_kw={"width_ratios": [1, 1.2], "wspace": 0.55})
    width = 0.8 / len(agents)
    for i, agent in enumerate(agents):
        xs, ys, es = [], [], []
        for j, opp in enumerate(opponents):
            e = next((e for e in entries if e["agent"] == agent and e["opponent"] == opp), None)
            if e:
                xs.append(j + (i - (len(agents) - 1) / 2) * width)
                ys.append(e["exploitability"])
                es.append(e["exploitability_ci95"])
        ax1.bar(xs, ys, width, yerr=es, capsize=2, label=agent)
    ax1.set_xticks(range(len(opponents)))
    ax1.set_xticklabels(opponents, rotation=20, fontsize=8)
    ax1.set_xlabel("trained against")
    ax1.set_ylabel("exact exploitability (reward per round)")
    ax1.set_ylim(0, 1.15)
    ax1.axhline(0, color="k", lw=0.8)
    ax1.legend(fontsize=8, ncol=len(agents), loc="upper center")
    ax1.grid(True, axis="y", alpha=0.3)
    grid = [[e["reward"][v]["mean"] for v in evals] for e in entries]
    im = ax2.imshow(grid, cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
    for r, row in enumerate(grid):
        for c, v in enumerate(row):
            ax2.text(c, r, f"{v:+.2f}", ha="center", va="center", fontsize=7)
    ax2.set_xticks(range(len(evals)))
    ax2.set_xticklabels(evals, rotation=20, fontsize=8)
    ax2.set_yticks(range(len(entries)))
    ax2.set_yticklabels([f"{e['agent']} @ {e['opponent']}" for e in entries], fontsize=8)
    ax2.set_xlabel("evaluated against")
    fig.colorbar(im, ax=ax2, label="agent's reward per round")
    fig.suptitle(f"T={report['settings']['rounds']}, k={report['settings']['context']}, seeds {report['settings']['seeds']}")
    return save_figure(fig, path)


def plot_expert_curve(metrics_csv: str, path: str, window: int = 10) -> str:
    """The expert-mixture agent's learning curve per iteration (``policygrad.expert_train``'s metrics):
    reward per round against the training population, the held-out slice and the past selves, and the
    mind reader's take with the uniform share in its matches; thin lines per iteration, thick the
    mean over the last ``window`` iterations."""
    import csv

    with open(metrics_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ValueError(f"{metrics_csv} has no rows")

    def column(name: str) -> np.ndarray:
        return np.array([float(r[name]) if r.get(name) not in ("", None) else np.nan for r in rows])

    def smooth(y: np.ndarray) -> np.ndarray:
        return np.array(
            [np.nanmean(y[max(0, i - window + 1) : i + 1]) if np.isfinite(y[max(0, i - window + 1) : i + 1]).any() else np.nan for i in range(len(y))]
        )

    it = column("iteration")
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for ax, names in ((left, [("reward_per_round", "training population"), ("heldout_reward", "held-out slice"), ("past_self", "past selves")]),
                      (right, [("mind_reader_take", "mind reader's take"), ("uniform_weight_reader", "uniform share, reader matches")])):  # fmt: skip
        for k, (name, label) in enumerate(names):
            y = column(name)
            ax.plot(it, y, color=f"C{k}", alpha=0.25, lw=0.8)
            ax.plot(it, smooth(y), color=f"C{k}", lw=2, label=label)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    left.set_ylabel("reward per round (agent)")
    right.set_ylabel("per round / share")
    right.axhline(0.05, color="grey", ls="--", lw=1)
    fig.suptitle("expert-meta: policy-gradient training (per iteration)")
    return save_figure(fig, path)
