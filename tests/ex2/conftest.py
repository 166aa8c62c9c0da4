"""Exercise 2 product tests: run each test with one intra-op thread.

On a shared, overloaded 2-core machine, OpenMP's default (spinning) wait policy made two threads many
times slower than one for these tiny models; on an idle machine one thread costs little here.
``OMP_WAIT_POLICY=PASSIVE`` in the environment fixes the root cause for every process.
"""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
