"""Fixtures for the Exercise 3 product tests."""

from __future__ import annotations

import pytest
import torch
from ex3_helpers import TinyNet, make_data, make_net


@pytest.fixture
def net() -> TinyNet:
    return make_net()


@pytest.fixture
def data() -> tuple[torch.Tensor, torch.Tensor]:
    return make_data()
