import torch

from policygrad.engine import Engine


def test_frequency_beats_constant_rock_from_round_two():
    engine = Engine("frequency", n=8, rounds=10, context=1, seed=0)
    engine.reset()
    rewards = []
    for _ in range(10):
        _, r, _, info = engine.step(torch.zeros(8, dtype=torch.long))
        rewards.append(r)
    r_NT = torch.stack(rewards, 1)
    assert torch.equal(r_NT[:, 1:], torch.full((8, 9), -1.0))
