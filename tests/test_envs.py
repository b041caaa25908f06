"""The Gymnasium, Gymnasium-vector and PettingZoo faces of the engine (policygrad.envs).

Each env is checked by its library's own checker, and against the engine it wraps: same seed,
same moves -> the same observations, rewards and opponent moves as ``Engine`` itself.
"""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env, data_equivalence
from gymnasium.vector import AutoresetMode
from pettingzoo.test import parallel_api_test, parallel_seed_test

import policygrad  # noqa: F401  (registers the env)
from policygrad import encoding
from policygrad.engine import Engine
from policygrad.envs import (
    ENV_ID,
    External,
    RockPaperScissorsEnv,
    RockPaperScissorsParallelEnv,
    RockPaperScissorsVectorEnv,
    parallel_env,
    vector_env,
)
from policygrad.games import make_game
from policygrad.opponents import REGISTRY, make_opponent

# (kwargs) spanning opponents (deterministic, stochastic, learning, mixture), contexts, games, counts.
CONFIGS = [
    {},
    {"opponent": "markov:order=2", "context": 2, "rounds": 7},
    {"opponent": "constant:move=1", "context": 0, "game": "rpsls", "rounds": 5},
    {"opponent": "q-learner", "context": 3, "counts": True, "rounds": 6},
    {"opponent": "mix:of=[frequency|cycle]", "game": "weighted-rps:weights=1,2,3", "counts": True, "rounds": 4},
]
IDS = ["default", "markov-k2", "constant-rpsls-k0", "q-learner-counts", "mix-weighted"]


def engine_like(kwargs: dict, n: int, opponent=None) -> Engine:
    """The engine an env built from ``kwargs`` wraps, with N = n."""
    kw = {"opponent": "frequency", "rounds": 100, "context": 1, "game": "rps", "counts": False, **kwargs}
    if opponent is not None:
        kw["opponent"] = opponent
    return Engine(kw.pop("opponent"), n=n, **kw)


# -- the Gymnasium env: the engine with N = 1 ----------------------------------------------------


def test_registered_on_import_with_documented_defaults():
    assert ENV_ID in gym.registry
    env = gym.make(ENV_ID)
    raw = env.unwrapped
    assert isinstance(raw, RockPaperScissorsEnv)
    e = raw.engine
    assert (e.n, e.rounds, e.context, e.counts, e.game.name, e.opponent.name) == (1, 100, 1, False, "rps", "frequency")
    assert env.observation_space == gym.spaces.Box(0.0, 1.0, (10,), np.float32)  # K*A^2 + 1 = 9 + 1
    assert env.action_space == gym.spaces.Discrete(3)
    env.close()


@pytest.mark.parametrize("kwargs", CONFIGS, ids=IDS)
def test_gymnasium_check_env(kwargs):
    env = gym.make(ENV_ID, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the checker reports problems as warnings too
        check_env(env.unwrapped)
    e = env.unwrapped.engine
    assert env.unwrapped.observation_space.shape == (encoding.feature_size(e.num_actions, e.context, e.counts),)
    assert env.unwrapped.action_space.n == e.num_actions


def test_episode_terminates_after_rounds_and_reward_is_the_payoff_entry():
    env = gym.make(ENV_ID, opponent="markov", rounds=5, game="weighted-rps:weights=1,2,3").unwrapped
    payoff = make_game("weighted-rps:weights=1,2,3").payoff
    obs, info = env.reset(seed=1)
    assert info == {"round": 0}
    for t in range(1, 6):
        action = t % 3
        obs, reward, terminated, truncated, info = env.step(action)
        assert obs in env.observation_space
        assert terminated is (t == 5) and truncated is False
        assert info["round"] == t
        assert reward == pytest.approx(float(payoff[action, info["opponent_move"]]))
        assert info["opponent_probs"].shape == (3,) and info["opponent_probs"].sum() == pytest.approx(1.0)
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(0)


@pytest.mark.parametrize("kwargs", CONFIGS[1:], ids=IDS[1:])
def test_single_env_is_the_engine_with_n_1(kwargs):
    """Same seed, same moves -> the same play as Engine(n=1), over two episodes (the second after a
    seedless reset, which keeps the generator's state on both sides)."""
    env = RockPaperScissorsEnv(**kwargs)
    engine = engine_like(kwargs, n=1)
    gen = torch.Generator().manual_seed(5)
    for episode in range(2):
        seed = 11 if episode == 0 else None
        obs, _ = env.reset(seed=seed)
        np.testing.assert_array_equal(obs, engine.reset(seed=seed)[0].numpy())
        for _ in range(engine.rounds):
            a = int(torch.randint(engine.num_actions, (1,), generator=gen))
            obs, reward, terminated, _, info = env.step(a)
            e_obs, e_reward, e_done, e_info = engine.step(torch.tensor([a]))
            np.testing.assert_array_equal(obs, e_obs[0].numpy())
            assert reward == float(e_reward[0]) and terminated == e_done
            assert info["opponent_move"] == int(e_info["opponent_move"][0])
            np.testing.assert_array_equal(info["opponent_probs"], e_info["opponent_probs"][0].numpy())


def play_single(env: RockPaperScissorsEnv, seed: int | None, actions) -> list[int]:
    env.reset(seed=seed)
    return [env.step(a)[4]["opponent_move"] for a in actions]


def test_single_env_seeding_follows_gymnasium():
    env = RockPaperScissorsEnv(opponent="mixed:probs=0.2,0.3,0.5", rounds=40)
    actions = [0] * 40
    first = play_single(env, 3, actions)
    assert play_single(env, 3, actions) == first  # the same seed replays the match
    following = play_single(env, None, actions)  # reset() continues the generator...
    assert following != first
    engine = Engine("mixed:probs=0.2,0.3,0.5", rounds=40)
    moves = []
    for seed in (3, None):  # ...exactly as the engine's does
        engine.reset(seed=seed)
        moves.append([int(engine.step(torch.tensor([0]))[3]["opponent_move"][0]) for _ in actions])
    assert moves == [first, following]
    assert play_single(env, 4, actions) != first


def test_first_seedless_reset_draws_a_fresh_seed():
    """As Gymnasium's np_random: without a seed, two new envs play different matches."""
    kwargs = {"opponent": "mixed:probs=0.2,0.3,0.5", "rounds": 40}
    actions = [0] * 40
    assert play_single(RockPaperScissorsEnv(**kwargs), None, actions) != play_single(RockPaperScissorsEnv(**kwargs), None, actions)
    a, b = vector_env(3, **kwargs), vector_env(3, **kwargs)
    a.reset()
    b.reset()
    zeros = np.zeros(3, dtype=np.int64)
    moves_a = [a.step(zeros)[4]["opponent_move"] for _ in actions]
    moves_b = [b.step(zeros)[4]["opponent_move"] for _ in actions]
    assert not np.array_equal(moves_a, moves_b)


def test_bad_action_raises_a_clear_error():
    env = RockPaperScissorsEnv(rounds=3)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"move 3 is outside 0\.\.2"):
        env.step(3)
    with pytest.raises(ValueError, match="single move"):
        env.step(np.array([0, 1]))
    with pytest.raises(TypeError, match="integer dtype"):
        env.step(1.5)


BAD_KWARGS = [
    ({"opponent": "nope"}, r"unknown opponent 'nope'; allowed: constant, mixed"),
    ({"rounds": 0}, r"rounds must be an integer >= 1, got 0"),
    ({"context": -1}, r"context must be an integer >= 0, got -1"),
    ({"game": "chess"}, r"unknown game 'chess'; allowed: rps"),
    ({"opponent": "markov:order=0"}, r"markov: bad value .* for parameter 'order'"),
]


@pytest.mark.parametrize("kwargs, message", BAD_KWARGS, ids=[m.split()[0] for _, m in BAD_KWARGS])
def test_bad_kwargs_raise_the_engines_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gym.make(ENV_ID, **kwargs)
    with pytest.raises(ValueError, match=message):
        vector_env(2, **kwargs)
    with pytest.raises(ValueError, match=message):
        gym.make_vec(ENV_ID, num_envs=2, vectorization_mode="vector_entry_point", **kwargs)
    if "opponent" not in kwargs:
        with pytest.raises(ValueError, match=message):
            parallel_env(**kwargs)


# -- the vector env: the engine with N = n --------------------------------------------------------


def test_make_vec_builds_one_engine_with_n_matches():
    envs = gym.make_vec(ENV_ID, num_envs=6, vectorization_mode="vector_entry_point", rounds=4, context=2)
    assert isinstance(envs, RockPaperScissorsVectorEnv)
    assert envs.engine.n == 6 and envs.num_envs == 6 and envs.engine.rounds == 4
    assert envs.metadata["autoreset_mode"] is AutoresetMode.NEXT_STEP
    assert envs.single_observation_space == gym.spaces.Box(0.0, 1.0, (19,), np.float32)
    assert envs.observation_space.shape == (6, 19)
    assert envs.action_space == gym.spaces.MultiDiscrete([3] * 6)
    default = gym.make_vec(ENV_ID, num_envs=2)  # the vector entry point is the default mode
    assert isinstance(default, RockPaperScissorsVectorEnv)
    with pytest.raises(ValueError, match="num_envs must be an integer >= 1, got 0"):
        vector_env(0)
    with pytest.raises(ValueError, match="autoreset_mode must be one of NextStep, SameStep, Disabled"):
        vector_env(2, autoreset_mode="sometimes")


def test_vector_shapes_dtypes_and_info_follow_sync_vector_env():
    """Same keys, shapes and dtypes as gymnasium's SyncVectorEnv over the single env."""
    n, kwargs = 4, {"rounds": 2, "game": "rpsls", "counts": True}
    for mode in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
        ours = vector_env(n, autoreset_mode=mode, **kwargs)
        sync = gym.make_vec(ENV_ID, num_envs=n, vectorization_mode="sync", vector_kwargs={"autoreset_mode": mode}, **kwargs)
        results = [(ours.reset(seed=0), sync.reset(seed=0))]
        actions = np.arange(n) % 5
        for _ in range(4):
            results.append((ours.step(actions), sync.step(actions)))
        for got, want in results:
            assert len(got) == len(want)
            for g, w in zip(got[:-1], want[:-1]):
                assert (g.shape, g.dtype) == (w.shape, w.dtype)
            assert got[0] in ours.observation_space
            info, sync_info = got[-1], want[-1]
            assert info.keys() == sync_info.keys()
            for key in info:
                if key != "final_info":
                    assert (info[key].shape, info[key].dtype) == (sync_info[key].shape, sync_info[key].dtype), key
            if "final_info" in info:
                assert info["final_info"].keys() == sync_info["final_info"].keys()
                assert info["final_obs"][0].shape == sync_info["final_obs"][0].shape


def test_vector_next_step_autoreset():
    n, rounds = 5, 3
    envs = vector_env(n, opponent="pattern", rounds=rounds, context=2)
    first_obs, _ = envs.reset(seed=2)
    actions = np.zeros(n, dtype=np.int64)
    for _episode in range(2):
        for t in range(1, rounds + 1):
            obs, rewards, terminated, truncated, info = envs.step(actions)
            assert np.all(terminated == (t == rounds)) and not truncated.any()
            assert np.all(info["round"] == t)
        assert np.all(obs[:, -1] == 1.0)  # the final observation: round fraction T/T
        obs, rewards, terminated, truncated, info = envs.step(actions)  # the autoreset step
        np.testing.assert_array_equal(obs, first_obs)
        assert not rewards.any() and not terminated.any() and not truncated.any()
        assert set(info) == {"round", "_round"} and not info["round"].any()


def test_vector_same_step_autoreset_equals_next_step_without_the_extra_step():
    n, rounds, kwargs = 3, 2, {"opponent": "q-learner", "context": 2, "counts": True}
    same = vector_env(n, rounds=rounds, autoreset_mode="SameStep", **kwargs)
    nxt = vector_env(n, rounds=rounds, **kwargs)
    first_obs, _ = same.reset(seed=9)
    nxt.reset(seed=9)
    gen = np.random.default_rng(0)
    for _step in range(3 * rounds):
        actions = gen.integers(0, 3, n)
        s_obs, s_rew, s_term, _, s_info = same.step(actions)
        n_obs, n_rew, n_term, _, n_info = nxt.step(actions)
        np.testing.assert_array_equal(s_rew, n_rew)
        np.testing.assert_array_equal(s_term, n_term)
        if n_term.all():
            np.testing.assert_array_equal(np.stack(list(s_info["final_obs"])), n_obs)
            np.testing.assert_array_equal(s_info["final_info"]["opponent_move"], n_info["opponent_move"])
            np.testing.assert_array_equal(s_obs, first_obs)
            assert s_info["_final_obs"].all() and not s_info["round"].any()
            nxt.step(actions)  # next-step's autoreset step
        else:
            np.testing.assert_array_equal(s_obs, n_obs)
            np.testing.assert_array_equal(s_info["opponent_move"], n_info["opponent_move"])


def test_vector_disabled_autoreset_needs_reset():
    envs = vector_env(2, rounds=2, autoreset_mode=AutoresetMode.DISABLED)
    envs.reset(seed=0)
    envs.step(np.zeros(2, dtype=np.int64))
    *_, info = envs.step(np.zeros(2, dtype=np.int64))
    assert "final_obs" not in info
    with pytest.raises(RuntimeError, match="call reset"):
        envs.step(np.zeros(2, dtype=np.int64))
    obs, _ = envs.reset(options={"reset_mask": np.array([True, True])})
    assert obs.shape == (2, 10)


@pytest.mark.parametrize("kwargs", CONFIGS, ids=IDS)
def test_vector_env_is_the_engine_with_n_matches(kwargs):
    """Per match: the same observations, rewards and opponent moves as Engine(n) for the same seed,
    over two matches (the autoreset keeps the generator's state, as engine.reset() does)."""
    n = 5
    kwargs = {**kwargs, "rounds": min(kwargs.get("rounds", 100), 6)}
    envs = vector_env(n, **kwargs)
    engine = engine_like(kwargs, n)
    obs, _ = envs.reset(seed=21)
    np.testing.assert_array_equal(obs, engine.reset(seed=21).numpy())
    gen = torch.Generator().manual_seed(1)
    for match in range(2):
        if match:
            obs, *_ = envs.step(np.zeros(n, dtype=np.int64))  # next-step autoreset
            np.testing.assert_array_equal(obs, engine.reset().numpy())
        for _ in range(engine.rounds):
            moves = torch.randint(engine.num_actions, (n,), generator=gen)
            obs, rewards, terminated, _, info = envs.step(moves.numpy())
            e_obs, e_rewards, e_done, e_info = engine.step(moves)
            np.testing.assert_array_equal(obs, e_obs.numpy())
            np.testing.assert_array_equal(rewards, e_rewards.double().numpy())
            np.testing.assert_array_equal(info["opponent_move"], e_info["opponent_move"].numpy())
            np.testing.assert_array_equal(info["opponent_probs"], e_info["opponent_probs"].numpy())
            assert terminated.tolist() == [e_done] * n


def play_vector(envs, seed, episodes=2) -> list[np.ndarray]:
    envs.action_space.seed(seed)
    out = [envs.reset(seed=seed)[0]]
    for _ in range(episodes * (envs.engine.rounds + 1)):
        obs, rewards, terminated, _, info = envs.step(envs.action_space.sample())
        out += [obs, rewards, terminated, info.get("opponent_move", np.zeros(0))]
    return out


def test_vector_seed_determinism():
    kwargs = {"opponent": "pg-learner", "rounds": 8, "context": 2}
    a = play_vector(vector_env(4, **kwargs), 7)
    b = play_vector(vector_env(4, **kwargs), 7)
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
    c = play_vector(vector_env(4, **kwargs), 8)
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_vector_reset_rejects_what_one_engine_cannot_do():
    envs = vector_env(3, rounds=2)
    with pytest.raises(ValueError, match="seed must be one int"):
        envs.reset(seed=[1, 2, 3])
    with pytest.raises(ValueError, match=r"reset_mask'\] must be all True"):
        envs.reset(options={"reset_mask": np.array([True, False, True])})
    with pytest.raises(ValueError, match=r"move 3 is outside 0\.\.2"):
        envs.reset(seed=0)
        envs.step(np.array([0, 3, 1]))
    with pytest.raises(ValueError, match=r"shape \[3\]"):
        envs.step(np.array([0, 1]))


# -- the PettingZoo env: two learners in one engine -----------------------------------------------

PARALLEL_CONFIGS = [
    {"rounds": 10},
    {"rounds": 6, "context": 2, "counts": True},
    {"rounds": 4, "context": 0, "game": "rpsls"},
    {"rounds": 5, "game": "weighted-rps:weights=1,2,3", "counts": True},
]


@pytest.mark.parametrize("kwargs", PARALLEL_CONFIGS)
def test_pettingzoo_parallel_api_and_seed_tests(kwargs):
    env = parallel_env(**kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parallel_api_test(env, num_cycles=kwargs["rounds"] + 5)
        parallel_seed_test(lambda: parallel_env(**kwargs), num_cycles=kwargs["rounds"] + 5)
    assert isinstance(env, RockPaperScissorsParallelEnv) and isinstance(env.engine.opponent, External)


def play_parallel(env, seed: int, actions_T2: np.ndarray):
    out = [env.reset(seed=seed)]
    for a0, a1 in actions_T2:
        out.append(env.step({"player_0": int(a0), "player_1": int(a1)}))
    return out


@pytest.mark.parametrize("kwargs", PARALLEL_CONFIGS)
def test_parallel_env_is_zero_sum_seeded_and_each_player_sees_itself_first(kwargs):
    """Player 0 sees what Engine.step_forced(a0, a1) shows; player 1 sees what it would show with the
    roles swapped, step_forced(a1, a0), i.e. its own move first in every pair."""
    env = parallel_env(**kwargs)
    rounds, a = kwargs["rounds"], env.engine.num_actions
    payoff = env.engine.game.payoff
    actions_T2 = np.random.default_rng(3).integers(0, a, (rounds, 2))
    run = play_parallel(env, 0, actions_T2)
    assert data_equivalence(run, play_parallel(parallel_env(**kwargs), 0, actions_T2), exact=True)
    views = {p: Engine(External(), **kwargs) for p in ("player_0", "player_1")}
    (obs, infos) = run[0]
    for p, e in views.items():
        np.testing.assert_array_equal(obs[p], e.reset(seed=0)[0].numpy())
    for t, ((a0, a1), (obs, rewards, terms, truncs, infos)) in enumerate(zip(actions_T2, run[1:]), start=1):
        assert rewards["player_0"] + rewards["player_1"] == 0.0
        assert rewards["player_0"] == pytest.approx(float(payoff[a0, a1]))
        assert terms == {"player_0": t == rounds, "player_1": t == rounds}
        assert truncs == {"player_0": False, "player_1": False}
        assert infos["player_0"] == {"opponent_move": a1, "round": t}
        assert infos["player_1"] == {"opponent_move": a0, "round": t}
        for p, (own, other) in (("player_0", (a0, a1)), ("player_1", (a1, a0))):
            e_obs, e_reward, _, _ = views[p].step_forced(torch.tensor([own]), torch.tensor([other]))
            np.testing.assert_array_equal(obs[p], e_obs[0].numpy())
            assert rewards[p] == float(e_reward[0])
            ctx = encoding.context_from_obs(torch.from_numpy(obs[p]), a, env.engine.context)
            if env.engine.context:
                assert int(ctx[-1]) == own * a + other  # the newest pair: own move first
    assert env.agents == []
    with pytest.raises(RuntimeError, match="call reset"):
        env.step({"player_0": 0, "player_1": 0})


def test_parallel_env_checks_its_input():
    env = parallel_env(rounds=3)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="missing player_1"):
        env.step({"player_0": 0})
    with pytest.raises(ValueError, match=r"opponent move 7 is outside 0\.\.2"):
        env.step({"player_0": 0, "player_1": 7})
    with pytest.raises(ValueError, match="unknown agent 'player_2'"):
        env.action_space("player_2")
    assert env.observation_space("player_0") is env.observation_space("player_0")


def test_external_seat_is_not_a_registered_opponent():
    assert "external" not in REGISTRY and External not in REGISTRY.values()
    with pytest.raises(ValueError, match="unknown opponent 'external'"):
        make_opponent("external")
    ext = External()
    ext.reset(4, make_game("rpsls"))
    assert torch.equal(ext.probs(), torch.full((4, 5), 0.2))
