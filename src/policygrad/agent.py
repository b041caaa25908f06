"""A trained agent that plays one match move by move: ``Agent.load(CHECKPOINT)``.

It keeps its own history (the last k rounds, the move counts, the round) and builds each
observation with the same :mod:`policygrad.encoding` as training, so it plays exactly the policy
it was trained with. In a match longer than the training horizon T the round feature t / T is
capped at 1: from round T on the agent sees the observation of "the last round" of training.
"""

from __future__ import annotations

import torch

from . import encoding
from .engine import sample
from .games import make_game

__all__ = ["Agent"]


class Agent:
    """Plays one match at a time: ``reset(seed)``, then ``act(last_opponent_move) -> move`` each round.

    Args:
        policy: a policy of :mod:`policygrad.policies` (``step`` and ``initial_state``).
        game: the game it plays.
        context: k, the rounds of history its observation shows.
        counts: whether its observation holds the running move frequencies.
        rounds: T of training (the denominator of the round feature).
    """

    def __init__(self, policy, game="rps", context: int = 1, counts: bool = False, rounds: int = 100, name: str = "agent") -> None:
        self.policy = policy
        self.game = make_game(game)
        self.context, self.counts, self.rounds, self.name = context, counts, rounds, name
        self.last_probs: list[float] | None = None
        self.reset()

    @classmethod
    def load(cls, path: str, safety: float | None = None) -> "Agent":
        """The agent of a checkpoint written by ``policygrad train`` (or a baseline of ``policygrad compare``).

        ``safety``: play it through :class:`policygrad.safety.SafePolicy` with a budget of that many
        points (the expected score of any match is then at least ``-safety``); None plays it as trained.
        """
        from .checkpoint import load_checkpoint

        data = load_checkpoint(path)
        kind = data.get("kind")
        if kind == "policy":
            from .train import load_policy

            policy, cfg, _ = load_policy(path)
            name = f"pg:{cfg.policy}"
            if safety is not None:
                from .safety import SafePolicy

                policy, name = SafePolicy(policy, cfg.game, cfg.context, safety), f"{name}+safe({safety:g})"
            return cls(policy, cfg.game, cfg.context, cfg.counts, cfg.rounds, name=name)
        try:
            from .baselines import agent_from_checkpoint
        except ImportError:
            agent_from_checkpoint = None
        if agent_from_checkpoint is None:
            raise ValueError(f"{path} holds a '{kind}' agent, which this policygrad cannot load")
        if safety is not None:
            raise ValueError(f"safety applies to policy-gradient checkpoints; {path} holds a '{kind}' agent")
        return agent_from_checkpoint(data)

    def reset(self, seed: int | None = None) -> None:
        """Start a new match (``seed`` seeds the agent's own draws)."""
        self.generator = torch.Generator().manual_seed(0 if seed is None else int(seed))
        self.t = 0
        self.ctx = encoding.empty_context(1, self.context)
        self.move_counts = torch.zeros(1, 2, self.game.num_actions) if self.counts else None
        self.hidden = self.policy.initial_state(1)
        self.my_last: int | None = None

    def observation(self) -> torch.Tensor:
        """[1, F]: what the policy sees before this round."""
        return encoding.encode(self.ctx, self.game.num_actions, self.t / self.rounds, self.move_counts)

    @torch.no_grad()
    def act(self, last_opponent_move: int | None = None) -> int:
        """This round's move, given the opponent's move of the previous round (None in round 1)."""
        a_num = self.game.num_actions
        if self.my_last is not None:
            if last_opponent_move is None or not 0 <= int(last_opponent_move) < a_num:
                raise ValueError(f"last_opponent_move must be a move in 0..{a_num - 1} after round 1, got {last_opponent_move!r}")
            o = int(last_opponent_move)
            self.ctx = encoding.record_round(self.ctx, self.move_counts, torch.tensor([self.my_last]), torch.tensor([o]), a_num)
            self.t += 1
        obs = self.observation().to(next(self.policy.parameters()).dtype)
        logp, self.hidden = self.policy.step(obs, self.hidden)
        probs = logp.exp()
        self.last_probs = probs[0].tolist()
        move = int(sample(probs, self.generator)[0])
        self.my_last = move
        return move
