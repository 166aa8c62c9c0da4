"""Probes for ``lab3.positional`` (run in the sandbox; see ``autograder/child/probes/__init__.py``)."""

from __future__ import annotations

from typing import Any

from autograder.child.probes import seed, tensor_or_none


def _raised(fn) -> str:
    try:
        fn()
    except ValueError:
        return "ValueError"
    except Exception as exc:  # noqa: BLE001 - any other exception is a finding
        return type(exc).__name__
    return ""


def pe_table(d_model: int, max_len: int | None) -> dict[str, Any]:
    """The ``pe`` table and how it is registered (buffer, parameter, state dict, follows ``.to``);
    ``max_len=None``: the constructor's default."""
    import torch
    from lab3.positional import SinusoidalPositionalEncoding

    if max_len is None:
        mod = SinusoidalPositionalEncoding(d_model)
    else:
        mod = SinusoidalPositionalEncoding(d_model, max_len=max_len)
    pe = getattr(mod, "pe", None)
    # .to() below converts a Parameter in place: keep a copy of what the constructor made
    pe = torch.Tensor.clone(pe.detach()) if isinstance(pe, torch.Tensor) else pe
    buffers = dict(mod.named_buffers())
    moved = mod.to(torch.float64)
    moved_pe = getattr(moved, "pe", None)
    return {
        "pe": tensor_or_none(pe),
        "is_buffer": "pe" in buffers,
        "is_parameter": "pe" in dict(mod.named_parameters()),
        "in_state_dict": "pe" in mod.state_dict(),
        "num_parameters": sum(p.numel() for p in mod.parameters()),
        "dropout_is_module": isinstance(getattr(mod, "dropout", None), torch.nn.Dropout),
        "dtype_after_to_float64": str(moved_pe.dtype) if isinstance(moved_pe, torch.Tensor) else "missing",
    }


def pe_forward(d_model: int, max_len: int, x, dropout: float = 0.0, train: bool = False, seed_value: int = 0):
    """``forward(x)`` in eval (or train) mode."""
    from lab3.positional import SinusoidalPositionalEncoding

    seed(seed_value)
    mod = SinusoidalPositionalEncoding(d_model, max_len=max_len, dropout=dropout)
    mod.train(train)
    return {"out": tensor_or_none(mod(x))}


def pe_errors(max_len: int = 10) -> dict[str, Any]:
    """Which exception (if any) each invalid use raises."""
    import torch
    from lab3.positional import SinusoidalPositionalEncoding

    def too_long() -> None:
        SinusoidalPositionalEncoding(8, max_len=max_len)(torch.zeros(1, max_len + 1, 8))

    def at_max_len() -> None:
        SinusoidalPositionalEncoding(8, max_len=max_len)(torch.zeros(1, max_len, 8))

    return {
        "odd": _raised(lambda: SinusoidalPositionalEncoding(7)),
        "zero": _raised(lambda: SinusoidalPositionalEncoding(0)),
        "negative": _raised(lambda: SinusoidalPositionalEncoding(-4)),
        "too_long": _raised(too_long),
        "at_max_len": _raised(at_max_len),
    }
