"""Figures: gradient error against samples, learning curves, policies on the simplex. PNG files only."""

from __future__ import annotations

import os
import tempfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["save_figure", "plot_gradcheck"]


def save_figure(fig, path: str) -> str:
    """Write ``fig`` to ``path`` atomically (temp file in the same folder, then rename) and close it."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=folder)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


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
