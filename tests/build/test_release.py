"""`lab3 build` end to end on a small fake course tree, and on the real one."""

from pathlib import Path

import pytest

from autograder import REPO_ROOT
from autograder.build.release import build_releases, check, run_build

NOTEBOOK = '''# %% [markdown]
# # Tiny lab

# %%
from lab3 import mod

# %%
x = 2
### BEGIN SOLUTION
y = mod.double(x)
### END SOLUTION
'''


@pytest.fixture
def course(tmp_path: Path) -> Path:
    (tmp_path / "source" / "lab3").mkdir(parents=True)
    (tmp_path / "source" / "tests").mkdir()
    (tmp_path / "source" / "lab3" / "__init__.py").write_text('"""tiny"""\n')
    (tmp_path / "source" / "lab3" / "mod.py").write_text(
        'def double(x):\n    """Twice x."""\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n')
    (tmp_path / "source" / "tests" / "test_mod.py").write_text(
        "from lab3 import mod\n\n\ndef test_double():\n    assert mod.double(2) == 4\n"
        "    ### BEGIN HIDDEN TESTS\n    assert mod.double(3) == 6\n    ### END HIDDEN TESTS\n")
    (tmp_path / "source" / "Lab3.py").write_text(NOTEBOOK)
    assert run_build(root=tmp_path) == 0
    return tmp_path


def test_build_is_deterministic(course):
    first, second = build_releases(course), build_releases(course)
    assert first == second
    assert (course / "assignments" / "Lab3.ipynb").read_bytes() == first.assignments["Lab3.ipynb"]


def test_releases_have_expected_content(course):
    stub = (course / "assignments" / "lab3" / "mod.py").read_text()
    assert "return 2 * x" not in stub and "NotImplementedError" in stub and '"""Twice x."""' in stub
    assert "return 2 * x" in (course / "solutions" / "lab3" / "mod.py").read_text()
    assert "double(3)" not in (course / "assignments" / "tests" / "test_mod.py").read_text()
    nb = (course / "assignments" / "Lab3.ipynb").read_text()
    assert "mod.double(x)" not in nb and "NotImplementedError" in nb
    assert "mod.double(x)" in (course / "solutions" / "Lab3.ipynb").read_text()
    for name in ("README.md", "requirements.txt"):
        assert (course / "assignments" / name).exists()


def test_check_clean_then_detects_stale_file(course):
    assert check(course) == []
    (course / "source" / "lab3" / "mod.py").write_text(
        'def double(x):\n    """Twice x, changed."""\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n')
    problems = check(course)
    assert any("assignments/lab3/mod.py: stale" in p for p in problems)


def test_check_detects_extra_file(course):
    (course / "solutions" / "lab3" / "extra.py").write_text("x = 1\n")
    assert any("solutions/lab3/extra.py: not produced" in p for p in check(course))


def test_check_detects_planted_leak(course):
    stub = course / "assignments" / "lab3" / "mod.py"
    stub.write_text(stub.read_text().replace("    # TODO", "    return 2*x\n    # TODO"))
    assert any("assignments/lab3/mod.py:" in p and "solution code" in p for p in check(course))


def test_check_detects_broken_marker(course):
    (course / "source" / "lab3" / "mod.py").write_text("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n")
    problems = check(course)
    assert len(problems) == 1 and "source/lab3/mod.py:2" in problems[0] and "never closed" in problems[0]
    assert run_build(root=course) == 1  # and the committed releases are left as they were
    assert "return 2 * x" not in (course / "assignments" / "lab3" / "mod.py").read_text()


def test_check_detects_module_that_fails_to_import(course):
    bad = 'import no_such_module_xyz\n'
    for release in ("assignments", "solutions"):
        (course / release / "lab3" / "broken.py").write_text(bad)
    (course / "source" / "lab3" / "broken.py").write_text(bad)
    problems = check(course)
    assert any("fails to import" in p and "broken.py" in p for p in problems)


def test_real_package_stubs_name_their_function():
    """Every TODO of the real package raises NotImplementedError naming the function and the file."""
    built = build_releases(REPO_ROOT)
    modules = {rel: data.decode() for rel, data in built.assignments.items() if rel.startswith("lab3/")}
    assert modules, "the real package has no modules"
    for rel, text in modules.items():
        assert "### BEGIN" not in text, f"{rel} still has a marker"
        assert 'NotImplementedError("your code here")' not in text, f"{rel}: a TODO outside any function"
        for line in text.splitlines():
            if "raise NotImplementedError(" in line:
                assert f"({rel})" in line, line
