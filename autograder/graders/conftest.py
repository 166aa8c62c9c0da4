"""Fixtures and markers of the hidden graders (run only inside the trusted grading session).

``student``: the door to the sandboxed student code, see :class:`autograder.engine.plugin.StudentProxy`::

    out = student.call("attention.sdpa", timeout=10, q=q, k=k, v=v)   # dict of plain data

Markers: ``@pytest.mark.grade(points=3, tags=["ex1", "sdpa"], visibility="visible")`` on every grader,
``@pytest.mark.gpu`` on graders that need CUDA (decided from the hardware by the engine).
"""

from __future__ import annotations

import pytest

from autograder.engine.plugin import MARKERS, StudentProxy, student_fixture


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)


@pytest.fixture(scope="session")
def student(request: pytest.FixtureRequest) -> StudentProxy:
    """The sandboxed student submission (probe calls with deadlines), with the from-scratch rule of the
    attention areas applied to its calls (``autograder/graders/shortcuts.py``)."""
    from autograder.graders.shortcuts import CheckedStudent

    return CheckedStudent(student_fixture(request))  # type: ignore[return-value]


@pytest.fixture
def rng() -> torch.Generator:  # noqa: F821 - torch imported lazily
    """A CPU generator with a fixed seed, fresh for each test."""
    import torch

    return torch.Generator().manual_seed(1234)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the transfer graders last. Their references import torchvision and timm into this trusted
    process (~125 MB that stays); the other exercises' training graders, whose sandbox child peaks, then
    run while this process is still small (the memory budget counts both processes). Reports follow the manifest's
    order, not this one."""
    items.sort(key=lambda item: item.module is not None and item.module.__name__.endswith("test_ex2_transfer"))
