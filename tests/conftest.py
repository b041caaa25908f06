"""Test-wide settings: one torch thread (the tensors here are small, and a second thread on a busy
2-core machine waits at every operation's barrier: 4-25x slower, measured)."""

import torch

torch.set_num_threads(1)
