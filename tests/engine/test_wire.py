"""The wire format: round trips, and a decoder that refuses anything but plain, well-formed data."""

from __future__ import annotations

import json
import os
import struct
import time

import pytest
import torch

from autograder.child import wire


def roundtrip(value):
    chunks = wire.encode("ok", value)
    blob = b"".join(bytes(c) for c in chunks)
    hlen = struct.unpack(">Q", blob[4:12])[0]
    header = blob[12 : 12 + hlen]
    sizes = json.loads(header)["buffers"]
    bufs, pos = [], 12 + hlen
    for s in sizes:
        bufs.append(blob[pos : pos + s])
        pos += s
    return wire.decode(header, bufs)


@pytest.mark.parametrize(
    "dtype",
    [
        torch.float16,
        torch.bfloat16,
        torch.float32,
        torch.float64,
        torch.uint8,
        torch.int8,
        torch.int16,
        torch.int32,
        torch.int64,
        torch.bool,
        torch.complex64,
    ],
)
def test_tensor_roundtrip_every_dtype(dtype):
    t = (torch.randn(3, 4, 5) * 10).to(dtype)
    kind, back = roundtrip({"t": t, "empty": torch.empty(0, 3, dtype=dtype)})
    assert kind == "ok" and type(back["t"]) is torch.Tensor
    assert back["t"].dtype == dtype and torch.equal(back["t"], t)
    assert back["empty"].shape == (0, 3)


def test_plain_values_and_non_finite_floats():
    value = {
        "a": [1, 2.5, True, None, "s", {"nested": (1, 2)}],
        "nan": float("nan"),
        "inf": float("-inf"),
        "$t": "user key that looks like a tag",
    }
    _, back = roundtrip(value)
    assert back["a"] == [1, 2.5, True, None, "s", {"nested": [1, 2]}]
    assert back["nan"] != back["nan"] and back["inf"] == float("-inf")
    assert back["$t"] == "user key that looks like a tag"


def test_non_contiguous_and_subclass_become_plain():
    class Liar(torch.Tensor):
        def __eq__(self, other):
            return True

    t = torch.arange(12.0).reshape(3, 4).T.as_subclass(Liar)
    _, back = roundtrip({"t": t})
    assert type(back["t"]) is torch.Tensor
    assert torch.equal(back["t"], torch.arange(12.0).reshape(3, 4).T)


def test_refuses_unsendable():
    with pytest.raises(wire.WireError):
        wire.encode("ok", {"x": object()})
    with pytest.raises(wire.WireError):
        wire.encode("ok", {1: 2})


def _frame(header: dict, bufs: list[bytes]) -> tuple[bytes, list[bytes]]:
    return json.dumps(header).encode(), bufs


@pytest.mark.parametrize(
    "header,bufs",
    [
        ({"kind": "ok", "body": {"$t": [0, "float32", [2, 2]]}, "buffers": [15]}, [b"x" * 15]),  # wrong size
        ({"kind": "ok", "body": {"$t": [0, "object", [1]]}, "buffers": [8]}, [b"x" * 8]),  # dtype not allowed
        ({"kind": "ok", "body": {"$t": [3, "uint8", [1]]}, "buffers": [1]}, [b"x"]),  # bad index
        ({"kind": "ok", "body": {"$t": [0, "uint8", [-1]]}, "buffers": [1]}, [b"x"]),  # negative shape
        ({"kind": "ok", "body": {"a": 1, "b": 2}}, []),  # untagged dict
        ({"kind": "ok", "body": {"$f": "zero"}}, []),
        ({"kind": 3, "body": None}, []),
    ],
)
def test_decoder_rejects_malformed(header, bufs):
    with pytest.raises(wire.WireError):
        wire.decode(json.dumps(header).encode(), bufs)


def test_decoder_rejects_nan_literal_and_deep_nesting():
    with pytest.raises(wire.WireError):
        wire.decode(b'{"kind": "ok", "body": NaN}', [])
    body = 1
    for _ in range(40):
        body = [body]
    deep = {"kind": "ok", "body": body}
    with pytest.raises(wire.WireError):
        wire.decode(json.dumps(deep).encode(), [])


def test_pipe_roundtrip_large_and_deadline():
    r, w = os.pipe()
    os.set_blocking(w, False)
    images = torch.randint(0, 255, (5000, 32, 32, 3), dtype=torch.uint8)
    import threading

    box = {}
    th = threading.Thread(target=lambda: box.setdefault("v", wire.read_frame(r, time.monotonic() + 30)))
    th.start()
    t0 = time.perf_counter()
    wire.write_frame(w, wire.encode("call", {"images": images}), time.monotonic() + 30)
    th.join()
    elapsed = time.perf_counter() - t0
    assert torch.equal(box["v"][1]["images"], images)
    assert elapsed < 5, f"15 MB took {elapsed:.2f} s"
    with pytest.raises(wire.ChannelTimeout):
        wire.read_frame(r, time.monotonic() + 0.2)
    os.write(w, b"XXXX" + struct.pack(">Q", 2) + b"{}")
    with pytest.raises(wire.WireError, match="magic"):
        wire.read_frame(r, time.monotonic() + 1)
    os.close(w)
    with pytest.raises(wire.ChannelClosed):
        wire.read_frame(r, time.monotonic() + 1)
    os.close(r)


def test_bool_bytes_are_canonical():
    header = json.dumps({"kind": "ok", "body": {"$t": [0, "bool", [3]]}, "buffers": [3]}).encode()
    _, t = wire.decode(header, [bytearray(b"\x00\x02\xff")])
    assert t.dtype == torch.bool and t.view(torch.uint8).tolist() == [0, 1, 1]
