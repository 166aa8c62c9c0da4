"""Helpers shared by the experiment modules of Exercise 1 (``ex1_experiments``, ``vit_experiments``).

* :func:`num_threads` runs a block with a given number of torch threads, then restores the old one;
* :func:`make_writer` opens a TensorBoard ``SummaryWriter`` in ``runs/<name>``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from lab3 import utils

__all__ = ["make_writer", "num_threads"]


@contextmanager
def num_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)`` (``None``: leave it), then restore the old value.

    The models here are tiny: one thread loses little on an idle machine and avoids the collapse of
    two OpenMP threads on a shared, overloaded one (a 20 ms step took 1-3 s that way).
    """
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def make_writer(name: str | None):
    """A TensorBoard ``SummaryWriter`` in ``runs/<name>`` (``None`` when ``name`` is ``None``)."""
    if name is None:
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(utils.runs_dir(name)))
