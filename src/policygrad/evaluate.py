"""Matches and their statistics: mean reward per round with a 95% interval, wins/ties/losses."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from .engine import Engine, sample
from .opponents import make_opponent

__all__ = ["MatchStats", "match_stats", "play_opponents"]


@dataclass(frozen=True)
class MatchStats:
    """Summary of M matches from the agent's side."""

    matches: int
    rounds: int
    mean: float  # reward per round, averaged over matches
    ci95: float  # half-width of the 95% interval of ``mean`` (normal approximation over matches)
    wins: int  # matches with a positive total
    ties: int
    losses: int

    def to_dict(self) -> dict:
        return asdict(self)


def match_stats(totals_M: torch.Tensor, rounds: int) -> MatchStats:
    """Statistics of per-match total rewards [M]."""
    per_round = totals_M.double() / rounds
    m = per_round.numel()
    se = float(per_round.std(unbiased=True)) / math.sqrt(m) if m > 1 else float("nan")
    return MatchStats(
        matches=m,
        rounds=rounds,
        mean=float(per_round.mean()),
        ci95=1.96 * se,
        wins=int((totals_M > 0).sum()),
        ties=int((totals_M == 0).sum()),
        losses=int((totals_M < 0).sum()),
    )


def play_opponents(agent_spec: str, opponent_spec: str, matches: int = 256, rounds: int = 100, game="rps", seed: int = 0) -> MatchStats:
    """Two opponents of the library against each other; the first one takes the agent's seat."""
    engine = Engine(opponent_spec, n=matches, rounds=rounds, context=0, game=game, seed=seed)
    engine.reset()
    agent = make_opponent(agent_spec)
    gen = torch.Generator().manual_seed(seed + 1)
    agent.reset(matches, engine.game, gen)
    totals = torch.zeros(matches)
    done = False
    while not done:
        a = sample(agent.probs(), gen)
        _, reward, done, info = engine.step(a)
        agent.update(a, info["opponent_move"])
        totals += reward
    return match_stats(totals, rounds)


def evaluate_policy(policy, opponent, rounds: int, context: int, counts: bool, game="rps", matches: int = 1000, seed: int = 0) -> MatchStats:
    """Play ``matches`` matches of a policy against an opponent (batched) and summarise them."""
    from .rollout import rollout

    if not isinstance(matches, int) or matches < 1:
        raise ValueError(f"matches must be an integer >= 1, got {matches!r}")
    opponent = make_opponent(opponent)
    if hasattr(opponent, "attach"):  # a white-box opponent (best-response) reads the policy it meets
        opponent.attach(policy, context, counts, rounds)
    engine = Engine(opponent, n=matches, rounds=rounds, context=context, game=game, counts=counts, seed=seed)
    batch = rollout(policy, engine, seed=seed)
    return match_stats(batch.rewards.sum(1), rounds)


def evaluate_checkpoint(path: str, opponent, matches: int = 1000, seed: int = 0) -> MatchStats:
    """A checkpoint's policy (policy gradient or a baseline) against ``opponent`` over the horizon it was trained for."""
    from .agent import Agent

    agent = Agent.load(path)
    return evaluate_policy(agent.policy, opponent, agent.rounds, agent.context, agent.counts, agent.game, matches, seed)
