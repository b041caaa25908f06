"""The training population of the expert-mixture agent: the library's own opponent families with random parameters.

Never an outside bot (RoShamBo, Kaggle): those are the test. :mod:`policygrad.expert_train` draws a
fresh population each iteration (and a held-out one from another seed).
"""

from __future__ import annotations

import random

__all__ = ["random_spec", "random_population"]


def random_spec(rng: random.Random, slight: float = 0.0) -> str:
    """One opponent of the library's families with random parameters (never an outside bot).

    ``slight``: the share of the opponents that are i.i.d. with a slight bias, ``mixed`` with probabilities
    drawn from Dirichlet(20, 20, 20) (each 1/3 +- 0.06: a best static reply worth about 0.1 a round, a
    steady edge that shows only over hundreds of rounds). At 0 the draws are those of earlier
    releases, so a recipe without it draws the same populations."""
    if slight > 0 and rng.random() < slight:
        w = [rng.gammavariate(20.0, 1.0) for _ in range(3)]
        p = [round(x / sum(w), 3) for x in w[:2]]
        return "mixed:probs=" + ",".join(f"{x:.3f}" for x in (*p, round(1.0 - sum(p), 3)))
    family = rng.choice(
        ["constant", "mixed", "cycle", "mirror", "beat-last", "win-stay-lose-shift", "frequency", "markov", "pattern", "exploiter", "q-learner", "pg-learner"]
    )
    if family == "constant":
        return f"constant:move={rng.randrange(3)}"
    if family == "mixed":
        w = [rng.expovariate(1.0) ** 2 for _ in range(3)]  # often lopsided
        p = [round(x / sum(w), 3) for x in w[:2]]
        p.append(round(1.0 - sum(p), 3))
        return "mixed:probs=" + ",".join(f"{x:.3f}" for x in p)
    if family == "cycle":
        period = rng.randint(2, 3)
        return f"cycle:period={period},offset={rng.randrange(period)}"
    if family == "win-stay-lose-shift":
        return f"win-stay-lose-shift:tie={rng.choice(['shift', 'stay'])}"
    if family == "frequency":
        return f"frequency:decay={rng.uniform(0.7, 1.0):.3f}"
    if family == "markov":
        return f"markov:order={rng.randint(1, 3)},decay={rng.uniform(0.7, 1.0):.3f}"
    if family == "pattern":
        return f"pattern:max-period={rng.randint(2, 10)},repeats={rng.randint(2, 3)}"
    if family == "exploiter":
        return f"exploiter:context={rng.randint(0, 2)}"
    if family == "q-learner":
        return f"q-learner:context={rng.randint(0, 2)},epsilon={rng.uniform(0.0, 0.2):.3f},alpha={rng.uniform(0.1, 0.5):.3f},gamma={rng.uniform(0.0, 0.9):.3f}"
    if family == "pg-learner":
        return f"pg-learner:context={rng.randint(0, 2)},lr={rng.uniform(0.1, 2.0):.3f},baseline-rate={rng.uniform(0.05, 0.3):.3f}"
    return family  # mirror, beat-last: no parameters


def random_population(rng: random.Random, members: int, slight: float = 0.0) -> str:
    """A ``mix`` of ``members`` random opponents (:func:`random_spec`), equally weighted."""
    return "mix:of=[" + "|".join(random_spec(rng, slight) for _ in range(members)) + "]"
