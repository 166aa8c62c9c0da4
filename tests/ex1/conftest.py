"""Fixtures for the Exercise 1 product tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(params=[torch.float64, torch.float32], ids=["float64", "float32"])
def dtype(request: pytest.FixtureRequest) -> torch.dtype:
    return request.param
