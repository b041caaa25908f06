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
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from . import encoding
from .engine import Engine, inverse_cdf

__all__ = ["Batch", "ObsIndex", "rollout", "score"]


@dataclass(frozen=True, eq=False)
class ObsIndex:
    """``obs[n, t] == table[index[n, t]]``: the distinct observations of a batch and where each row's is.

    ``obs`` is the very tensor described (and ``version`` its in-place version counter), so a Batch
    whose ``obs`` was replaced or modified in place no longer matches and takes the plain path.
    """

    obs: torch.Tensor  # [N, T, F], the batch's own obs tensor
    version: int
    table: torch.Tensor  # [U, F]
    index: torch.Tensor  # [N, T] long in 0..U-1

    def matches(self, obs: torch.Tensor) -> bool:
        return obs is self.obs and obs._version == self.version


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
    if getattr(policy, "recurrent", True) or engine.counts:
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
    actions = torch.empty(n, t_max, dtype=torch.long)
    opp = torch.empty(n, t_max, dtype=torch.long)
    rewards = torch.empty(n, t_max, dtype=engine.dtype)
    contexts_CK = _distinct_contexts(policy, engine)
    if contexts_CK is None:  # plain path: pi at every row
        obs_NTF = torch.empty(n, t_max, f_num, dtype=dtype)
        logp_NTA = torch.empty(n, t_max, a_num, dtype=dtype)
        hidden = policy.initial_state(n)
    else:  # pi once per distinct observation: U = T * C rows, row t * C + context_index
        c_num = contexts_CK.shape[0]
        table_TCF = torch.empty(t_max, c_num, f_num, dtype=dtype)
        logp_TCA = torch.empty(t_max, c_num, a_num, dtype=dtype)
        index_NT = torch.empty(n, t_max, dtype=torch.long)
    for t in range(t_max):
        u_N1 = torch.rand(n, 1, generator=generator, dtype=dtype)  # as policies.sample_actions draws
        if contexts_CK is None:
            obs_NTF[:, t] = obs
            logp, hidden = policy.step(obs_NTF[:, t], hidden)
            logp_NTA[:, t] = logp
            a = inverse_cdf(logp.exp(), u_N1)
        else:
            table_TCF[t] = encoding.encode(contexts_CK, a_num, engine.t / engine.rounds)
            logp_TCA[t], _ = policy.step(table_TCF[t], None)
            ctx_N = encoding.context_index(engine.ctx, a_num)
            if t < 2 and not torch.equal(obs[:4096].to(dtype), table_TCF[t][ctx_N[:4096]]):
                raise RuntimeError("rollout: the engine's observation is not the encoding of its context")
            index_NT[:, t] = ctx_N + t * c_num
            # engine.inverse_cdf, one column at a time on [N] gathers: a = #{j < A-1 : cdf_j <= u * cdf_{A-1}}
            cdf_AC = logp_TCA[t].exp().cumsum(1).t().contiguous()
            threshold_N = u_N1.squeeze(1) * cdf_AC[-1].index_select(0, ctx_N)
            a = torch.zeros(n, dtype=torch.long)
            for j in range(a_num - 1):
                a += cdf_AC[j].index_select(0, ctx_N) <= threshold_N
        actions[:, t] = a
        obs, r, _, info = engine.step(a)
        rewards[:, t] = r
        opp[:, t] = info["opponent_move"]
    if contexts_CK is None:
        distinct = None
        logp_taken = logp_NTA.gather(2, actions.unsqueeze(2)).squeeze(2)
    else:
        flat_NT = index_NT.view(-1)
        obs_NTF = table_TCF.view(-1, f_num).index_select(0, flat_NT).view(n, t_max, f_num)
        logp_UA = logp_TCA.view(-1, a_num)
        logp_NTA = logp_UA.index_select(0, flat_NT).view(n, t_max, a_num)
        logp_taken = logp_UA.view(-1).index_select(0, (index_NT * a_num + actions).view(-1)).view(n, t_max)
        distinct = ObsIndex(obs_NTF, obs_NTF._version, table_TCF.view(-1, f_num), index_NT)
    return Batch(obs_NTF, actions, opp, rewards, torch.ones_like(rewards), logp_taken, logp_NTA, distinct)


def score(policy, batch: Batch) -> Batch:
    """The batch with ``logp`` and ``logp_all`` recomputed by ``policy`` with autograd, in one call.

    With the batch's distinct observations (see the module docstring) pi is differentiated at those
    U rows only and gathered: log pi(A_t | S_t) = table[index * A + A_t]."""
    d = batch.distinct
    if d is None or getattr(policy, "recurrent", True) or not d.matches(batch.obs):
        logp_all = policy.sequence(batch.obs)
        logp = logp_all.gather(2, batch.actions.unsqueeze(2)).squeeze(2)
        return replace(batch, logp=logp, logp_all=logp_all)
    n, t_max = batch.actions.shape
    logp_UA = policy.sequence(d.table.unsqueeze(0)).squeeze(0)
    a_num = logp_UA.shape[1]
    logp = logp_UA.reshape(-1).index_select(0, (d.index * a_num + batch.actions).view(-1)).view(n, t_max)
    logp_all = logp_UA.index_select(0, d.index.view(-1)).view(n, t_max, a_num)
    return replace(batch, logp=logp, logp_all=logp_all)
