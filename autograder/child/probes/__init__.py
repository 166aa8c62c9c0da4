"""Probes: small functions that run INSIDE the sandboxed child and return plain data.

A probe lives in ``autograder/child/probes/<module>.py`` (named after the student module it exercises, so the
engine can report a missing module and pre-import it with its own deadline), imports the student's
``lab3.<module>`` inside the function, builds the student's objects from the given inputs, runs them
and returns a dict of ``str -> torch.Tensor | int | float | bool | str | None | list | dict``.
Graders call them as ``student.call("<module>.<func>", timeout=..., **kwargs)``.

Rules: probes never compare anything (the trusted side does), never read grader files, and copy
any weights they need straight into the documented attributes (not through student helpers).
Helpers shared by probes live here; keep this file free of grader knowledge.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any


def seed(value: int = 0) -> None:
    """Seed torch and random in the child (for code paths that draw random numbers)."""
    import random

    import torch

    random.seed(value)
    torch.manual_seed(value)


@contextlib.contextmanager
def one_thread():
    """Run with one intra-op thread, then restore. Same kernels and summation order as a one-thread
    reference (bfloat16 rounding magnifies any other order), and no OpenMP threads spinning against each
    other on a shared, overloaded machine (that made the transfer probes 5-50x slower)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def single_threaded(fn):
    """Decorator: run ``fn`` under :func:`one_thread`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with one_thread():
            return fn(*args, **kwargs)

    return wrapper


def tensor_or_none(x: Any) -> Any:
    """Pass tensors through (detached, on the CPU); anything else becomes a short type description."""
    import torch

    if x is None:
        return None
    if isinstance(x, torch.Tensor):
        return torch.Tensor.detach(x).cpu()
    return {"not_a_tensor": type(x).__name__}


def pair(result: Any) -> tuple[Any, Any]:
    """Split a student's ``(a, b)`` return value; anything else raises a clear TypeError."""
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        n = f" of {len(result)} items" if isinstance(result, (tuple, list)) else ""
        raise TypeError(f"expected a tuple (out, weights), but got a {type(result).__name__}{n}")
    return result[0], result[1]


# ------------------------------------------------------------------------------------- call tracing
def _student_frames(frame, root: str, limit: int = 12) -> list[str]:
    """``"file.py:function:line"`` of the frames of ``frame``'s stack that lie in the student package."""
    import os

    out = []
    while frame is not None and len(out) < limit:
        code = frame.f_code
        if code.co_filename.startswith(root):
            out.append(f"{os.path.basename(code.co_filename)}:{code.co_qualname}:{frame.f_lineno}")
        frame = frame.f_back
    return out


class CallTrace:
    """Records what runs while student code runs: every torch function (``__torch_function__`` level:
    ``torch.*``, ``torch.nn.functional.*``, tensor methods, ``torch.ops`` calls), every ATen operator that
    reaches the dispatcher (below autograd, so it sees through aliases, ``getattr`` strings and private
    bindings) and the class of every ``nn.Module`` whose forward runs; for each name the student frames
    of its first occurrence. It only records: which names matter is decided on the trusted side.

    ``with CallTrace() as trace: trace.run(fn, *args)`` counts the operators of each call, and checks
    afterwards that the recording was still on (the modes on their stacks, the module hook in place, a
    canary operator seen) — facts for the trusted side too.
    """

    def __init__(self) -> None:
        import os

        import lab3

        self.root = os.path.dirname(os.path.abspath(lab3.__file__)) + os.sep
        self.functions: dict[str, list[str]] = {}
        self.ops: dict[str, list[str]] = {}
        self.modules: dict[str, list[str]] = {}
        self.count = 0
        self.calls: list[dict[str, Any]] = []
        self.intact = True

    def _note(self, table: dict[str, list[str]], name: str) -> None:
        import sys

        self.count += 1
        if name not in table and len(table) < 2000:
            table[name] = _student_frames(sys._getframe(2), self.root)

    def __enter__(self) -> CallTrace:
        import torch
        from torch.overrides import TorchFunctionMode
        from torch.utils._python_dispatch import TorchDispatchMode

        trace = self

        class _Functions(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                name = getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)
                module = getattr(func, "__module__", None) or ""
                trace._note(trace.functions, f"{module}.{name}" if module else str(name))
                return func(*args, **(kwargs or {}))

        class _Ops(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                trace._note(trace.ops, str(func))
                return func(*args, **(kwargs or {}))

        def module_hook(module, args):
            cls = type(module)
            trace._note(trace.modules, f"{cls.__module__}.{cls.__qualname__}")

        self._fmode, self._dmode = _Functions(), _Ops()
        self._dmode.__enter__()
        self._fmode.__enter__()
        self._hook = torch.nn.modules.module.register_module_forward_pre_hook(module_hook)
        return self

    def _still_on(self) -> bool:
        import torch
        from torch.overrides import _get_current_function_mode_stack
        from torch.utils._python_dispatch import _get_current_dispatch_mode_stack

        hooks = torch.nn.modules.module._global_forward_pre_hooks
        canary = torch.zeros(2)
        before = self.count
        torch.neg(canary)  # one torch function and one operator, if both recorders are still on
        return (
            any(m is self._fmode for m in _get_current_function_mode_stack())
            and any(m is self._dmode for m in _get_current_dispatch_mode_stack())
            and self._hook.id in hooks
            and self.count >= before + 2
        )

    def run(self, fn, *args, **kwargs):
        """``fn(*args, **kwargs)``, with the number of operators it ran and whether it returned a new tensor."""
        import torch

        before = self.count
        result = fn(*args, **kwargs)
        values = result if isinstance(result, (tuple, list)) else (result,)
        inputs = [a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)]
        fresh = any(isinstance(v, torch.Tensor) and not any(v is a for a in inputs) for v in values)
        self.calls.append({"ops": self.count - before, "new_tensor": fresh})
        self.intact = self.intact and self._still_on()
        return result

    def __exit__(self, *exc) -> None:
        import contextlib

        self._hook.remove()
        for mode in (self._fmode, self._dmode):
            with contextlib.suppress(Exception):  # already popped by the code under trace: recorded as not intact
                mode.__exit__(None, None, None)

    def report(self) -> dict[str, Any]:
        return {"functions": self.functions, "ops": self.ops, "modules": self.modules, "calls": self.calls,
                "intact": self.intact}
