"""Probes for ``lab3.vit`` (run in the sandbox; see ``autograder/child/probes/__init__.py``)."""

from __future__ import annotations

from typing import Any

from autograder.child.memtrim import release_memory
from autograder.child.probes import seed, tensor_or_none


def patch_embed(
    image_size: int, patch_size: int, in_channels: int, embed_dim: int, weight, bias, x, grad=False
):
    """The student's ``PatchEmbedding.forward`` with ``proj`` weights copied in (``grad``: d/d weight)."""
    import torch
    from lab3.vit import PatchEmbedding

    pe = PatchEmbedding(image_size, patch_size, in_channels, embed_dim).to(x.dtype)
    with torch.no_grad():
        pe.proj.weight.copy_(weight)
        pe.proj.bias.copy_(bias)
    out = pe(x)
    res: dict[str, Any] = {"out": tensor_or_none(out), "num_patches": getattr(pe, "num_patches", None)}
    if grad and isinstance(out, torch.Tensor):
        g = torch.Generator().manual_seed(7)
        (out * torch.randn(out.shape, generator=g, dtype=out.dtype)).sum().backward()
        res["grad_weight"] = tensor_or_none(pe.proj.weight.grad)
    return res


def train_vit(train_images, train_labels, test_images, epochs: int, seed_value: int = 0) -> dict[str, Any]:
    """Train the given ``VisionTransformer`` with the student's ``PatchEmbedding`` (and the grader's encoder
    layers) briefly; predict ``test_images``.

    Images arrive as uint8 ``(N, 32, 32, 3)``; only test predictions go back (the grader keeps the labels).
    """
    import math

    import lab3.vit
    import torch
    import torch.nn.functional as F

    from autograder.child.probes import trusted

    seed(seed_value)
    torch.set_num_threads(1)
    mean = torch.tensor((0.4914, 0.4822, 0.4465)).view(1, 3, 1, 1)
    std = torch.tensor((0.2470, 0.2435, 0.2616)).view(1, 3, 1, 1)

    def prep(images):  # in place after the one copy: the same values without three temporaries
        return images.permute(0, 3, 1, 2).float().div_(255).sub_(mean).div_(std)  # (N, 3, 32, 32)

    x, y, x_test = prep(train_images), train_labels.long(), prep(test_images)
    # the student's PatchEmbedding with the grader's encoder layers: attention is graded by its own tests
    with trusted.swapped(lab3.vit, TransformerEncoderLayer=trusted.TransformerEncoderLayer):
        model = lab3.vit.VisionTransformer(patch_size=4, embed_dim=64, depth=2, num_heads=4, mlp_ratio=2.0)
    batch = 64
    total = epochs * math.ceil(len(x) / batch)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.05)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=total, pct_start=0.15)
    g = torch.Generator().manual_seed(seed_value)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), batch):
            idx = perm[i : i + batch]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
    del x, y, optimizer, scheduler
    release_memory()  # what training left in the allocator is not carried into the evaluation's peak
    model.eval()
    with torch.no_grad():
        # batches of 100: 500 at once made the attention weights of evaluation the peak (+100 MB)
        pred = torch.cat([model(x_test[i : i + 100]).argmax(1) for i in range(0, len(x_test), 100)])
    return {"pred": tensor_or_none(pred)}
