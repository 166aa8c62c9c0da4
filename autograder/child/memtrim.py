"""Give freed memory back to the OS between grading steps (both sides of the sandbox).

Grading builds and drops many models and large tensors. Two things keep that memory mapped: models in
reference cycles (modules with hooks, optimizers) wait for a full garbage collection, and glibc keeps
freed heap pages. The memory budget counts the PSS of every process, so after each step: a full ``gc.collect()``
when the process grew by ``FULL_GC_GROWTH`` since the last one (it costs ~0.18 s with torch loaded, too
much after every small call), else a collection of the young generations; then ``malloc_trim(0)``.

Shared libraries count too: the static initialisers of torch's CUDA libraries and of triton touch ~200 MiB
of their code and read-only data at import, pages a CPU-only run never reads again, which would stay
mapped (and counted) for the life of the process. :func:`unmap_library_pages` drops those page-table
entries; the pages stay in the page cache, and the few that are needed again come back on first use.
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


MADV_DONTNEED = 4


def _clean_library_ranges() -> list[tuple[int, int]]:
    """``(start, length)`` of this process's private read-only file mappings that hold no page of their
    own (``Anonymous: 0``: not written since loaded, e.g. not relocated): dropping their pages loses nothing."""
    out: list[tuple[int, int]] = []
    try:
        with open("/proc/self/smaps") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return out
    current: tuple[int, int] | None = None
    for line in lines:
        head = line.split(maxsplit=5)
        if head and "-" in head[0] and not head[0].endswith(":"):  # a mapping's first line
            current = None
            path = head[5] if len(head) > 5 else ""
            if head[1] in ("r--p", "r-xp") and path.startswith("/") and not path.endswith("(deleted)") \
                    and not path.startswith("/dev/"):
                lo, hi = (int(x, 16) for x in head[0].split("-"))
                current = (lo, hi - lo)
        elif current is not None and head[:1] == ["Anonymous:"]:
            if head[1] == "0":
                out.append(current)
            current = None
    return out


def unmap_library_pages() -> int:
    """Drop this process's page-table entries of clean shared-library pages (``madvise(MADV_DONTNEED)``
    on read-only private file mappings without a page of their own); returns the bytes of address range
    covered. The pages stay in the page cache: code that runs again is mapped back by a minor fault."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        madvise = libc.madvise
    except (OSError, AttributeError):
        return 0
    madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    covered = 0
    for start, length in _clean_library_ranges():
        if madvise(start, length, MADV_DONTNEED) == 0:
            covered += length
    return covered


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
