"""Relative-error comparisons with a diagnosis, shared by the Exercise 1 product tests."""

from __future__ import annotations

import torch

# Relative-error tolerances per dtype: float64 <= 1e-10, float32 <= 1e-5.
TOL = {torch.float64: 1e-10, torch.float32: 1e-5}


def rel_err(actual: torch.Tensor, expected: torch.Tensor, scale: float | None = None) -> float:
    """max |actual - expected| / max |expected| (0 when both are 0); ``scale`` replaces the denominator."""
    diff = (actual.detach() - expected.detach()).abs().max().item()
    if scale is None:
        scale = expected.detach().abs().max().item()
    return diff / scale if scale > 0 else diff


def assert_rel_close(
    actual: torch.Tensor, expected: torch.Tensor, tol: float, what: str, scale: float | None = None
) -> None:
    """Shapes and dtypes equal, then ``rel_err <= tol``; on failure say where the largest difference is."""
    assert actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    err = rel_err(actual, expected, scale)
    if not err <= tol:
        idx = (actual - expected).abs().argmax().item()
        where = tuple(int(i) for i in torch.unravel_index(torch.tensor(idx), actual.shape))
        raise AssertionError(
            f"{what}: relative error {err:.3e} > {tol:.0e}; largest difference at {where}: "
            f"{actual.flatten()[idx].item():.6g} vs reference {expected.flatten()[idx].item():.6g}"
        )
