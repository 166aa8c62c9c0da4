"""Fixtures for the Exercise 1 product tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(params=[torch.float64, torch.float32], ids=["float64", "float32"])
def dtype(request: pytest.FixtureRequest) -> torch.dtype:
    return request.param


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models run faster on one thread, and a shared 2-core machine does not oversubscribe."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
