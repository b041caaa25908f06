"""Export a trained policy or a registered player as a self-contained agent file for Kaggle's Rock-Paper-Scissors environment.

Legend: A actions, K context rounds, F features, H hidden units.

``kaggle_source(agent)`` returns the text of one Python file that needs only NumPy (no torch,
no policygrad) and defines ``agent(observation, configuration)``, the entry point of the
``rps`` environment of ``kaggle-environments``. ``agent`` is a registered player of :data:`PLAYER_EXPORTS`
or a checkpoint.

**A registered player** (``online``; ``meta``, ``meta-raw``) is already NumPy in the library: the file
carries the library's own source (:mod:`policygrad.predictors`, and :mod:`policygrad.online` or
:mod:`policygrad.expert_match` with :class:`policygrad.safety.SafeBudget`), minus its package-relative
imports, plus the few values those imports gave (the game's payoff, beats and rotations, the equilibrium,
the network's weights), so its moves are the library player's for the same history and seed by
construction (tests/test_export_players.py plays them side by side). An expert-mixture file
(a training run's ``checkpoint.pt``, its run directory, or a weights file) exports the same way, unguarded, as :meth:`policygrad.Agent.load` plays it.

**A checkpoint of** ``policygrad train``: the file reproduces the trained policy:

* the same observation as :mod:`policygrad.encoding` (one-hot of the last K (agent, opponent)
  pairs, oldest first; the round fraction t / T capped at 1; with ``counts`` the running move
  frequencies of the agent, then the opponent), built in float32 exactly as the encoder builds it,
  and, for a policy trained with ``gaps``, the mode-gap features of :class:`policygrad.policies.ModeGaps`;
* the same network, evaluated in float64 from the float32 weights: an MLP (tanh hidden layers,
  softmax head), a table of logits indexed by the context, or a GRU cell with PyTorch's gate
  equations and weight layout (gates r, z, n stacked in ``weight_ih``/``weight_hh``)::

      r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
      z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
      n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
      h' = (1 - z) * n + z * h

* the same history bookkeeping as :class:`policygrad.agent.Agent`, kept in module-level state that
  is reset when ``observation.step == 0``; its move is drawn from pi with a NumPy generator.

The weights are embedded as base64 of little-endian float32 arrays. The Kaggle environment
executes the file and calls its *last* callable, so ``agent`` is defined last.
"""

from __future__ import annotations

import ast
import base64
import inspect
import os

import numpy as np
import torch

from . import expert_match, online, predictors
from .checkpoint import load_checkpoint, load_policy
from .equilibrium import nash_equilibrium
from .expert_agent import EXPERT_META_CHECKPOINT, EXPERT_META_SAFETY, ExpertAgent
from .expert_train import EXPERT_KIND, expert_file
from .files import atomic_write_text
from .safety import SafeBudget

__all__ = ["kaggle_source", "export_kaggle", "EXPORT_TARGETS", "PLAYER_EXPORTS", "kaggle_payoff"]

EXPORT_TARGETS = ("kaggle",)
# the registered players (policygrad.agent.PLAYERS) that export: name -> (expert-mixture file, safety) or None for online
PLAYER_EXPORTS: dict[str, tuple[str, float | None] | None] = {
    "online": None,
    "meta": (EXPERT_META_CHECKPOINT, EXPERT_META_SAFETY),
    "meta-raw": (EXPERT_META_CHECKPOINT, None),
}


def kaggle_payoff(signs: int) -> np.ndarray:
    """[A, A] the Kaggle ``rps`` environment's score of (left move, right move), ``utils.get_score``."""
    m = np.zeros((signs, signs))
    for a in range(signs):
        for o in range(signs):
            delta = o - a if (a + o) % 2 == 0 else a - o
            m[a, o] = np.sign(delta)
    return m


def _b64(t: torch.Tensor) -> tuple[list[int], str]:
    arr = t.detach().cpu().to(torch.float32).numpy().astype("<f4")
    return list(arr.shape), base64.b64encode(arr.tobytes()).decode("ascii")


def _array_line(name: str, t: torch.Tensor) -> str:
    shape, data = _b64(t)
    return f"{name} = _array({shape!r}, {data!r})\n"


def _check_kaggle_game(payoff: np.ndarray, source: str, game: str) -> None:
    """Raise ValueError unless ``payoff`` [A, A] is a game the Kaggle environment plays: 3 to 5 signs scored as ``get_score`` scores them."""
    a_num = payoff.shape[0]
    if not 3 <= a_num <= 5:
        raise ValueError(f"the Kaggle rps environment plays 3 to 5 signs; {source} was trained on game '{game}' with {a_num} actions")
    if not np.array_equal(np.sign(payoff), kaggle_payoff(a_num)):
        raise ValueError(
            f"the Kaggle rps environment scores moves as {kaggle_payoff(a_num).astype(int).tolist()}; {source} was trained on "
            f"game '{game}' whose payoff signs are {np.sign(payoff).astype(int).tolist()}, so its moves would mean other things there"
        )


def kaggle_source(agent: str, seed: int | None = None) -> str:
    """The text of a NumPy-only Kaggle agent file playing ``agent``.

    Args:
        agent: a registered player of :data:`PLAYER_EXPORTS` (``online``, ``meta``, ``meta-raw``), or a
            ``checkpoint.pt`` written by ``policygrad train`` or by the expert-mixture trainer (or their run directory).
        seed: seeds the agent's NumPy generator at the start of every match (None: fresh entropy).
    Raises:
        FileNotFoundError: ``agent`` is neither an exportable player nor an existing file or run directory.
        ValueError: the checkpoint holds no policy-gradient or expert-mixture policy, or its game is not one the
            Kaggle environment plays (3 to 5 signs scored as ``get_score`` scores them).
    """
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
    if agent in PLAYER_EXPORTS:
        return _player_source(agent, PLAYER_EXPORTS[agent], seed)
    if not os.path.exists(agent):
        raise FileNotFoundError(
            f"{agent!r} is neither an exportable player nor a checkpoint (no file or run directory at that path); "
            f"allowed: {', '.join(PLAYER_EXPORTS)}, or the path of a checkpoint"
        )
    path = expert_file(agent)
    if os.path.isfile(path) and load_checkpoint(path).get("kind") == EXPERT_KIND:
        return _player_source(os.path.basename(os.path.abspath(agent)), (path, None), seed)
    return _checkpoint_source(agent, seed)


def _checkpoint_source(checkpoint: str, seed: int | None) -> str:
    """The agent file of a ``policygrad train`` checkpoint (see the module docstring)."""
    policy, cfg, data = load_policy(checkpoint)
    payoff = np.asarray(data["game"]["payoff"], dtype=np.float64)
    a_num = payoff.shape[0]
    _check_kaggle_game(payoff, checkpoint, cfg.game)
    features = getattr(policy, "features", None)  # ModeGaps read through WithFeatures (config gaps)
    if features is not None:
        policy = policy.policy
    state = {k: v.detach() for k, v in policy.state_dict().items()}
    weights = ""
    if cfg.policy == "mlp":
        ids = sorted({int(k.split(".")[1]) for k in state if k.startswith("net.")})
        names = []
        for j, i in enumerate(ids):
            weights += _array_line(f"_W{j}", state[f"net.{i}.weight"]) + _array_line(f"_B{j}", state[f"net.{i}.bias"])
            names.append(f"(_W{j}, _B{j})")
        weights += f"_LAYERS = [{', '.join(names)}]\n"
        hidden_size = 0
    elif cfg.policy == "tabular":
        weights += _array_line("_TABLE", state["table"])
        hidden_size = 0
    elif cfg.policy == "gru":
        for key in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            weights += _array_line("_" + key.upper(), state["gru." + key])
        weights += _array_line("_HEAD_W", state["head.weight"]) + _array_line("_HEAD_B", state["head.bias"])
        hidden_size = int(state["gru.weight_hh_l0"].shape[1])
    else:  # pragma: no cover - load_policy only builds the three kinds
        raise ValueError(f"cannot export policy kind {cfg.policy!r}")
    # every text from the checkpoint or its path goes in as a Python literal, never into the docstring:
    # ascii() escapes quotes, backslashes, newlines and every non-ASCII character, so a folder named
    # 'run"""\nimport os ...' stays a string
    header = _HEADER + (
        f"SOURCE = {ascii(os.path.basename(os.path.abspath(checkpoint)))}\nTRAINED_ON = {ascii(cfg.game)}\n"
        f"TRAINED_AGAINST = {ascii(cfg.opponent)}\nITERATIONS = {int(data.get('iteration', 0))}\n"
    )
    settings = (
        f"POLICY = {ascii(cfg.policy)}\nNUM_ACTIONS = {a_num}\nCONTEXT = {cfg.context}\nCOUNTS = {bool(cfg.counts)}\n"
        f"ROUNDS = {cfg.rounds}\nHIDDEN = {hidden_size}\nSEED = {seed!r}\n"
        f"GAP_SCALES = {tuple(features.scales) if features is not None else ()!r}\n"
    )
    return header + _PRELUDE + settings + "\n" + weights + _BODY + _ENTRY


def export_kaggle(agent: str, out: str, seed: int | None = None) -> str:
    """Write :func:`kaggle_source` of ``agent`` (an exportable player or a checkpoint) to ``out`` (atomically); returns ``out``."""
    if not out:
        raise ValueError("the output file must be a non-empty path (-o agent.py)")
    atomic_write_text(out, kaggle_source(agent, seed))
    return out


# -- registered players: the library's NumPy source --------------------------------------------------


def _module_source(obj) -> str:
    """The source of a module or class without its ``__future__`` and package-relative imports (the file defines those names)."""
    text = inspect.getsource(obj)
    drop: set[int] = set()
    for node in ast.parse(text).body:
        if isinstance(node, ast.ImportFrom) and (node.level > 0 or node.module == "__future__"):
            drop.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    kept = [line for i, line in enumerate(text.splitlines(), 1) if i not in drop]
    name = obj.__name__ if inspect.ismodule(obj) else f"{obj.__module__}.{obj.__qualname__}"
    return f"# ---- the source of {name} " + "-" * 40 + "\n\n" + "\n".join(kept) + "\n\n"


def _player_source(name: str, expert: tuple[str, float | None] | None, seed: int | None) -> str:
    """The agent file of a registered player: ``online`` (``expert`` None), or the expert-mixture file ``expert[0]``
    played through the guard with ``expert[1]`` points (None: unguarded)."""
    if expert is None:
        game = online.OnlineAgent().game
        parts = [_module_source(predictors), _module_source(online)]
        parts.append(_GAME_STUB)
        build = "_PLAYER = OnlineAgent()  # the registered `online`: policygrad.online.OnlineAgent with its defaults\n"
    else:
        path, safety = expert
        player = ExpertAgent.load(path, safety=safety)
        game, scores = player.game, player.player.scores
        _check_kaggle_game(game.payoff.numpy(), path, game.name)
        p = scores.predictors
        parts = [_module_source(predictors), _module_source(expert_match), _module_source(SafeBudget), _PRELUDE]
        weights = "".join(f"    {k!r}: _array({list(v.shape)!r}, {_b64(v)[1]!r}),\n" for k, v in player.policy.state_dict().items())
        build = (
            f"SAFETY = {safety!r}  # points a match may risk (SafeBudget); None: unguarded\nSIGMA = {nash_equilibrium(game).double().tolist()!r}\n"
            f"HORIZONS = {tuple(scores.horizons.tolist())!r}\nEVIDENCE_DECAY = {scores.evidence_decay!r}\n"
            f"PREDICTORS = dict(match_lengths={p.match_lengths!r}, orders={p.orders!r}, count_decays={tuple(p.count_decays.tolist())!r}, "
            f"count_replies={p.count_replies!r}, least_order={p.least_order!r}, ties={p.ties!r})\n_WEIGHTS = {{\n{weights}}}\n"
            "_PLAYER = ExpertPlayer(\n    ExpertScores(Predictors(PAYOFF, BEATS, ORBIT, **PREDICTORS), HORIZONS, EVIDENCE_DECAY),\n    MixtureNet(_WEIGHTS),\n"
            "    None if SAFETY is None else SafeBudget(PAYOFF, SIGMA, SAFETY),\n)\n"
        )
    header = _PLAYER_HEADER + (
        f"PLAYER = {ascii(name)}\nGAME = {ascii(game.name)}\nNUM_ACTIONS = {game.num_actions}\nSEED = {seed!r}\n"
        f"PAYOFF = {game.payoff.tolist()!r}\nBEATS = {game.beats().tolist()!r}\nORBIT = {game.rotations().tolist()!r}\n\n"
    )
    return header + "".join(parts) + build + _PLAYER_BODY + _ENTRY


_PLAYER_HEADER = '''"""A policygrad player for the Kaggle Rock-Paper-Scissors environment (NumPy only).

Exported by `policygrad export kaggle PLAYER`: the player is the library's own NumPy source below, the values its
package imports gave written in (the game GAME: PAYOFF, BEATS, ORBIT; the network's weights), so its moves equal
policygrad's player for the same history and SEED. Entry point: agent(observation, configuration); the match is
_PLAYER (reset(seed), act(last_opponent_move), last_probs), reset when observation.step == 0.
"""

from __future__ import annotations

'''

_GAME_STUB = """# ---- what `from .games import make_game` gave OnlineAgent: the game GAME's payoff, beats and rotations -------


class _Game:
    name, num_actions, payoff = GAME, len(PAYOFF), np.array(PAYOFF)

    def beats(self):
        return np.array(BEATS)

    def rotations(self):
        return np.array(ORBIT)


def make_game(game):
    return _Game()


"""

_PLAYER_BODY = '''

def reset(seed=SEED):
    """Start a new match: ``seed`` seeds the player's draws (SEED, None: fresh entropy)."""
    _PLAYER.reset(seed)


def act(last_opponent_move=None):
    """This round's move given the opponent's previous move (None in round 1), as the library player's act."""
    return _PLAYER.act(last_opponent_move)


def _started():
    return _PLAYER.my_last is not None
'''


_HEADER = '''"""A policygrad agent for the Kaggle Rock-Paper-Scissors environment (NumPy only).

Exported by `policygrad export kaggle`: SOURCE names the checkpoint, POLICY the policy kind,
TRAINED_ON its game, TRAINED_AGAINST the opponent it trained against for ITERATIONS iterations.
Entry point: agent(observation, configuration). probabilities(my_moves, opponent_moves) gives
pi(. | history) for any history.
"""

'''

_PRELUDE = '''
import base64 as _base64

import numpy as _np


def _array(shape, data):
    """A float64 array from base64 of little-endian float32."""
    return _np.frombuffer(_base64.b64decode(data), dtype="<f4").reshape(shape).astype(_np.float64)


'''

_BODY = '''

_STATE = {}
last_probs = None


def _features(ctx, t, counts):
    """The observation [F] of policygrad.encoding.encode: float32 values, returned as float64."""
    a2 = NUM_ACTIONS * NUM_ACTIONS
    obs = _np.zeros(CONTEXT * a2 + 1 + (2 * NUM_ACTIONS if COUNTS else 0), dtype=_np.float32)
    for j, pair in enumerate(ctx):
        if pair >= 0:
            obs[j * a2 + pair] = 1.0
    obs[CONTEXT * a2] = _np.float32(min(t / ROUNDS, 1.0))
    if COUNTS:
        total = max(counts[0].sum(dtype=_np.float32), _np.float32(1.0))
        obs[CONTEXT * a2 + 1:] = (counts / total).reshape(-1)
    if GAP_SCALES:  # policygrad.policies.ModeGaps: exp(-gap / s) of each count's gap to its row's mode
        n = _np.round(obs[CONTEXT * a2 + 1:].reshape(2, NUM_ACTIONS) * (obs[CONTEXT * a2] * _np.float32(ROUNDS)))
        gap = (n.max(axis=1, keepdims=True) - n).reshape(-1)
        obs = _np.concatenate([obs] + [_np.exp(-gap / _np.float32(s)) for s in GAP_SCALES])
    return obs.astype(_np.float64)


def _softmax(logits):
    z = _np.exp(logits - logits.max())
    return z / z.sum()


def _sigmoid(x):
    return 1.0 / (1.0 + _np.exp(-x))


def _step(obs, ctx, hidden):
    """(pi [A], next hidden) at observation ``obs`` (``ctx`` for the table)."""
    if POLICY == "mlp":
        x = obs
        for i, (w, b) in enumerate(_LAYERS):
            x = w @ x + b
            if i < len(_LAYERS) - 1:
                x = _np.tanh(x)
        return _softmax(x), hidden
    if POLICY == "tabular":
        index = 0
        for pair in ctx:  # base A^2 + 1, empty slot = digit 0, oldest slot most significant
            index = index * (NUM_ACTIONS * NUM_ACTIONS + 1) + (pair + 1)
        return _softmax(_TABLE[index]), hidden
    gi = _WEIGHT_IH_L0 @ obs + _BIAS_IH_L0
    gh = _WEIGHT_HH_L0 @ hidden + _BIAS_HH_L0
    r = _sigmoid(gi[:HIDDEN] + gh[:HIDDEN])
    z = _sigmoid(gi[HIDDEN:2 * HIDDEN] + gh[HIDDEN:2 * HIDDEN])
    n = _np.tanh(gi[2 * HIDDEN:] + r * gh[2 * HIDDEN:])
    hidden = (1.0 - z) * n + z * hidden
    return _softmax(_HEAD_W @ hidden + _HEAD_B), hidden


def reset(seed=SEED):
    """Start a new match: empty history, zero GRU state, the generator seeded with ``seed``."""
    global last_probs
    _STATE.clear()
    _STATE.update(
        t=0,
        ctx=[-1] * CONTEXT,
        counts=_np.zeros((2, NUM_ACTIONS), dtype=_np.float32),
        hidden=_np.zeros(HIDDEN),
        my_last=None,
        rng=_np.random.default_rng(seed),
    )
    last_probs = None


def _record(opponent_move):
    """Add the last round (my last move, ``opponent_move``) to the history."""
    if not isinstance(opponent_move, (int, _np.integer)) or isinstance(opponent_move, bool) or not 0 <= opponent_move < NUM_ACTIONS:
        raise ValueError(f"the opponent's last move must be a move in 0..{NUM_ACTIONS - 1} after round 1, got {opponent_move!r}")
    me, opp = _STATE["my_last"], int(opponent_move)
    if CONTEXT:
        _STATE["ctx"] = _STATE["ctx"][1:] + [me * NUM_ACTIONS + opp]
    _STATE["counts"][0, me] += 1
    _STATE["counts"][1, opp] += 1
    _STATE["t"] += 1


def _policy():
    """pi(. | the history so far) [A]; advances the GRU state."""
    obs = _features(_STATE["ctx"], _STATE["t"], _STATE["counts"])
    probs, _STATE["hidden"] = _step(obs, _STATE["ctx"], _STATE["hidden"])
    return probs


def act(last_opponent_move=None):
    """This round's move given the opponent's previous move (None in round 1), as policygrad.Agent.act."""
    global last_probs
    if not _STATE:
        reset()
    if _STATE["my_last"] is not None:
        _record(last_opponent_move)
    probs = _policy()
    last_probs = probs
    cdf = _np.cumsum(probs)
    move = int(min(_np.searchsorted(cdf, _STATE["rng"].random() * cdf[-1], side="right"), NUM_ACTIONS - 1))
    _STATE["my_last"] = move
    return move


def probabilities(my_moves, opponent_moves):
    """pi(. | history) [A] after the rounds (my_moves[i], opponent_moves[i]); leaves the match state alone."""
    if len(my_moves) != len(opponent_moves):
        raise ValueError(f"my_moves and opponent_moves must have the same length, got {len(my_moves)} and {len(opponent_moves)}")
    global last_probs
    saved, saved_probs = dict(_STATE), last_probs
    try:
        reset()
        probs = _policy()
        for me, opp in zip(my_moves, opponent_moves):
            _STATE["my_last"] = int(me)
            _record(opp)
            probs = _policy()
        return probs
    finally:
        _STATE.clear()
        _STATE.update(saved)
        last_probs = saved_probs


def _started():
    return bool(_STATE)
'''

_ENTRY = '''

def _get(obj, key, default=None):
    if isinstance(obj, dict):
        return obj.get(key, default)
    return getattr(obj, key, default)


def agent(observation, configuration):
    """The Kaggle entry point: this round's sign (a Python int)."""
    signs = _get(configuration, "signs", NUM_ACTIONS)
    if signs != NUM_ACTIONS:
        raise ValueError(f"this agent plays {NUM_ACTIONS} signs, the environment is configured for {signs}")
    if _get(observation, "step", 0) == 0 or not _started():
        reset()
        return act(None)
    return act(_get(observation, "lastOpponentAction"))
'''
