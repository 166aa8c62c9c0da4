"""Marker parsing, stubs and solutions (the core of `lab3 build`)."""

import pytest

from autograder.build.markers import MarkerError, find_regions, make_solution, make_stub, solution_leaks

MASTER = '''import math


def area(r: float) -> float:
    """Area of a circle."""
    ### BEGIN SOLUTION
    squared = r * r
    return math.pi * squared
    ### END SOLUTION


class Box:
    def volume(self) -> float:
        """Volume."""
        ### BEGIN SOLUTION
        return self.w * self.h * self.d
        ### END SOLUTION


def given(x):
    return x + 1
'''


def test_stub_replaces_body_with_named_todo():
    stub = make_stub(MASTER, "m.py", "lab3/m.py")
    assert "math.pi" not in stub and "self.w" not in stub
    assert 'raise NotImplementedError("area (lab3/m.py) is not implemented yet' in stub
    assert 'raise NotImplementedError("Box.volume (lab3/m.py)' in stub
    assert '"""Area of a circle."""' in stub and "def given(x):\n    return x + 1" in stub
    namespace: dict = {}
    exec(compile(stub, "m.py", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="area"):
        namespace["area"](1.0)
    assert namespace["given"](1) == 2


def test_solution_drops_markers_keeps_code():
    sol = make_solution(MASTER)
    assert "BEGIN" not in sol and "END SOLUTION" not in sol
    namespace: dict = {}
    exec(sol, namespace)
    assert namespace["area"](1.0) == pytest.approx(3.14159, rel=1e-5)


def test_hidden_tests_removed_from_both():
    text = "def test_a():\n    assert 1\n    ### BEGIN HIDDEN TESTS\n    assert 2 == 2\n    ### END HIDDEN TESTS\n"
    assert "2 == 2" not in make_stub(text) and "2 == 2" not in make_solution(text)


@pytest.mark.parametrize("text, message", [
    ("def f():\n    ### BEGIN SOLUTION\n    return 1\n", "never closed"),
    ("def f():\n    return 1\n    ### END SOLUTION\n", "without a matching BEGIN"),
    ("def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n", "nested"),
    ('def f():\n    """### BEGIN SOLUTION"""\n    return 1\n', "inside code or a string"),
    ("def f():\n    ### BEGIN HIDDEN TESTS\n    return 1\n    ### END SOLUTION\n", "closes a hidden region"),
    ("def f():\n    ### BEGIN SOLUTION please\n    return 1\n", "malformed"),
])
def test_broken_markers_name_file_and_line(text, message):
    with pytest.raises(MarkerError, match=message) as info:
        find_regions(text, "lab3/broken.py")
    assert "lab3/broken.py:" in str(info.value)


def test_leak_detection_is_ast_level():
    stub = make_stub(MASTER, "m.py")
    assert solution_leaks(MASTER, stub, "stub.py") == []
    # the same statement, reformatted, planted in the stub
    todo = "    # TODO: implement area"
    leaked = stub.replace(todo, "    squared = (r*r)  # reformatted\n" + todo)
    problems = solution_leaks(MASTER, leaked, "stub.py")
    assert len(problems) == 1 and problems[0].startswith("stub.py:") and "solution code" in problems[0]


def test_statement_also_in_given_code_is_not_a_leak():
    master = ("def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n\n\n"
              "def g(x):\n    return x + 1\n")
    assert solution_leaks(master, make_stub(master)) == []
