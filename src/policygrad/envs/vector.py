"""The Gymnasium vector env: the engine with N = n, n matches as one batch of tensors.

Legend: N matches (``num_envs``), A actions, F features.

Not n copies of the single env: one :class:`~policygrad.engine.Engine` plays all n matches, so a
step is one batched call. Every match has the same length T, so all matches end on the same
step and restart together.

Autoreset (``gymnasium.vector.AutoresetMode``, default ``NEXT_STEP``, Gymnasium's default and the
mode of ``SyncVectorEnv``):

* ``NEXT_STEP``: step T returns the final observation with ``terminated`` all True; the next
  ``step`` ignores its actions, starts new matches and returns their first observation with
  reward 0 and ``terminated`` all False (info as from ``reset``).
* ``SAME_STEP``: step T returns the first observation of the new matches; the final observation is
  in ``info["final_obs"]`` (an object array of n rows) and the step's info in
  ``info["final_info"]``, as ``SyncVectorEnv`` does.
* ``DISABLED``: stepping after step T raises; call ``reset()``.

Seeding: ``reset(seed=s)`` seeds the one engine generator with the int ``s`` (a list of seeds,
one per match, cannot be honoured and raises); the matches then equal
``Engine(..., n=num_envs).reset(seed=s)``. ``reset()`` and autoresets keep the generator's state.
Info follows the vector convention: each key maps to an array of n values, with a ``_key`` mask.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from ..engine import Engine
from ..games import Game
from .single import engine_seed

__all__ = ["RockPaperScissorsVectorEnv", "vector_env"]


class RockPaperScissorsVectorEnv(VectorEnv):
    """``num_envs`` matches of a repeated zero-sum matrix game against an opponent, as one engine.

    Args:
        num_envs: N, matches played at once (>= 1).
        opponent, rounds, context, game, counts: as :class:`~policygrad.envs.RockPaperScissorsEnv`.
        autoreset_mode: a ``gymnasium.vector.AutoresetMode`` (or its value string).

    ``step(actions [N] int) -> (obs [N, F] float32, rewards [N] float64, terminated [N] bool,
    truncated [N] bool, info)`` with info keys ``opponent_move`` [N], ``opponent_probs`` [N, A]
    and ``round`` [N].
    """

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}  # per instance: the mode chosen

    def __init__(
        self,
        num_envs: int = 1,
        opponent="frequency",
        rounds: int = 100,
        context: int = 1,
        game: str | Game = "rps",
        counts: bool = False,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
    ) -> None:
        if not isinstance(num_envs, int) or isinstance(num_envs, bool) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        try:
            mode = AutoresetMode(autoreset_mode)
        except ValueError:
            allowed = ", ".join(m.value for m in AutoresetMode)
            raise ValueError(f"autoreset_mode must be one of {allowed}, got {autoreset_mode!r}") from None
        self.engine = Engine(opponent, n=num_envs, rounds=rounds, context=context, game=game, counts=counts)
        self.num_envs = num_envs
        self.autoreset_mode = mode
        self.metadata = {"render_modes": [], "autoreset_mode": mode}
        self.single_observation_space = spaces.Box(0.0, 1.0, (self.engine.obs_size,), np.float32)
        self.single_action_space = spaces.Discrete(self.engine.num_actions)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._seeded = False
        self._ended = False  # the last step ended the matches (NEXT_STEP resets on the next step)

    def _full(self, value, dtype) -> np.ndarray:
        return np.full(self.num_envs, value, dtype=dtype)

    def _with_masks(self, info: dict[str, np.ndarray]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in info.items():
            out[key] = value
            out["_" + key] = self._full(True, np.bool_)
        return out

    def _restart(self, seed: int | None) -> tuple[np.ndarray, dict[str, Any]]:
        obs_NF = self.engine.reset(seed=engine_seed(self, seed, self._seeded))
        self._seeded = True
        self._ended = False
        return obs_NF.numpy().copy(), self._with_masks({"round": self._full(0, np.int64)})

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None and not isinstance(seed, (int, np.integer)):
            raise ValueError(f"seed must be one int (one generator drives all {self.num_envs} matches) or None, got {seed!r}")
        mask = (options or {}).get("reset_mask")
        if mask is not None and not np.all(mask):
            raise ValueError(f"all matches last {self.engine.rounds} rounds and reset together; options['reset_mask'] must be all True, got {mask!r}")
        seed = None if seed is None else int(seed)
        super().reset(seed=seed)
        return self._restart(seed)

    def step(self, actions):
        n = self.num_envs
        if self._ended and self.autoreset_mode == AutoresetMode.NEXT_STEP:
            obs, info = self._restart(None)
            return obs, np.zeros(n), self._full(False, np.bool_), self._full(False, np.bool_), info
        moves_N = torch.tensor(np.asarray(actions))
        obs_NF, reward_N, done, step_info = self.engine.step(moves_N)
        obs = obs_NF.numpy().copy()
        info = self._with_masks(
            {
                "opponent_move": step_info["opponent_move"].numpy().copy(),
                "opponent_probs": step_info["opponent_probs"].numpy().copy(),
                "round": self._full(step_info["round"], np.int64),
            }
        )
        self._ended = done
        if done and self.autoreset_mode == AutoresetMode.SAME_STEP:
            final_obs = np.empty(n, dtype=object)
            for i in range(n):
                final_obs[i] = obs[i]
            obs, info_reset = self._restart(None)
            mask = self._full(True, np.bool_)
            info = {**info_reset, "final_obs": final_obs, "_final_obs": mask, "final_info": info, "_final_info": mask.copy()}
        rewards = reward_N.numpy().astype(np.float64)
        return obs, rewards, self._full(done, np.bool_), self._full(False, np.bool_), info


def vector_env(
    num_envs: int,
    opponent="frequency",
    rounds: int = 100,
    context: int = 1,
    game: str | Game = "rps",
    counts: bool = False,
    autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
) -> RockPaperScissorsVectorEnv:
    """``num_envs`` matches as one Gymnasium vector env driven by one engine (the
    ``vector_entry_point`` of ``policygrad/RockPaperScissors-v0``). See
    :class:`RockPaperScissorsVectorEnv`."""
    return RockPaperScissorsVectorEnv(num_envs, opponent=opponent, rounds=rounds, context=context, game=game, counts=counts, autoreset_mode=autoreset_mode)
