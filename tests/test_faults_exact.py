"""The exact methods' refusals: a typed StateSpaceTooLarge (round, count, limit), raised before any
state is built, caught by type where a caller falls back (exploitability's approximate method) or
re-words it (the best-response opponent, which refuses before a run folder is made)."""

from __future__ import annotations

import os
import pickle
import time

import pytest
import torch

from policygrad import encoding
from policygrad.config import TrainConfig
from policygrad.errors import StateSpaceTooLarge
from policygrad.best_response import MAX_STATES, best_response, check_state_space
from policygrad.exploitability import checkpoint_exploitability, exploitability, policy_exploitability
from policygrad.optimum import optimum
from policygrad.policies import GRUPolicy, MLPPolicy
from policygrad.train import train

torch.set_num_threads(1)

APPROX = dict(iterations=2, batch=8, matches=20)  # the fallback's budget: only its label is tested here


def mlp(context: int, counts: bool) -> MLPPolicy:
    torch.manual_seed(0)
    return MLPPolicy(encoding.feature_size(3, context, counts), 3, (64, 64))


def refusal(fn, *args, **kwargs) -> tuple[StateSpaceTooLarge, float]:
    t0 = time.perf_counter()
    with pytest.raises(StateSpaceTooLarge) as info:
        fn(*args, **kwargs)
    return info.value, time.perf_counter() - t0


def test_the_default_features_at_t100_are_refused_at_once_with_the_round_and_the_count():
    # the states after 7 rounds: 9^5 contexts x 36 pairs of count vectors of 2 rounds = 2,125,764
    e, seconds = refusal(best_response, mlp(5, True), "rps", 100, 5, True)
    assert seconds < 1.0  # counted, not built
    assert isinstance(e, ValueError) and (e.round, e.count, e.limit) == (7, 2_125_764, MAX_STATES)
    assert "the states after 7 rounds number 2,125,764, above max_states=2,000,000" in str(e)
    e, seconds = refusal(exploitability, mlp(5, True), "rps", 10**9, 5, True)  # any horizon: the same first round
    assert seconds < 1.0 and (e.round, e.count) == (7, 2_125_764)


def test_the_limit_is_the_largest_round():
    # K = 1 with counts: the states after u >= 1 rounds are 9 x C(u + 1, 2)^2, 2,025 after 5 rounds
    policy = mlp(1, True)
    assert best_response(policy, "rps", 6, 1, True, max_states=2025).states_per_round[-1] == 2025
    e, _ = refusal(best_response, policy, "rps", 6, 1, True, max_states=2024)
    assert (e.round, e.count, e.limit) == (5, 2025, 2024)
    e, _ = refusal(best_response, policy, "rps", 60, 1, True, max_states=2024)
    assert (e.round, e.count) == (5, 2025)


def test_a_horizon_whose_states_cannot_all_be_kept_is_refused_at_once():
    # no counts: every round holds the 9^5 contexts, but 10^9 rounds of them do not fit in memory
    e, seconds = refusal(best_response, mlp(5, False), "rps", 10**9, 5, False)
    assert seconds < 1.0 and e.count > e.limit and 5 <= e.round < 10**9 and "available memory" in e.limit_name
    assert "more than the available memory" in str(e)
    e, seconds = refusal(check_state_space, 10**12, 3, 0, False)
    assert seconds < 1.0 and e.count > e.limit


def test_bad_max_states():
    with pytest.raises(ValueError, match="max_states must be an integer >= 1, got 0"):
        best_response(mlp(1, False), "rps", 3, 1, False, max_states=0)


def test_the_error_pickles_with_its_attributes():
    e = pickle.loads(pickle.dumps(StateSpaceTooLarge("too many", 7, 2_125_764, 2_000_000, "max_states")))
    assert type(e) is StateSpaceTooLarge and (str(e), e.round, e.count, e.limit, e.limit_name) == ("too many", 7, 2_125_764, 2_000_000, "max_states")


def test_exploitability_falls_back_to_the_approximate_method_with_the_reason():
    result = policy_exploitability(mlp(1, True), "rps", 6, 1, True, max_states=2024, **APPROX)
    assert not result.exact and result.states == 0
    assert result.method.startswith("approximate") and result.method.endswith("exact refused: 2,025 states after 5 rounds, above 2,024 (max_states)")
    # a recurrent policy is approximate for another reason: no refusal in its label
    gru = GRUPolicy(encoding.feature_size(3, 1), 3, 8)
    assert "refused" not in policy_exploitability(gru, "rps", 4, 1, **APPROX).method
    # other bad values are not swallowed by the fallback
    with pytest.raises(ValueError, match="rounds must be an integer >= 1") as info:
        policy_exploitability(mlp(1, True), "rps", 0, 1, True, **APPROX)
    assert not isinstance(info.value, StateSpaceTooLarge)


def test_a_default_checkpoint_at_t100_falls_back_with_the_label(tmp_path):
    run = str(tmp_path / "run")
    train(TrainConfig(rounds=100, iterations=1, batch=8, tensorboard=False), run_dir=run)
    result = checkpoint_exploitability(run, **APPROX)
    assert not result.exact and "exact refused: 2,125,764 states after 7 rounds, above 2,000,000 (max_states)" in result.method


def test_training_against_best_response_refuses_before_the_run_folder(tmp_path):
    # the Trainer attaches the policy when it is built, and the opponent counts the states then
    run = str(tmp_path / "run")
    t0 = time.perf_counter()
    with pytest.raises(StateSpaceTooLarge, match="best-response cannot solve the agent's MDP exactly: .* after 7 rounds number 2,125,764") as info:
        train(TrainConfig(opponent="best-response", rounds=100, iterations=2, batch=8, tensorboard=False), run_dir=run)
    assert time.perf_counter() - t0 < 2.0 and (info.value.round, info.value.count) == (7, 2_125_764)
    assert not os.path.exists(run)


def test_optimum_raises_the_same_type():
    e, _ = refusal(optimum, "q-learner", 10, max_states=1000)
    assert (e.limit, e.limit_name) == (1000, "max_states") and e.count > 1000 and 1 <= e.round < 10
    assert f"distinct states {e.count:,}" in str(e)
