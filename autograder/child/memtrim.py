"""Give freed memory back to the OS between grading steps (both sides of the sandbox).

Grading builds and drops many models and large tensors. Two things keep that memory mapped: models in
reference cycles (modules with hooks, optimizers) wait for a full garbage collection, and glibc keeps
freed heap pages. The memory budget counts the PSS of every process, so after each step: a full ``gc.collect()``
when the process grew by ``FULL_GC_GROWTH`` since the last one (it costs ~0.18 s with torch loaded, too
much after every small call), else a collection of the young generations; then ``malloc_trim(0)``.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import os

FULL_GC_GROWTH = 32 << 20  # bytes of resident growth that make the next release a full collection
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_after_full = 0  # resident bytes right after the last full collection


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    try:
        return ctypes.CDLL(None).malloc_trim  # the C library the interpreter is linked against
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None


def trim_heap() -> None:
    """Return the allocator's free heap pages to the OS (``malloc_trim(0)``; nothing without glibc)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _resident() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def release_memory() -> None:
    """Collect garbage (fully when the process grew) and return free heap pages to the OS."""
    global _after_full
    if _resident() - _after_full >= FULL_GC_GROWTH:
        gc.collect()
        full = True
    else:
        gc.collect(1)
        full = False
    trim_heap()
    if full:
        _after_full = _resident()
