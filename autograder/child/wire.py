"""The wire format between the trusted grader and the sandboxed child: JSON plus raw tensor bytes.

A *frame* is ``MAGIC (4 bytes) | header length (8 bytes, big endian) | JSON header | buffers``.
The JSON header is ``{"kind": str, "body": <value>, "buffers": [n_bytes, ...]}``; the buffers follow
it back to back; ``kind`` is a :class:`Kind`, the one list of message kinds both sides use.
Values are encoded as JSON with a few tagged objects:

* ``{"$t": [index, dtype, shape]}``: a tensor whose C-contiguous little-endian bytes are buffer ``index``;
* ``{"$f": "nan" | "inf" | "-inf"}``: a non-finite float (strict JSON has no NaN);
* ``{"$d": {...}}``: a dict with string keys (every dict is wrapped, so user keys cannot forge tags);
* lists and tuples become lists.

No pickle, no ``torch.load``: the decoder only ever builds ``None``, ``bool``, ``int``, ``float``,
``str``, ``list``, ``dict`` and plain ``torch.Tensor`` objects, after checking dtype, shape and size.
The child side imports this module too (it is copied into the sandbox), so it only needs the standard
library and torch.
"""

from __future__ import annotations

import json
import math
import os
import select
import struct
import time
from enum import StrEnum
from typing import Any

MAGIC = b"L3W1"
_HEAD = struct.Struct(">4sQ")

#: dtypes allowed on the wire, name -> item size in bytes.
DTYPES: dict[str, int] = {
    "float16": 2,
    "bfloat16": 2,
    "float32": 4,
    "float64": 8,
    "complex64": 8,
    "uint8": 1,
    "int8": 1,
    "int16": 2,
    "int32": 4,
    "int64": 8,
    "bool": 1,
}

MAX_HEADER_BYTES = 8 << 20  # JSON part of one frame
MAX_FRAME_BYTES = 1 << 30  # all buffers of one frame
MAX_DEPTH = 24
MAX_STR = 1 << 20
MAX_NDIM = 8


class Kind(StrEnum):
    """What a frame is (the string is what travels). The grader sends requests and the child answers each
    with ``OK`` or ``ERROR``; ``READY`` is the child's first frame, ``EXIT`` the grader's last."""

    IMPORT = "import"  # grader -> child: import a student module, body {"module": "lab3.<name>"}
    CALL = "call"  # grader -> child: run a probe, body {"probe": "<module>.<function>", "kwargs": {...}}
    PING = "ping"  # grader -> child: echo the body back (tests of the channel)
    EXIT = "exit"  # grader -> child: stop now (no answer)
    READY = "ready"  # child -> grader, first: locked down and ready, body {"pid", "uid", "notes", "preload_s"}
    OK = "ok"  # child -> grader: body {"value": <the result>, "seconds": float}
    ERROR = "error"  # child -> grader: the student's code raised, body {"exc_type", "message", ...}


class WireError(Exception):
    """A frame that breaks the protocol (malformed, too big, wrong types)."""


class ChannelClosed(WireError):
    """The other end closed the pipe (the child died)."""


class ChannelTimeout(WireError):
    """The deadline passed before a whole frame was read or written."""


# --------------------------------------------------------------------------------------------- encode
def encode(kind: Kind, body: Any) -> list[bytes | memoryview]:
    """Encode ``body`` into a list of byte chunks forming one frame (tensors are not copied twice)."""
    buffers: list[memoryview] = []
    enc = _encode(body, buffers, 0)
    header = json.dumps(
        {"kind": kind, "body": enc, "buffers": [b.nbytes for b in buffers]},
        allow_nan=False,
        separators=(",", ":"),
    ).encode("utf-8")
    return [_HEAD.pack(MAGIC, len(header)), header, *buffers]


def _encode(obj: Any, buffers: list[memoryview], depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    if obj is None or isinstance(obj, (bool, str)):
        return obj if not isinstance(obj, str) else str(obj)
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        if math.isfinite(obj):
            return float(obj)
        return {"$f": "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")}
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise WireError(f"dict keys must be str, got {type(k).__name__}")
            out[str(k)] = _encode(v, buffers, depth + 1)
        return {"$d": out}
    if isinstance(obj, (list, tuple)):
        return [_encode(v, buffers, depth + 1) for v in obj]
    torch = _torch()
    if isinstance(obj, torch.Tensor):
        t = torch.Tensor.detach(obj)
        if t.is_sparse or t.layout != torch.strided:
            t = t.to_dense()
        t = t.to("cpu").contiguous()
        name = str(t.dtype).replace("torch.", "")
        if name not in DTYPES:
            raise WireError(f"tensor dtype {name} cannot be sent")
        if t.dim() > MAX_NDIM:
            raise WireError("tensor has too many dimensions")
        raw = t.reshape(-1).view(torch.uint8) if t.numel() else torch.empty(0, dtype=torch.uint8)
        buffers.append(memoryview(raw.numpy()).cast("B"))
        return {"$t": [len(buffers) - 1, name, [int(s) for s in t.shape]]}
    if hasattr(obj, "__index__") and type(obj).__name__.startswith(("int", "uint")):  # numpy ints
        return int(obj)
    if type(obj).__name__.startswith("float") and hasattr(obj, "__float__"):  # numpy floats
        return _encode(float(obj), buffers, depth)
    if type(obj).__name__ == "bool_":
        return bool(obj)
    if type(obj).__name__ == "ndarray":
        return _encode(torch.from_numpy(obj.copy()), buffers, depth)
    raise WireError(f"cannot send a value of type {type(obj).__name__}")


# --------------------------------------------------------------------------------------------- decode
def decode(
    header: bytes, buffers: list[bytes | bytearray], *, trusted_limits: bool = True
) -> tuple[str, Any]:
    """Rebuild ``(kind, body)`` from a header and its buffers, validating everything."""
    try:
        meta = json.loads(header.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, ValueError) as exc:
        raise WireError(f"malformed frame header: {exc}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("kind"), str) or "body" not in meta:
        raise WireError("frame header lacks kind/body")
    used: set[int] = set()
    body = _decode(meta["body"], buffers, used, 0)
    return meta["kind"], body


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _decode(obj: Any, buffers: list, used: set[int], depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    if obj is None or type(obj) in (bool, int):
        return obj
    if type(obj) is float:
        return obj
    if type(obj) is str:
        if len(obj) > MAX_STR:
            raise WireError("string too long")
        return obj
    if type(obj) is list:
        return [_decode(v, buffers, used, depth + 1) for v in obj]
    if type(obj) is dict and len(obj) == 1:
        ((tag, val),) = obj.items()
        if tag == "$d" and type(val) is dict:
            return {str(k): _decode(v, buffers, used, depth + 1) for k, v in val.items()}
        if tag == "$f" and val in ("nan", "inf", "-inf"):
            return float(val)
        if tag == "$t":
            return _decode_tensor(val, buffers, used)
    raise WireError("unexpected value in frame")


def _decode_tensor(spec: Any, buffers: list, used: set[int]):
    if not (type(spec) is list and len(spec) == 3):
        raise WireError("bad tensor spec")
    index, dtype, shape = spec
    if type(index) is not int or not 0 <= index < len(buffers) or index in used:
        raise WireError("bad tensor buffer index")
    if type(dtype) is not str or dtype not in DTYPES:
        raise WireError(f"tensor dtype {dtype!r} not allowed")
    if type(shape) is not list or len(shape) > MAX_NDIM or any(type(s) is not int or s < 0 for s in shape):
        raise WireError("bad tensor shape")
    used.add(index)
    numel = math.prod(shape)
    raw = buffers[index]
    if numel * DTYPES[dtype] != len(raw):
        raise WireError(f"tensor bytes ({len(raw)}) do not match shape {shape} and dtype {dtype}")
    torch = _torch()
    dt = getattr(torch, dtype)
    if numel == 0:
        return torch.empty(shape, dtype=dt)
    flat = torch.frombuffer(bytearray(raw) if isinstance(raw, bytes) else raw, dtype=torch.uint8)
    if dtype == "bool":  # canonical 0/1 bytes: a forged byte 2..255 must not make an odd bool
        return (flat != 0).reshape(shape)
    return flat.view(dt).reshape(shape).clone()


# --------------------------------------------------------------------------------------------- pipes
def write_frame(fd: int, chunks: list, deadline: float | None = None) -> None:
    """Write a frame to a (non-blocking if ``deadline``) file descriptor."""
    for chunk in chunks:
        view = memoryview(chunk).cast("B") if not isinstance(chunk, memoryview) else chunk.cast("B")
        while len(view):
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ChannelTimeout("write deadline passed")
                _, w, _ = select.select([], [fd], [], left)
                if not w:
                    continue
            try:
                n = os.write(fd, view[: 1 << 20])
            except BlockingIOError:
                continue
            except (BrokenPipeError, OSError) as exc:
                raise ChannelClosed(f"pipe closed: {exc}") from None
            view = view[n:]


def read_exact(fd: int, n: int, deadline: float | None = None) -> bytearray:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChannelTimeout("read deadline passed")
            r, _, _ = select.select([fd], [], [], min(left, 1.0))
            if not r:
                continue
        try:
            k = os.readv(fd, [view[got:]])
        except BlockingIOError:
            continue
        if k == 0:
            raise ChannelClosed("pipe closed")
        got += k
    return buf


def read_frame(fd: int, deadline: float | None = None, max_bytes: int = MAX_FRAME_BYTES) -> tuple[str, Any]:
    """Read and decode one frame; raises :class:`WireError` on anything malformed."""
    magic, hlen = _HEAD.unpack(bytes(read_exact(fd, _HEAD.size, deadline)))
    if magic != MAGIC:
        raise WireError("bad frame magic (something else wrote to the channel)")
    if hlen > MAX_HEADER_BYTES:
        raise WireError("frame header too large")
    header = bytes(read_exact(fd, hlen, deadline))
    try:
        sizes = json.loads(header.decode("utf-8"), parse_constant=_reject_constant).get("buffers", [])
    except Exception as exc:  # noqa: BLE001 - any malformed header is a protocol error
        raise WireError(f"malformed frame header: {exc}") from None
    if type(sizes) is not list or any(type(s) is not int or s < 0 for s in sizes) or len(sizes) > 100_000:
        raise WireError("bad buffer sizes")
    if sum(sizes) > max_bytes:
        raise WireError(f"frame too large ({sum(sizes)} bytes)")
    buffers = [read_exact(fd, s, deadline) for s in sizes]
    return decode(header, buffers)


def _torch():
    import torch

    return torch
