"""Old import paths of moved names (issue 18's floor plan) still work for one release, with a
DeprecationWarning that names the new home, and give the very object of the new path."""

from __future__ import annotations

import subprocess
import sys

import pytest

import policygrad.agent
import policygrad.best_response
import policygrad.checkpoint
import policygrad.compare
import policygrad.plots
import policygrad.policies
import policygrad.qlearning
import policygrad.stats

MOVED = [
    ("policygrad.evaluate", "t975", policygrad.stats.t975),
    ("policygrad.exploitability", "BestResponse", policygrad.best_response.BestResponseTable),
    ("policygrad.tournament", "plot_tournament", policygrad.plots.plot_tournament),
    ("policygrad.selfplay", "plot_selfplay", policygrad.plots.plot_selfplay),
    ("policygrad.train", "load_policy", policygrad.checkpoint.load_policy),
]


@pytest.mark.parametrize("module, name, new", MOVED, ids=[f"{m}.{n}" for m, n, _ in MOVED])
def test_a_moved_name_warns_and_forwards(module, name, new):
    mod = __import__(module, fromlist=[name])
    with pytest.warns(DeprecationWarning, match=rf"{module}\.{name} moved to policygrad\.\w+\.{new.__name__}"):
        assert getattr(mod, name) is new
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        mod.nothing_here  # noqa: B018 - an unknown name is still an AttributeError


def test_the_tournament_still_exports_the_players_that_moved_to_agent():
    import policygrad.tournament as tournament

    for name in ("Player", "PLAYERS", "OpponentPlayer", "make_player", "split_names"):
        assert getattr(tournament, name) is getattr(policygrad.agent, name)


def test_the_baselines_module_warns_once_imported_and_re_exports_every_name():
    # a fresh interpreter: the warning is raised when the module is first imported
    code = (
        "import warnings; warnings.simplefilter('always')\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    import policygrad.baselines as b\n"
        "print(sum(issubclass(x.category, DeprecationWarning) and 'policygrad.baselines is deprecated' in str(x.message) for x in w))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"
    with pytest.warns(DeprecationWarning):  # whether or not this process imported it before, the names are the new ones
        import importlib

        baselines = importlib.reload(importlib.import_module("policygrad.baselines"))
    homes = {
        "BaselineConfig": policygrad.qlearning, "train_q_learning": policygrad.qlearning, "train_dqn": policygrad.qlearning,
        "QTablePolicy": policygrad.policies, "QNetPolicy": policygrad.policies, "ConstantPolicy": policygrad.policies,
        "argmax_policy": policygrad.policies, "save_baseline": policygrad.checkpoint, "policy_from_checkpoint": policygrad.checkpoint,
        "BASELINE_KINDS": policygrad.checkpoint, "CompareSettings": policygrad.compare, "compare": policygrad.compare,
        "AGENT_NAMES": policygrad.compare, "plot_compare": policygrad.plots, "interval": policygrad.stats,
    }  # fmt: skip
    assert set(homes) | {"agent_from_checkpoint"} == set(baselines.__all__)
    for name, home in homes.items():
        assert getattr(baselines, name) is getattr(home, name), name
