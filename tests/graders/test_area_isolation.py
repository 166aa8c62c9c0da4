"""One mistake, one charge, proved part by part: the solution with ONE graded function replaced by a stub
that raises is graded on its exercise; every test that does not name that function's area keeps full
marks (so no test of another area runs that function), and the function's own area loses points.

A stub is the strongest mistake: whatever a test would read of the function, it cannot. The corpus
(``test_grader_corpus.py``) adds the realistic mistakes of ``train_one_epoch``, the one function that
holds several areas.
"""

from __future__ import annotations

import ast

import pytest
from corpus import failing, grade_variants, lost_outside, solution_modules

pytestmark = [pytest.mark.slow]

# graded function (module, qualified names) -> the areas whose TODO it holds, and the exercise it is graded in
FUNCTIONS = {
    "causal_mask": ("attention", ("causal_mask",), {"causal_mask"}, "ex1"),
    "sdpa": ("attention", ("scaled_dot_product_attention",), {"sdpa"}, "ex1"),
    "mha": ("attention", ("MultiHeadAttention.forward",), {"mha"}, "ex1"),
    "pe": ("positional", ("SinusoidalPositionalEncoding.__init__", "SinusoidalPositionalEncoding.forward"),
           {"pe"}, "ex1"),
    "encoder_layer": ("transformer", ("TransformerEncoderLayer.forward",), {"encoder_layer"}, "ex1"),
    "patch_embed": ("vit", ("PatchEmbedding.forward",), {"patch_embed"}, "ex1"),
    "replace_head": ("transfer", ("replace_head",), {"replace_head"}, "ex2"),
    "freeze": ("transfer", ("freeze_backbone",), {"freeze"}, "ex2"),
    "param_groups": ("transfer", ("param_groups",), {"param_groups"}, "ex2"),
    "train_one_epoch": ("training", ("train_one_epoch",), {"train_loop", "amp", "accumulation", "schedule"}, "ex3"),
    "build_optimizer": ("optim", ("build_optimizer",), {"optimizer"}, "ex3"),
    "warmup_cosine": ("optim", ("warmup_cosine",), {"schedule"}, "ex3"),
}


def stub_out(source: str, qualname: str) -> str:
    """``source`` with the body of ``qualname`` (``f`` or ``Class.method``) after its docstring replaced
    by ``raise NotImplementedError``."""
    node: ast.AST = ast.parse(source)
    for part in qualname.split("."):
        node = next(n for n in node.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == part)
    body = node.body
    first = body[1] if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) else body[0]
    lines = source.splitlines(keepends=True)
    indent = " " * first.col_offset
    start, end = first.lineno - 1, body[-1].end_lineno
    return "".join(lines[:start] + [f"{indent}raise NotImplementedError('stubbed for the isolation test')\n"]
                   + lines[end:])


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = solution_modules()
    variants = {}
    for name, (module, qualnames, _, exercise) in FUNCTIONS.items():
        modules = dict(base)
        for qualname in qualnames:
            modules[module] = stub_out(modules[module], qualname)
        variants[name] = (modules, (exercise,))
    return grade_variants(variants, tmp_path_factory.mktemp("isolation"))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_broken_function_costs_only_its_own_areas(function, graded):
    _, _, areas, _ = FUNCTIONS[function]
    result = graded[function]
    lost = failing(result)
    elsewhere = {tid: lost[tid][:200] for tid in lost_outside(result, areas)}
    assert not elsewhere, f"stubbing {function} cost points outside {sorted(areas)}: {elsewhere}"
    assert len(elsewhere) < len(lost), f"stubbing {function} cost nothing in {sorted(areas)}"


def test_stub_out_keeps_the_docstring_and_the_rest():
    source = 'def f(x):\n    """Doc."""\n    y = x\n    return y\n\n\ndef g():\n    return 1\n'
    out = stub_out(source, "f")
    assert '"""Doc."""' in out and "return y" not in out and "def g():\n    return 1" in out
    namespace: dict = {}
    exec(compile(out, "<stub>", "exec"), namespace)  # noqa: S102 - our own string
    with pytest.raises(NotImplementedError):
        namespace["f"](1)
