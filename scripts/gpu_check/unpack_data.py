"""Rebuild a CIFAR-10 data home from ``.gpu_carry/cifar_subset.npz`` (numpy only; run on the GPU machine).

Writes ``DIR/cifar10/{train,test}_{images,labels}.npy`` with the full shapes and dtypes that
``autograder.graders.checks.cifar10_arrays`` reads (``LAB3_DATA_DIR=DIR``): real labels, images all zero
except the rows the hidden graders use. Not the verified data set: for grading checks only.

    python3 scripts/gpu_check/unpack_data.py DIR [--subset .gpu_carry/cifar_subset.npz]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path, help="data home to write (LAB3_DATA_DIR)")
    parser.add_argument("--subset", type=Path, default=REPO / ".gpu_carry" / "cifar_subset.npz")
    args = parser.parse_args()
    root = args.dir / "cifar10"
    root.mkdir(parents=True, exist_ok=True)
    with np.load(args.subset) as z:
        for split in ("train", "test"):
            images = np.zeros(tuple(z[f"{split}_shape"]), dtype=np.uint8)
            images[z[f"{split}_idx"]] = z[f"{split}_rows"]
            np.save(root / f"{split}_images.npy", images)
            np.save(root / f"{split}_labels.npy", z[f"{split}_labels"])
            print(f"{split}: {images.shape} images ({len(z[f'{split}_idx'])} real rows), "
                  f"{z[f'{split}_labels'].shape} labels")
    (root / "SOURCE.txt").write_text(f"CIFAR-10 subset for the GPU check (rows the graders read), from {args.subset}\n")
    print(f"LAB3_DATA_DIR={args.dir}")


if __name__ == "__main__":
    main()
