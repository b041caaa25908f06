"""Matches and their statistics: mean reward per round with a 95% interval, wins/ties/losses."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from . import encoding, stats
from .agent import Agent
from .expert_agent import ExpertAgent
from .expert_play import play
from .expert_train import load_expert
from .deprecated import moved
from .engine import Engine
from .games import make_game
from .limits import batch_bytes, check_seed, check_size
from .opponents import make_opponent
from .opponents.whitebox import WhiteBox, attach_policy
from .rollout import rollout
from .tensors import sample

__all__ = ["MatchStats", "match_stats", "play_opponents", "check_evaluation", "evaluate_policy", "evaluate_expert", "evaluate_checkpoint"]


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
    mean, se = stats.mean_se(per_round)
    return MatchStats(
        matches=m,
        rounds=rounds,
        mean=mean,
        ci95=stats.half_width(se, m - 1),
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
        f"evaluation ({matches:,} matches x {rounds:,} rounds)",
        batch_bytes(matches, rounds, encoding.feature_size(a_num, context, counts), a_num),
        hint="Use fewer matches (the 95% interval shrinks only like 1/sqrt(matches))",
    )


def evaluate_policy(policy, opponent, rounds: int, context: int, counts: bool, game="rps", matches: int = 1000, seed: int = 0) -> MatchStats:
    """Play ``matches`` matches of a policy against an opponent (batched) and summarise them."""
    if not isinstance(matches, int) or isinstance(matches, bool) or matches < 1:
        raise ValueError(f"matches must be an integer >= 1, got {matches!r}")
    check_seed("seed", seed)
    check_evaluation(matches, rounds, context, counts, game)
    opponent = make_opponent(opponent)
    attach_policy(opponent, policy, context, counts, rounds)  # a white-box opponent (best-response) reads the policy it meets
    engine = Engine(opponent, n=matches, rounds=rounds, context=context, game=game, counts=counts, seed=seed)
    batch = rollout(policy, engine, seed=seed)
    return match_stats(batch.rewards.sum(1), rounds)


EXPERT_CHUNK = 64  # expert-mixture matches played at once (each round's features of every expert are kept)


def evaluate_expert(path: str, opponent: str, matches: int = 1000, seed: int = 0) -> MatchStats:
    """An expert-mixture file or run (unguarded, as ``Agent.load`` plays it) against ``opponent`` over the
    horizon it was trained for: :func:`policygrad.expert_play.play`, ``EXPERT_CHUNK`` matches at a time."""
    if not isinstance(matches, int) or isinstance(matches, bool) or matches < 1:
        raise ValueError(f"matches must be an integer >= 1, got {matches!r}")
    check_seed("seed", seed)
    if isinstance(make_opponent(opponent), WhiteBox):
        raise ValueError(f"{opponent!r} is a white-box opponent; an expert-mixture agent meets the mind reader through policygrad exploitability {path}")
    policy, config = load_expert(path)
    totals = [
        play(
            policy,
            opponent,
            min(EXPERT_CHUNK, matches - start),
            config.rounds,
            seed + start,
            config.game,
            **config.features,
        ).rewards.sum(1)
        for start in range(0, matches, EXPERT_CHUNK)
    ]
    return match_stats(torch.cat(totals), config.rounds)


def evaluate_checkpoint(path: str, opponent, matches: int = 1000, seed: int = 0) -> MatchStats:
    """A checkpoint's policy (policy gradient or a baseline; an expert mixture: :func:`evaluate_expert`) against
    ``opponent`` over the horizon it was trained for."""
    agent = Agent.load(path)
    if isinstance(agent, ExpertAgent):
        return evaluate_expert(path, opponent, matches, seed)
    return evaluate_policy(agent.policy, opponent, agent.rounds, agent.context, agent.counts, agent.game, matches, seed)


__getattr__ = moved(__name__, {"t975": "policygrad.stats:t975"})
