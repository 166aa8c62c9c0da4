"""The from-scratch rule's two detectors, each on its own (fast, no engine): the static scan of the
submitted source and the run-time call trace. Both must flag attention that delegates to a library,
however it is hidden, and neither may flag the solution, the samples or code that merely imports torch.
(Graded end to end through the engine: ``cases_shortcuts.py`` in the grader corpus.)"""

from __future__ import annotations

import contextlib
import importlib
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograder import REPO_ROOT
from autograder.child.probes import CallTrace
from autograder.graders.shortcuts import scan_source, trace_findings

ATTENTION_FILES = sorted(
    p for p in [*REPO_ROOT.glob("source/lab3/*.py"), *REPO_ROOT.glob("solutions/lab3/*.py"),
                *REPO_ROOT.glob("assignments/lab3/*.py"), *REPO_ROOT.glob("examples/submissions/*/lab3/*.py")]
    if p.stem in ("attention", "transformer")
)  # fmt: skip


def _scan(code: str, module: str = "attention") -> list:
    return scan_source(textwrap.dedent(code), module)


# ----------------------------------------------------------------------------------------- static: no false flags
@pytest.mark.parametrize("path", ATTENTION_FILES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_static_scan_passes_the_solution_stubs_and_samples(path: Path):
    assert ATTENTION_FILES
    assert scan_source(path.read_text(), path.stem) == []


@pytest.mark.parametrize("code", [
    "import torch",
    "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\nfrom torch import Tensor, nn",
    "from torch.nn import functional as F\nimport math, typing, collections, functools, itertools, numpy as np",
    "import einops\nfrom einops import rearrange\nimport warnings",
    # the given code mentions nn.MultiheadAttention in an annotation and error messages
    """
    from torch import nn
    class MultiHeadAttention(nn.Module):
        def load_torch_weights(self, mha: nn.MultiheadAttention) -> 'MultiHeadAttention':
            raise ValueError(f"expected nn.MultiheadAttention with embed_dim={mha.embed_dim}")
    """,
    # the student's own function of that name, and a self-check that grading never runs
    """
    import torch.nn.functional as F
    def scaled_dot_product_attention(q, k, v, mask=None, dropout_p=0.0, training=False):
        w = F.softmax(q @ k.transpose(-2, -1) / q.size(-1) ** 0.5, dim=-1)
        return F.dropout(w, dropout_p, training) @ v, w
    class MultiHeadAttention:
        def forward(self, q):
            a = getattr(self, "q_proj")
            return scaled_dot_product_attention(q, q, q)
    if __name__ == "__main__":
        x = __import__("torch").randn(2, 3, 4)
        print(F.scaled_dot_product_attention(x, x, x))
    """,
])  # fmt: skip
def test_static_scan_no_false_flags(code):
    assert _scan(code) == []


# ----------------------------------------------------------------------------------------- static: hidden calls
@pytest.mark.parametrize("code, area", [
    ("import torch.nn.functional as F\ndef scaled_dot_product_attention(q, k, v):\n"
     "    return F.scaled_dot_product_attention(q, k, v), None", "sdpa"),
    ("from torch.nn.functional import scaled_dot_product_attention as attend", "sdpa"),
    ("import torch.nn.functional as F\n_f = F.scaled_dot_product_attention\n"
     "class MultiHeadAttention:\n    def forward(self, q):\n        return _f(q, q, q)", "mha"),
    ("import torch.nn.functional as F\nclass MultiHeadAttention:\n    def forward(self, q):\n"
     "        return getattr(F, 'scaled_dot_product_attention')(q, q, q)", "mha"),
    ("import torch.nn.functional as F\nclass MultiHeadAttention:\n    def forward(self, q):\n"
     "        name = 'scaled_dot' + '_product_attention'\n        return getattr(F, name)(q, q, q)", "mha"),
    ("import importlib\nclass MultiHeadAttention:\n    def forward(self, q):\n"
     "        return importlib.import_module('torch.nn.functional')", "mha"),
    ("class MultiHeadAttention:\n    def forward(self, q):\n        return __import__('torch').nn", "mha"),
    ("class MultiHeadAttention:\n    def forward(self, q):\n        return eval('q')", "mha"),
    ("import torch\ndef scaled_dot_product_attention(q, k, v):\n    return torch._C._nn.linear", "sdpa"),
    ("import torch\ndef scaled_dot_product_attention(q, k, v):\n    return torch.ops.aten.mm(q, k)", "sdpa"),
    ("import sys\ndef scaled_dot_product_attention(q, k, v):\n    return sys.modules['torch']", "sdpa"),
    ("from torch import nn\nclass MultiHeadAttention(nn.Module):\n    def forward(self, q):\n"
     "        return nn.MultiheadAttention(4, 2)(q, q, q)", "mha"),
    ("from transformers.models.bert.modeling_bert import BertSelfAttention", "mha"),
    ("import torch\nfrom torch.utils._python_dispatch import _get_current_dispatch_mode_stack", "sdpa"),
    ("import torch\ndef scaled_dot_product_attention(q, k, v):\n"
     "    with torch._C.DisableTorchFunction():\n        return q", "sdpa"),
])  # fmt: skip
def test_static_scan_flags_hidden_calls(code, area):
    found = _scan(code)
    assert found and any(area in f.areas for f in found), found


def test_static_scan_transformer_module():
    code = """
    from torch import nn
    from lab3.attention import MultiHeadAttention
    class TransformerEncoderLayer(nn.Module):
        def forward(self, src):
            return nn.TransformerEncoderLayer(8, 2, batch_first=True)(src)
    class Seq2SeqTransformer(nn.Module):  # given code: not a graded area
        pass
    """
    found = _scan(code, "transformer")
    assert [f.areas for f in found] == [("encoder_layer",)] and found[0].where == "TransformerEncoderLayer.forward"


def test_static_scan_attributes_to_the_enclosing_function():
    code = """
    import torch.nn.functional as F
    def causal_mask(size):
        return F.scaled_dot_product_attention  # not an attention area
    def scaled_dot_product_attention(q, k, v):
        return F.multi_head_attention_forward
    """
    found = _scan(code)
    assert [(f.where, f.areas) for f in found] == [("scaled_dot_product_attention", ("sdpa",))]


# ------------------------------------------------------------------------------------------------- run time
def _traced(fn, *args, **kwargs) -> dict:
    with CallTrace() as trace:
        trace.run(fn, *args, **kwargs)
    return trace.report()


X = torch.randn(2, 5, 8, dtype=torch.float64)


def _own_sdpa(q, k, v):
    w = torch.softmax(q @ k.transpose(-2, -1) / q.size(-1) ** 0.5, dim=-1)
    return F.dropout(w, 0.0, False) @ v, w


def _via_getattr_string(q, k, v):
    return getattr(F, "scaled_dot" + "_product_attention")(q, k, v), None


def _via_importlib(q, k, v):
    return importlib.import_module("torch.nn." + "functional").scaled_dot_product_attention(q, k, v), None


def _via_private_binding(q, k, v):
    return torch._C._nn.scaled_dot_product_attention(q, k, v), None


def _via_torch_ops(q, k, v):
    return torch.ops.aten.scaled_dot_product_attention(q, k, v), None


def _with_torch_function_off(q, k, v):
    with torch._C.DisableTorchFunction():  # hides the function call; the operator still shows
        return F.scaled_dot_product_attention(q, k, v), None


def _torch_mha(q, k, v):
    return nn.MultiheadAttention(8, 2, batch_first=True).double()(q, k, v)


def _torch_mha_forward_direct(q, k, v):  # bypasses module hooks: the functional call still shows
    m = nn.MultiheadAttention(8, 2, batch_first=True).double()
    return nn.MultiheadAttention.forward(m, q, k, v)


def _torch_encoder_layer(q, k, v):
    return nn.TransformerEncoderLayer(8, 2, 16, batch_first=True).double().eval()(q), None


def _everything_off(q, k, v):
    """Switches both recorders off for its own call (and only then): reported as such."""
    from torch.utils._python_dispatch import _disable_current_modes

    with contextlib.ExitStack() as stack:
        stack.enter_context(torch._C.DisableTorchFunction())
        stack.enter_context(_disable_current_modes())
        return F.scaled_dot_product_attention(q, k, v), None


@pytest.mark.parametrize("fn", [_own_sdpa])
def test_trace_passes_own_attention(fn):
    assert trace_findings(_traced(fn, X, X, X), "sdpa") == []


def test_trace_passes_the_solution_modules():
    from lab3.attention import MultiHeadAttention, scaled_dot_product_attention
    from lab3.transformer import TransformerEncoderLayer

    q = X.clone().requires_grad_(True)
    with CallTrace() as trace:
        out, _ = trace.run(scaled_dot_product_attention, q, X, X, mask=torch.ones(5, 5, dtype=torch.bool).triu(1))
        out.sum().backward()
        trace.run(MultiHeadAttention(8, 2, dropout=0.1).double().train(), X, X, X, need_weights=False)
        trace.run(TransformerEncoderLayer(8, 2, 16).double().eval(), X)
    report = trace.report()
    for area in ("sdpa", "mha", "encoder_layer"):
        assert trace_findings(report, area) == []


@pytest.mark.parametrize("fn", [_via_getattr_string, _via_importlib, _via_private_binding, _via_torch_ops,
                                _with_torch_function_off, _torch_mha, _torch_mha_forward_direct,
                                _torch_encoder_layer, _everything_off])  # fmt: skip
def test_trace_sees_hidden_calls(fn):
    found = trace_findings(_traced(fn, X, X, X), "mha")
    assert found, fn.__name__


def test_trace_sees_another_librarys_attention_class():
    transformers = pytest.importorskip("transformers")
    from transformers.models.bert.modeling_bert import BertSelfAttention

    config = transformers.BertConfig(hidden_size=8, num_attention_heads=2, attn_implementation="eager")
    layer = BertSelfAttention(config).double().eval()
    found = trace_findings(_traced(lambda q, k, v: layer(q), X, X, X), "mha")
    assert any("BertSelfAttention" in f for f in found), found
