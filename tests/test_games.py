"""Games: the payoff matrices, their spec strings, and the errors for matrices that are not games."""

import pytest
import torch

from policygrad.games import GAME_NAMES, Game, from_matrix, make_game, rps, rpsls, weighted_rps


def test_rps_matrix_is_the_textbook_one():
    # rows: the agent's move (rock, paper, scissors); columns: the opponent's move.
    # paper beats rock, scissors beats paper, rock beats scissors: +1 win, 0 tie, -1 loss.
    expected = torch.tensor([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]], dtype=torch.float64)
    g = rps()
    assert torch.equal(g.payoff, expected)
    assert g.payoff.dtype == torch.float64
    assert g.actions == ("rock", "paper", "scissors")
    assert g.num_actions == 3
    assert g.name == "rps"


def test_rps_beats_and_best_responses():
    g = rps()
    assert g.beats().tolist() == [1, 2, 0]  # paper beats rock, scissors paper, rock scissors
    # best response to rock is paper; to 50/50 rock-paper is paper (E: rock -1/2, paper +1/2, scissors 0);
    # to uniform every move ties at 0, so the reply is uniform.
    dist = torch.tensor([[1.0, 0, 0], [0.5, 0.5, 0], [1 / 3, 1 / 3, 1 / 3]])
    expected = torch.tensor([[0.0, 1, 0], [0, 1, 0], [1 / 3, 1 / 3, 1 / 3]])
    assert torch.allclose(g.best_responses(dist), expected)


def test_rpsls_each_move_beats_two_and_loses_to_two():
    g = rpsls()
    m = g.payoff
    assert g.actions == ("rock", "paper", "scissors", "lizard", "spock")
    assert torch.equal(m, -m.T)
    assert ((m == 1).sum(dim=1) == 2).all() and ((m == -1).sum(dim=1) == 2).all()
    rock, paper, scissors, lizard, spock = range(5)
    # Sam Kass's rules: scissors cuts paper, paper covers rock, rock crushes lizard, lizard poisons
    # Spock, Spock smashes scissors, scissors decapitates lizard, lizard eats paper, paper disproves
    # Spock, Spock vaporizes rock, rock crushes scissors.
    wins = [(scissors, paper), (paper, rock), (rock, lizard), (lizard, spock), (spock, scissors),
            (scissors, lizard), (lizard, paper), (paper, spock), (spock, rock), (rock, scissors)]  # fmt: skip
    for w, lose in wins:
        assert m[w, lose] == 1 and m[lose, w] == -1


def test_weighted_rps_pays_the_winners_weight_and_has_the_closed_form_equilibrium():
    g = weighted_rps((1.0, 2.0, 3.0))  # a win with rock pays 1, with paper 2, with scissors 3
    expected = torch.tensor([[0.0, -2, 1], [2, 0, -3], [-1, 3, 0]], dtype=torch.float64)
    assert torch.equal(g.payoff, expected)
    # Equilibrium: each move in proportion to the weight of the move it beats:
    # rock ~ w_scissors = 3, paper ~ w_rock = 1, scissors ~ w_paper = 2  ->  (3, 1, 2) / 6.
    q = torch.tensor([3.0, 1.0, 2.0], dtype=torch.float64) / 6
    assert torch.allclose(g.payoff @ q, torch.zeros(3, dtype=torch.float64), atol=1e-15)
    assert g.name == "weighted-rps:weights=1,2,3"
    assert make_game(g.name) == g


def test_weighted_rps_with_equal_weights_is_rps():
    assert torch.equal(weighted_rps((1, 1, 1)).payoff, rps().payoff)


def test_any_antisymmetric_matrix_is_a_game_and_its_name_rebuilds_it():
    m = [[0, 2, -1, 0.5], [-2, 0, 3, 0], [1, -3, 0, -1], [-0.5, 0, 1, 0]]
    g = from_matrix(m)
    assert g.num_actions == 4
    assert g.actions == ("m0", "m1", "m2", "m3")
    assert torch.equal(g.payoff, torch.tensor(m, dtype=torch.float64))
    assert make_game(g.name) == g
    # beats() is the argmax of each column: col 0 (0, -2, 1, -0.5) -> 2, col 1 (2, 0, -3, 0) -> 0,
    # col 2 (-1, 3, 0, 1) -> 1, col 3 (0.5, 0, -1, 0) -> 0
    assert g.beats().tolist() == [2, 0, 1, 0]


def test_make_game_specs():
    assert make_game() == rps()
    assert make_game("RPS") == rps()
    assert make_game("rpsls") == rpsls()
    assert make_game("weighted-rps:weights=1,2,3") == weighted_rps((1, 2, 3))
    assert make_game("matrix:rows=0,-1,1;1,0,-1;-1,1,0").payoff.equal(rps().payoff)
    g = rps()
    assert make_game(g) is g


def test_make_game_takes_a_matrix():
    assert make_game([[0, -1, 1], [1, 0, -1], [-1, 1, 0]]).payoff.equal(rps().payoff)
    assert make_game(rps().payoff).payoff.equal(rps().payoff)
    with pytest.raises(ValueError, match="antisymmetric"):
        make_game([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match=r"square A x A, got shape \(2, 3\)"):
        make_game([[0, 1, 2], [1, 0, 1]])


def test_integer_payoff_is_stored_as_float64():
    g = Game("x", torch.tensor([[0, 1], [-1, 0]]), ("a", "b"))
    assert g.payoff.dtype == torch.float64


def test_move_index():
    g = rps()
    assert [g.move_index(x) for x in ("rock", "Paper", "SCISSORS", 0, "2")] == [0, 1, 2, 0, 2]
    with pytest.raises(ValueError, match=r"move 3 is outside 0\.\.2"):
        g.move_index(3)
    with pytest.raises(ValueError, match="unknown move 'lizard'; allowed: rock, paper, scissors"):
        g.move_index("lizard")


@pytest.mark.parametrize(
    "matrix, message",
    [
        ([[0, 1, -1], [-1, 0, 1]], r"square A x A, got shape \(2, 3\)"),
        ([1, 2, 3], r"square A x A, got shape \(3,\)"),
        ([[0, 1], [1]], "square A x A table of numbers"),
        ([[0]], "at least 2 actions, got 1"),
        ([[0, 1], [1, 0]], "zero-sum"),  # both win: not zero-sum
        ([[1, 0], [0, -1]], "zero-sum"),  # diagonal not 0
        ([[0, float("nan")], [float("nan"), 0]], "non-finite"),
        ([[0, float("inf")], [-float("inf"), 0]], "non-finite"),
    ],
)
def test_bad_matrices_get_a_clear_error(matrix, message):
    with pytest.raises(ValueError, match=message):
        from_matrix(matrix)


def test_bad_game_construction():
    with pytest.raises(ValueError, match="2 action names for a 3-action game"):
        Game("x", rps().payoff, ("a", "b"))
    with pytest.raises(TypeError, match="torch tensor"):
        Game("x", [[0, 1], [-1, 0]], ("a", "b"))


@pytest.mark.parametrize(
    "spec, message",
    [
        ("chess", "unknown game 'chess'; allowed: " + ", ".join(GAME_NAMES)),
        ("rps:weights=1,2,3", "unknown game"),
        ("weighted-rps:weights=1,2", r"bad game spec .*3 positive weights"),
        ("weighted-rps:weights=1,0,2", r"bad game spec .*3 positive weights"),
        ("weighted-rps:weights=1,x,2", "bad game spec"),
        ("matrix:rows=0,1;1,0", r"bad game spec .*zero-sum"),
        ("matrix:rows=0,1,-1;-1,0,1", r"bad game spec .*square"),
    ],
)
def test_bad_game_specs(spec, message):
    with pytest.raises(ValueError, match=message):
        make_game(spec)


def test_games_compare_by_value():
    assert rps() == rps()
    assert rps() != rpsls()
    assert hash(rps()) == hash(rps())
