"""A policy plays an opponent in the engine: N matches of T rounds -> a Batch.

Legend: N matches, T rounds, A actions, F features, C contexts, U = T * C distinct observations.

Play runs without autograd (sampling only); :func:`score` then recomputes every log-probability
in one batched call with autograd, which is what the estimators differentiate.

Distinct observations (the fast path). Without count features the observation of round t is a
function of the context of the last K rounds and of t alone, so N * T observations take at most
U = T * C distinct values, C = (A^2 + 1)^K. For a feed-forward policy (pi depends on the
observation only) :func:`rollout` then evaluates pi once per distinct observation and indexes the
result, and :func:`score` differentiates pi at the U distinct observations and gathers: the same
numbers, with the policy's cost independent of N. A recurrent policy, count features, or C >= N
take the plain path (pi at every row). See ``benchmarks/gradient.py``.

Layout: the [N, T, ...] fields of a :class:`Batch` are stored round-major (a [T, N, ...] tensor
seen through ``transpose``), so that each round of play writes one contiguous row. They have the
documented shapes and values but are not contiguous: use ``reshape``, not ``view``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from . import encoding
from .engine import Engine
from .tensors import inverse_cdf

__all__ = ["Batch", "ObsIndex", "rollout", "score"]


@dataclass(frozen=True, eq=False)
class ObsIndex:
    """``obs[n, t] == table[index[n, t]]``: the distinct observations of a batch and where each row's is.

    ``obs`` is the very tensor described (and ``obs_version`` its in-place version counter), so a
    Batch whose ``obs`` was replaced or modified in place no longer matches and takes the plain path.
    ``taken = index * A + actions`` is kept for the same ``actions`` tensor, checked the same way.
    """

    obs: torch.Tensor  # [N, T, F], the batch's own obs tensor
    obs_version: int
    table: torch.Tensor  # [U, F]
    index: torch.Tensor  # [N, T] long in 0..U-1
    actions: torch.Tensor  # [N, T] long, the batch's own actions tensor
    actions_version: int
    taken: torch.Tensor  # [N, T] long in 0..U*A-1: index * A + actions

    def matches(self, obs: torch.Tensor) -> bool:
        return obs is self.obs and obs._version == self.obs_version

    def taken_for(self, actions: torch.Tensor, num_actions: int) -> torch.Tensor:
        if actions is self.actions and actions._version == self.actions_version:
            return self.taken
        return self.index * num_actions + actions


@dataclass(frozen=True)
class Batch:
    """Sampled matches.

    ======================  ===========  ================================================
    field                   shape        meaning
    ======================  ===========  ================================================
    ``obs``                 [N, T, F]    what the policy saw before each round
    ``actions``             [N, T] long  the agent's moves A_t
    ``opponent_moves``      [N, T] long  the opponent's moves
    ``rewards``             [N, T]       R_{t+1}, the agent's reward for round t
    ``mask``                [N, T]       1 where the round was played (all of them: T is fixed)
    ``logp``                [N, T]       log pi(A_t | S_t), with autograd after :func:`score`
    ``logp_all``            [N, T, A]    log pi(. | S_t), with autograd after :func:`score`
    ``distinct``            -            an :class:`ObsIndex` (or None): the fast path of :func:`score`
    ======================  ===========  ================================================
    """

    obs: torch.Tensor
    actions: torch.Tensor
    opponent_moves: torch.Tensor
    rewards: torch.Tensor
    mask: torch.Tensor
    logp: torch.Tensor
    logp_all: torch.Tensor
    distinct: ObsIndex | None = field(default=None, repr=False, compare=False)

    @property
    def num_matches(self) -> int:
        return self.actions.shape[0]

    @property
    def rounds(self) -> int:
        return self.actions.shape[1]


def _all_contexts(num_actions: int, context: int) -> torch.Tensor:
    """[C, K] long: every context, row c being the one whose :func:`encoding.context_index` is c."""
    base = num_actions**2 + 1
    c = torch.arange(encoding.num_contexts(num_actions, context)).unsqueeze(1)
    return c // base ** torch.arange(context - 1, -1, -1) % base - 1


def _distinct_contexts(policy, engine: Engine) -> torch.Tensor | None:
    """The contexts to evaluate pi at once per round, or None where the plain path is needed."""
    if policy.recurrent or engine.counts:
        return None
    if encoding.num_contexts(engine.num_actions, engine.context) >= engine.n:
        return None
    return _all_contexts(engine.num_actions, engine.context)


@torch.no_grad()
def rollout(policy, engine: Engine, seed: int | None = None, generator: torch.Generator | None = None) -> Batch:
    """Play ``engine.n`` matches of ``policy`` against the engine's opponent (no autograd).

    Args:
        policy: a policy of :mod:`policygrad.policies` (``step`` and ``initial_state``).
        engine: the engine; it is reset with ``seed``.
        seed: seeds both the engine and, unless ``generator`` is given, the agent's draws.
        generator: the agent's generator.
    Returns:
        a :class:`Batch` whose ``logp`` fields carry no autograd graph (call :func:`score`).
    """
    if generator is None:
        generator = torch.Generator().manual_seed(0 if seed is None else int(seed) + 1)
    n, t_max, a_num = engine.n, engine.rounds, engine.num_actions
    dtype = next(policy.parameters()).dtype
    obs = engine.reset(seed)
    f_num = obs.shape[1]
    actions_TN = torch.empty(t_max, n, dtype=torch.long)  # round-major: one contiguous row per round
    opp_TN = torch.empty(t_max, n, dtype=torch.long)
    rewards_TN = torch.empty(t_max, n, dtype=engine.dtype)
    contexts_CK = _distinct_contexts(policy, engine)
    obs_TNF = torch.empty(t_max, n, f_num, dtype=dtype)
    if contexts_CK is None:  # plain path: pi at every row
        logp_TNA = torch.empty(t_max, n, a_num, dtype=dtype)
        hidden = policy.initial_state(n)
    else:  # pi once per distinct observation: U = T * C rows, row t * C + context_index
        c_num = contexts_CK.shape[0]
        table_TCF = torch.empty(t_max, c_num, f_num, dtype=dtype)
        logp_TCA = torch.empty(t_max, c_num, a_num, dtype=dtype)
        index_TN = torch.empty(t_max, n, dtype=torch.long)
        taken_TN = torch.empty(t_max, n, dtype=torch.long)  # index * A + A_t
    for t in range(t_max):
        u_N1 = torch.rand(n, 1, generator=generator, dtype=dtype)  # as policies.sample_actions draws
        obs_TNF[t] = obs
        if contexts_CK is None:
            logp, hidden = policy.step(obs_TNF[t], hidden)
            logp_TNA[t] = logp
            a = inverse_cdf(logp.exp(), u_N1)
        else:
            table_TCF[t] = encoding.encode(contexts_CK, a_num, engine.t / engine.rounds)
            logp_TCA[t], _ = policy.step(table_TCF[t], None)
            ctx_N = encoding.context_index(engine.ctx, a_num)
            if t < 2 and not torch.equal(obs_TNF[t, :4096], table_TCF[t][ctx_N[:4096]]):
                raise RuntimeError("rollout: the engine's observation is not the encoding of its context")
            torch.add(ctx_N, t * c_num, out=index_TN[t])
            # tensors.inverse_cdf, one column at a time on [N] gathers: a = #{j < A-1 : cdf_j <= u * cdf_{A-1}}
            cdf_AC = logp_TCA[t].exp().cumsum(1).t().contiguous()
            threshold_N = u_N1.squeeze(1) * cdf_AC[-1].index_select(0, ctx_N)
            a = torch.zeros(n, dtype=torch.long)
            for j in range(a_num - 1):
                a += cdf_AC[j].index_select(0, ctx_N) <= threshold_N
            torch.mul(index_TN[t], a_num, out=taken_TN[t]).add_(a)
        actions_TN[t] = a
        obs, r, _, info = engine.step(a)
        rewards_TN[t] = r
        opp_TN[t] = info["opponent_move"]
    actions = actions_TN.t()
    if contexts_CK is None:
        distinct = None
        logp_TN = logp_TNA.gather(2, actions_TN.unsqueeze(2)).squeeze(2)
    else:
        logp_UA = logp_TCA.view(-1, a_num)
        logp_TNA = logp_UA.index_select(0, index_TN.view(-1)).view(t_max, n, a_num)
        logp_TN = logp_UA.view(-1).index_select(0, taken_TN.view(-1)).view(t_max, n)
        obs_NTF = obs_TNF.transpose(0, 1)
        distinct = ObsIndex(obs_NTF, obs_NTF._version, table_TCF.view(-1, f_num), index_TN.t(), actions, actions._version, taken_TN.t())
    rewards = rewards_TN.t()
    return Batch(
        obs_TNF.transpose(0, 1) if distinct is None else distinct.obs,
        actions,
        opp_TN.t(),
        rewards,
        torch.ones_like(rewards),
        logp_TN.t(),
        logp_TNA.transpose(0, 1),
        distinct,
    )


def score(policy, batch: Batch) -> Batch:
    """The batch with ``logp`` and ``logp_all`` recomputed by ``policy`` with autograd, in one call.

    With the batch's distinct observations (see the module docstring) pi is differentiated at those
    U rows only and gathered: log pi(A_t | S_t) = table[index * A + A_t]."""
    d = batch.distinct
    if d is None or policy.recurrent or not d.matches(batch.obs):
        logp_all = policy.sequence(batch.obs)
        logp = logp_all.gather(2, batch.actions.unsqueeze(2)).squeeze(2)
        return replace(batch, logp=logp, logp_all=logp_all)
    logp_UA = policy.sequence(d.table.unsqueeze(0)).squeeze(0)
    a_num = logp_UA.shape[1]
    taken_NT = d.taken_for(batch.actions, a_num)
    # gather in the index's own (round-major) order, then view it as [N, T]
    taken_TN, index_TN = taken_NT.t(), d.index.t()
    logp = logp_UA.reshape(-1).index_select(0, taken_TN.reshape(-1)).view(taken_TN.shape).t()
    logp_all = logp_UA.index_select(0, index_TN.reshape(-1)).view(*index_TN.shape, a_num).transpose(0, 1)
    return replace(batch, logp=logp, logp_all=logp_all)
