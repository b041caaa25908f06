"""Matches and their statistics: mean reward per round with a 95% interval, wins/ties/losses."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from . import encoding
from .engine import Engine, sample
from .games import make_game
from .limits import batch_bytes, check_seed, check_size
from .opponents import make_opponent

__all__ = ["MatchStats", "match_stats", "play_opponents", "check_evaluation", "t975"]

# the 0.975 quantile of Student's t distribution by degrees of freedom (to 4 decimals); in the limit
# the normal quantile 1.959964
_T975 = {
    1: 12.7062, 2: 4.3027, 3: 3.1824, 4: 2.7764, 5: 2.5706, 6: 2.4469, 7: 2.3646, 8: 2.3060, 9: 2.2622, 10: 2.2281,
    11: 2.2010, 12: 2.1788, 13: 2.1604, 14: 2.1448, 15: 2.1314, 16: 2.1199, 17: 2.1098, 18: 2.1009, 19: 2.0930, 20: 2.0860,
    21: 2.0796, 22: 2.0739, 23: 2.0687, 24: 2.0639, 25: 2.0595, 26: 2.0555, 27: 2.0518, 28: 2.0484, 29: 2.0452, 30: 2.0423,
    40: 2.0211, 50: 2.0086, 60: 2.0003, 80: 1.9901, 100: 1.9840, 120: 1.9799, 200: 1.9719, 500: 1.9647, 1000: 1.9623,
}  # fmt: skip
_Z975 = 1.959964


def t975(df: float) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom: the factor of a 95% interval
    from a standard error estimated with ``df`` degrees of freedom (12.71 for 1, 4.30 for 2, 1.96 in
    the limit); NaN below 1. Between tabulated values it interpolates linearly in 1 / df (within
    1e-4 of the exact quantile)."""
    if not df >= 1:
        return float("nan")
    if df in _T975:
        return _T975[df]
    keys = sorted(_T975)
    hi = next((k for k in keys if k > df), math.inf)
    lo = max(k for k in keys if k < df)
    t_hi = _Z975 if hi == math.inf else _T975[hi]
    w = (1 / lo - 1 / df) / (1 / lo - (0.0 if hi == math.inf else 1 / hi))
    return _T975[lo] + (t_hi - _T975[lo]) * w


@dataclass(frozen=True)
class MatchStats:
    """Summary of M matches from the agent's side."""

    matches: int
    rounds: int
    mean: float  # reward per round, averaged over matches
    ci95: float  # half-width of the 95% interval of ``mean``: t975(matches - 1) * se (Student's t over matches)
    wins: int  # matches with a positive total
    ties: int
    losses: int
    se: float = float("nan")  # standard error of ``mean`` over matches (NaN for one match)

    def to_dict(self) -> dict:
        return asdict(self)


def match_stats(totals_M: torch.Tensor, rounds: int) -> MatchStats:
    """Statistics of per-match total rewards [M]: the mean per round, its standard error over the M
    matches and the 95% interval with Student's t quantile for M - 1 degrees of freedom (4.30 * se for
    3 matches, not the normal 1.96 * se, which would claim far too much from so few)."""
    per_round = totals_M.double() / rounds
    m = per_round.numel()
    se = float(per_round.std(unbiased=True)) / math.sqrt(m) if m > 1 else float("nan")
    return MatchStats(
        matches=m,
        rounds=rounds,
        mean=float(per_round.mean()),
        ci95=t975(m - 1) * se if m > 1 else float("nan"),
        wins=int((totals_M > 0).sum()),
        ties=int((totals_M == 0).sum()),
        losses=int((totals_M < 0).sum()),
        se=se,
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


def check_evaluation(matches: int, rounds: int, context: int, counts: bool, game="rps") -> None:
    """Refuse (:class:`~policygrad.limits.TooLargeError`) an evaluation whose batch of matches x
    rounds would not fit in the machine's memory, before anything is played."""
    a_num = make_game(game).num_actions
    check_size(
        f"evaluation ({matches:,} matches x {rounds:,} rounds)", batch_bytes(matches, rounds, encoding.feature_size(a_num, context, counts), a_num),
        hint="Use fewer matches (the 95% interval shrinks only like 1/sqrt(matches))",
    )


def evaluate_policy(policy, opponent, rounds: int, context: int, counts: bool, game="rps", matches: int = 1000, seed: int = 0) -> MatchStats:
    """Play ``matches`` matches of a policy against an opponent (batched) and summarise them."""
    from .rollout import rollout

    if not isinstance(matches, int) or isinstance(matches, bool) or matches < 1:
        raise ValueError(f"matches must be an integer >= 1, got {matches!r}")
    check_seed("seed", seed)
    check_evaluation(matches, rounds, context, counts, game)
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
