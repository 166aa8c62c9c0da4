"""The "next steps" distillation loss against an independent float64 reference."""

from __future__ import annotations

import math

import pytest
import torch
from lab3.distillation import distillation_loss


def reference(student: torch.Tensor, teacher: torch.Tensor, targets: torch.Tensor, t: float, alpha: float) -> float:
    """Hinton et al. (2015) written out with plain loops in float64."""
    total_kl, total_ce = 0.0, 0.0
    for s_row, t_row, y in zip(student.double().tolist(), teacher.double().tolist(), targets.tolist(), strict=True):
        zs = [v / t for v in s_row]
        zt = [v / t for v in t_row]
        ls = math.log(sum(math.exp(v) for v in zs))
        lt = math.log(sum(math.exp(v) for v in zt))
        p_t = [math.exp(v - lt) for v in zt]
        total_kl += sum(p * ((a - lt) - (b - ls)) for p, a, b in zip(p_t, zt, zs, strict=True))
        total_ce += math.log(sum(math.exp(v) for v in s_row)) - s_row[y]
    n = len(targets)
    return alpha * t * t * total_kl / n + (1 - alpha) * total_ce / n


@pytest.mark.parametrize(("t", "alpha"), [(1.0, 0.5), (4.0, 0.9), (2.5, 0.0), (8.0, 1.0)])
def test_loss_equals_reference(t, alpha):
    gen = torch.Generator().manual_seed(int(t * 10 + alpha * 100))
    student = torch.randn(7, 10, generator=gen, dtype=torch.float64) * 3
    teacher = torch.randn(7, 10, generator=gen, dtype=torch.float64) * 3
    targets = torch.randint(0, 10, (7,), generator=gen)
    got = distillation_loss(student, teacher, targets, temperature=t, alpha=alpha)
    assert got.dim() == 0
    assert got.item() == pytest.approx(reference(student, teacher, targets, t, alpha), rel=1e-10, abs=1e-12)


def test_no_gradient_into_the_teacher_and_zero_soft_loss_when_equal():
    student = torch.randn(4, 5, requires_grad=True)
    teacher = torch.randn(4, 5, requires_grad=True)
    targets = torch.tensor([0, 1, 2, 3])
    distillation_loss(student, teacher, targets, temperature=3.0, alpha=0.7).backward()
    assert student.grad is not None and teacher.grad is None
    same = torch.randn(4, 5)
    assert distillation_loss(same, same.clone(), targets, temperature=3.0, alpha=1.0).abs().item() < 1e-6
