"""REINFORCE on Rock-Paper-Scissors against an adaptive opponent, on one screen (needs only torch).

The opponent counts the agent's moves in each match and plays what beats the most frequent one
(ties broken at random): a fixed or predictable agent loses to it. The agent is a stochastic policy
pi(a | s; theta), a softmax over a small network of the last round's moves, trained by stochastic
gradient ascent Delta theta = alpha * grad V(S0; theta), with the seed's estimate from m matches

    g = 1/m sum_i R(tau_i) sum_t grad log pi(A_t | S_t),    R(tau_i) = sum_t r_t  (the match's total)

computed as the gradient of the surrogate 1/m sum_i R(tau_i) sum_t log pi(A_t | S_t).

    python examples/reinforce_rps.py                  # 100 iterations, a few seconds
    python examples/reinforce_rps.py --iterations 20  # (or REINFORCE_ITERATIONS=20)
"""

import argparse
import os

import torch

A = 3  # moves: 0 rock, 1 paper, 2 scissors
PAYOFF = torch.tensor([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]])  # PAYOFF[a, o]: agent's reward
BEATS = torch.tensor([1, 2, 0])  # BEATS[m]: the move that beats m


def observe(last_pair, t, rounds):
    """S_t: one-hot of the last round's (agent, opponent) pair (zeros before round 1), and t / T. [N, A*A + 1]"""
    obs = torch.zeros(last_pair.shape[0], A * A + 1)
    played = last_pair >= 0
    obs[played, last_pair[played]] = 1.0
    obs[:, -1] = t / rounds
    return obs


def opponent_moves(counts, gen):
    """Beat the agent's most frequent move so far; a uniformly random choice among tied modes."""
    top = (counts == counts.max(dim=1, keepdim=True).values).float()
    predicted = torch.multinomial(top, 1, generator=gen).squeeze(1)
    return BEATS[predicted]


def play(policy, matches, rounds, gen):
    """N matches of T rounds at once. Returns log pi(A_t | S_t) [N, T] (with autograd) and rewards [N, T]."""
    counts = torch.zeros(matches, A)
    last_pair = torch.full((matches,), -1)
    logps, rewards = [], []
    for t in range(rounds):
        logp_all = torch.log_softmax(policy(observe(last_pair, t, rounds)), dim=1)
        a = torch.multinomial(logp_all.exp().detach(), 1, generator=gen).squeeze(1)
        o = opponent_moves(counts, gen)  # chosen from earlier rounds only: moves are simultaneous
        logps.append(logp_all.gather(1, a.unsqueeze(1)).squeeze(1))
        rewards.append(PAYOFF[a, o])
        counts[torch.arange(matches), a] += 1
        last_pair = a * A + o
    return torch.stack(logps, 1), torch.stack(rewards, 1)


def main():
    parser = argparse.ArgumentParser(description="REINFORCE on RPS against a frequency-counting opponent")
    parser.add_argument("--iterations", type=int, default=int(os.environ.get("REINFORCE_ITERATIONS", 100)))
    parser.add_argument("--matches", type=int, default=512, help="m, matches per gradient estimate")
    parser.add_argument("--rounds", type=int, default=10, help="T, rounds per match")
    parser.add_argument("--lr", type=float, default=0.1, help="alpha, the step size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(1)  # small tensors: one thread is fastest
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    policy = torch.nn.Sequential(torch.nn.Linear(A * A + 1, 32), torch.nn.Tanh(), torch.nn.Linear(32, A))
    torch.nn.init.zeros_(policy[2].weight)  # start from the uniform policy: pi(a | s) = 1/3
    torch.nn.init.zeros_(policy[2].bias)

    print(f"REINFORCE vs frequency-beater: m = {args.matches} matches x T = {args.rounds} rounds, alpha = {args.lr}")
    for it in range(args.iterations):
        logp, rewards = play(policy, args.matches, args.rounds, gen)
        returns = rewards.sum(1)  # R(tau_i)
        surrogate = (returns.unsqueeze(1) * logp).sum(1).mean()  # its gradient is g
        policy.zero_grad()
        surrogate.backward()
        with torch.no_grad():  # stochastic gradient *ascent*: theta <- theta + alpha g
            for p in policy.parameters():
                p += args.lr * p.grad
        if it % 10 == 0 or it == args.iterations - 1:
            print(f"iteration {it:4d}  reward per round {rewards.mean().item():+.3f}")


if __name__ == "__main__":
    main()
