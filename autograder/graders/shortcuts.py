"""The "from scratch" rule of Exercise 1: attention must not delegate to a library's attention.

``scaled_dot_product_attention``, ``MultiHeadAttention.forward`` and ``TransformerEncoderLayer.forward``
are graded as the student's own code. Their docstrings forbid ``F.scaled_dot_product_attention``,
``nn.MultiheadAttention``, ``F.multi_head_attention_forward``, torch's Transformer layers and any other
library's attention. A submission that delegates gets every numeric check right, so two independent
detectors run on this trusted side:

* **run time** — every graded call of these three functions runs inside :class:`autograder.child.probes.CallTrace`
  (torch-function and dispatcher-level recording, plus a global module hook), and before the first
  graded call of an area a short battery of the same probes runs (3-D / 4-D, masks, train and eval
  mode, with and without weights). The probe only reports the names it saw; :func:`trace_findings`
  decides here. Aliases, ``getattr`` strings, ``importlib`` and private bindings all end in the same
  operators, so renaming does not hide a call; switching the recorders off is reported as such.
* **static** — :func:`scan_source` parses the submitted module (``ast``, never executed here) and reports
  references to the forbidden APIs (through any import alias, in attribute chains, ``from`` imports,
  strings given to ``getattr``/``importlib``/``__import__``), imports of attention libraries, and code
  that hides calls or switches off the recorders (``exec``/``eval``/``compile``, ``__import__``,
  ``importlib``, ``getattr`` with a computed name on a module, ``sys.modules``, ``torch._C``, ``torch.ops``,
  ``torch.overrides``, torch's dispatch-mode internals). Type annotations, docstrings and
  ``if __name__ == "__main__":`` blocks are not code that grading runs and are skipped.

Decision (see ``AUDIT.md``): a finding of either detector makes every test of the affected area fail
(score 0) with a message that says what was found and where; nothing else is penalised.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

import torch

from autograder.child.probes import trusted
from autograder.engine.errors import StudentError, StudentProblem
from autograder.graders.checks import fail

# ------------------------------------------------------------------------------------------ what is forbidden
FORBIDDEN_NAMES = {
    "scaled_dot_product_attention",
    "multi_head_attention_forward",
    "MultiheadAttention",
    "Transformer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "TransformerDecoder",
    "TransformerDecoderLayer",
}
# torch functions and ATen operators that compute attention (any alias of them ends in one of these)
FORBIDDEN_OP = re.compile(
    r"scaled_dot_product|multi_head_attention|native_multi_head|transformer_encoder_layer|transformer_decoder"
    r"|flash_attention|efficient_attention|cudnn_attention|_fused_sdp|_sdpa_|flex_attention|varlen_attn",
    re.IGNORECASE,
)
ATTENTION_LIBRARIES = {
    "transformers", "timm", "xformers", "flash_attn", "torchtext", "fairseq", "x_transformers",
    "torchtune", "torchmultimodal", "vit_pytorch", "performer_pytorch", "linear_attention_transformer",
    "local_attention", "einops_exts", "apex", "deepspeed", "megatron", "triton", "torchvision",
    "keras", "jax", "flax", "tensorflow", "mlx", "sentence_transformers", "open_clip", "clip", "peft",
    "autograder",  # the grader's own trusted parts run in the same process during other areas' tests
}  # fmt: skip
_FORBIDDEN_TORCH_MODULES = {"torch.nn.MultiheadAttention", "torch.nn.Transformer", "torch.nn.TransformerEncoder",
                            "torch.nn.TransformerEncoderLayer", "torch.nn.TransformerDecoder",
                            "torch.nn.TransformerDecoderLayer"}  # fmt: skip
TRUSTED_PARTS = f"{trusted.__name__}."
# names that only code hiding a call, or switching the recorders off, needs
_HIDING_MODULES = ("importlib", "builtins", "torch._C", "torch.ops", "torch.overrides", "torch._ops",
                   "torch.utils._python_dispatch", "torch._dispatch", "torch.library", "marshal", "types",
                   "torch._higher_order_ops", "torch._decomp", "torch._refs", "torch._prims")  # fmt: skip
_HIDING_CALLS = {"exec", "eval", "compile", "__import__", "globals", "vars"}

# which graded areas a place in a module belongs to: (module, class or function name) -> areas
AREAS = {"sdpa": ("attention", "scaled_dot_product_attention"), "mha": ("attention", "MultiHeadAttention"),
         "encoder_layer": ("transformer", "TransformerEncoderLayer")}  # fmt: skip
_GIVEN = {  # given (not TODO) code of other classes and functions: not part of a graded area
    "attention": {"causal_mask"},
    "transformer": {"_get_activation", "convert_torch_state_dict", "TransformerDecoderLayer", "Seq2SeqTransformer"},
}
PROBE_AREA = {"attention.sdpa": "sdpa", "attention.mha": "mha", "transformer.encoder_layer": "encoder_layer"}
WHAT = {
    "sdpa": "scaled_dot_product_attention",
    "mha": "MultiHeadAttention.forward",
    "encoder_layer": "TransformerEncoderLayer.forward",
}
RULE = ("The lab asks for attention written from scratch (see the docstring), so every test of {what} scores 0. "
        "If you think this is wrong, ask the course staff to look at your code.")  # fmt: skip


# ------------------------------------------------------------------------------------------------ static scan
@dataclass(frozen=True)
class Finding:
    line: int
    where: str  # "MultiHeadAttention.forward", "module level", ...
    text: str  # what was found, for the message
    areas: tuple[str, ...]


class _Scanner(ast.NodeVisitor):
    def __init__(self, module: str) -> None:
        self.module = module
        self.aliases: dict[str, str] = {}  # local name -> dotted module/object path
        self.local_defs: set[str] = set()
        self.scope: list[str] = []
        self.findings: list[Finding] = []

    # -------------------------------------------------------------------- helpers
    def _areas(self) -> tuple[str, ...]:
        top = self.scope[0] if self.scope else None
        owned = [area for area, (mod, name) in AREAS.items() if mod == self.module]
        for area in owned:
            if top == AREAS[area][1]:
                return (area,)
        if top is not None and top in _GIVEN.get(self.module, ()):
            return ()
        return tuple(owned)  # module level and the student's own helpers: every area of the module

    def _add(self, node: ast.AST, text: str) -> None:
        areas = self._areas()
        if areas:
            where = ".".join(self.scope) or "module level"
            self.findings.append(Finding(getattr(node, "lineno", 0), where, text, areas))

    def _dotted(self, node: ast.AST) -> str | None:
        """``a.b.c`` with ``a`` replaced by what it was imported as; None for anything else."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        base = self.aliases.get(node.id)
        if base is None:
            return None  # a local variable, a parameter or the student's own name
        return ".".join([base, *reversed(parts)])

    def _check_path(self, node: ast.AST, path: str) -> None:
        last = path.rsplit(".", 1)[-1]
        root = path.split(".", 1)[0]
        if root == "lab3":
            return  # the student's own package
        if last in FORBIDDEN_NAMES or FORBIDDEN_OP.search(last):
            self._add(node, f"uses {path}")
        elif root in ATTENTION_LIBRARIES:
            self._add(node, f"uses the library {root} ({path})")
        elif any(path == m or path.startswith(m + ".") for m in _HIDING_MODULES):
            self._add(node, f"uses {path}, which can hide calls or switch off the grader's call trace")
        elif path in ("sys.modules", "torch.__dict__") or path.endswith(".__dict__"):
            self._add(node, f"reads {path}")

    def _check_string(self, node: ast.AST, value: str, context: str) -> None:
        words = re.split(r"[^A-Za-z0-9_]+", value)
        if any(w in FORBIDDEN_NAMES or (w and FORBIDDEN_OP.search(w)) for w in words) or any(
            w in ATTENTION_LIBRARIES for w in words
        ):
            self._add(node, f"passes the string {value[:60]!r} to {context}")

    # -------------------------------------------------------------------- visitors
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            local = alias.asname or alias.name.split(".", 1)[0]
            self.aliases[local] = alias.name if alias.asname else alias.name.split(".", 1)[0]
            self._check_path(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or not node.module:
            return  # relative imports: the student's own package
        for alias in node.names:
            path = f"{node.module}.{alias.name}"
            self.aliases[alias.asname or alias.name] = path
            if node.module.split(".", 1)[0] == "lab3":
                continue
            self._check_path(node, path)

    def _scoped(self, node, name: str) -> None:
        self.scope.append(name)
        body = list(node.body)
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]  # the docstring
        for decorator in getattr(node, "decorator_list", []):
            self.visit(decorator)
        if isinstance(node, ast.ClassDef):
            for base in node.bases:
                self.visit(base)
        else:
            for default in [*node.args.defaults, *node.args.kw_defaults]:
                if default is not None:
                    self.visit(default)
        for stmt in body:
            self.visit(stmt)
        self.scope.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:  # annotations are skipped
        self._scoped(node, node.name)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._scoped(node, node.name)

    def visit_Assign(self, node: ast.Assign) -> None:
        path = self._dotted(node.value) if isinstance(node.value, (ast.Name, ast.Attribute)) else None
        if path is not None and not self.scope and all(isinstance(t, ast.Name) for t in node.targets):
            for target in node.targets:  # a module-level alias: judged where it is used
                self.aliases[target.id] = path
            return
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if (not self.scope and isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
                and test.left.id == "__name__"):  # fmt: skip
            for stmt in node.orelse:
                self.visit(stmt)
            return  # the `if __name__ == "__main__":` block never runs when graded
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        path = self._dotted(node)
        if path is not None:
            self._check_path(node, path)
            return  # the chain is judged as a whole
        on_self = isinstance(node.value, ast.Name) and node.value.id == "self"
        if (node.attr in FORBIDDEN_NAMES and not on_self) or node.attr in ("multi_head_attention_forward", "_C"):
            self._add(node, f"uses .{node.attr}")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load) and node.id in self.aliases:
            self._check_path(node, self.aliases[node.id])
        elif isinstance(node.ctx, ast.Load) and node.id in _HIDING_CALLS | {"__builtins__"}:
            self._add(node, f"uses {node.id}()" if node.id != "__builtins__" else "uses __builtins__")

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else None
        path = self._dotted(func) if isinstance(func, ast.Attribute) else self.aliases.get(name or "")
        if name in ("getattr", "setattr", "delattr", "hasattr") and len(node.args) >= 2:
            target, attr = node.args[0], node.args[1]
            module_target = self._dotted(target) is not None
            if isinstance(attr, ast.Constant) and isinstance(attr.value, str):
                self._check_string(attr, attr.value, f"{name}()")
            elif module_target:
                self._add(node, f"calls {name}() with a computed attribute name on the module "
                                f"{self._dotted(target)}")
        if (path or "").split(".", 1)[0] == "importlib" or name == "__import__":
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    self._check_string(arg, arg.value, name or path or "an import")
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            self._check_string(key, key.value, "a lookup")
        self.generic_visit(node)


def scan_source(text: str | None, module: str) -> list[Finding]:
    """Findings of the static scan of one submitted module (``attention`` or ``transformer``)."""
    if not text:
        return []
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []  # the import fails anyway, with its own message
    scanner = _Scanner(module)
    for node in tree.body:  # module-level imports and aliases first, so that they are known everywhere
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.Assign)):
            scanner.visit(node)
    scanner.findings.clear()
    scanner.visit(tree)
    seen, out = set(), []
    for f in scanner.findings:
        if (f.line, f.text) not in seen:
            seen.add((f.line, f.text))
            out.append(f)
    return out


# ---------------------------------------------------------------------------------------------- run time
def _attribute(frames: list[str], probe_area: str) -> str:
    """The graded area a recorded call came from: the innermost graded function on the student's stack."""
    for frame in frames:
        file, func = frame.split(":")[:2]
        for area, (mod, name) in AREAS.items():
            if file == f"{mod}.py" and func.split(".")[0] == name:
                return area
    return probe_area


def trace_findings(trace: Any, probe_area: str) -> list[str]:
    """What in one probe's call trace breaks the rule for ``probe_area`` (empty: nothing)."""
    if not isinstance(trace, dict):
        return []
    out = []
    for kind, table in (("the torch function", trace.get("functions")), ("the operator", trace.get("ops"))):
        for name, frames in (table or {}).items():
            if FORBIDDEN_OP.search(str(name).rsplit(".", 1)[-1] if kind == "the torch function" else str(name)):
                frames = [str(f) for f in frames or []]
                if not frames and "backward" in str(name):
                    continue  # run by autograd: its forward operator carries the evidence, and the place
                if _attribute(frames, probe_area) == probe_area:
                    where = f" ({frames[0].replace(':', ', in ', 1).replace(':', ', line ')})" if frames else ""
                    out.append(f"{kind} {name} ran{where}")
    for cls, frames in (trace.get("modules") or {}).items():
        if str(cls).startswith(TRUSTED_PARTS):
            continue  # the grader's own attention, swapped in while another area is graded
        root = str(cls).split(".", 1)[0]
        short = str(cls).replace("torch.nn.modules.activation.", "torch.nn.").replace(
            "torch.nn.modules.transformer.", "torch.nn.")
        bad = short in _FORBIDDEN_TORCH_MODULES or (root not in ("lab3", "torch") and (
            root in ATTENTION_LIBRARIES or re.search(r"(?i)attention|attn|transformer|encoderlayer|block", cls)))
        if bad and _attribute([str(f) for f in frames or []], probe_area) == probe_area:
            out.append(f"the layer {short} ran")
    calls = trace.get("calls") or []
    if trace.get("intact") is False or any(c.get("new_tensor") and not c.get("ops") for c in calls):
        out.append("the grader's call trace was switched off while your code ran")
    return out


# ------------------------------------------------------------------------------------------------- policy
def _battery(area: str) -> list[tuple[str, dict[str, Any]]]:
    """The same probes as the graders, on inputs that reach the usual branches (3-D/4-D, masks, train/eval)."""
    g = torch.Generator().manual_seed(99)

    def rnd(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    if area == "sdpa":
        q4, k4 = rnd(2, 2, 4, 8), rnd(2, 2, 6, 8)
        causal = torch.ones(4, 4, dtype=torch.bool).triu(1)
        return [
            ("attention.sdpa", {"q": rnd(2, 4, 8), "k": rnd(2, 4, 8), "v": rnd(2, 4, 8), "mask": causal}),
            ("attention.sdpa", {"q": q4, "k": k4, "v": rnd(2, 2, 6, 5), "mask": rnd(4, 6), "grad": True}),
            ("attention.sdpa", {"q": q4.float(), "k": k4.float(), "v": k4.float(), "dropout_p": 0.3,
                                "training": True}),
        ]  # fmt: skip
    if area == "mha":
        E = 8
        weights = {f"{n}.{p}": rnd(E, E) if p == "weight" else rnd(E) for n in ("q_proj", "k_proj", "v_proj",
                   "out_proj") for p in ("weight", "bias")}  # fmt: skip
        x, m = rnd(2, 3, E), rnd(2, 5, E)
        kpm = torch.zeros(2, 5, dtype=torch.bool)
        kpm[0, 3:] = True
        base = {"d_model": E, "num_heads": 2, "weights": weights}
        return [
            ("attention.mha", {**base, "query": x, "key": x, "value": x}),
            ("attention.mha", {**base, "query": x, "key": m, "value": m, "key_padding_mask": kpm,
                               "need_weights": False}),
            ("attention.mha", {**base, "query": x, "key": x, "value": x, "attn_mask": torch.ones(
                3, 3, dtype=torch.bool).triu(1), "average_attn_weights": False, "train": True, "dropout": 0.2,
                               "grad": True}),
        ]  # fmt: skip
    cfg = {"d_model": 8, "num_heads": 2, "dim_feedforward": 12, "activation": "relu", "norm_first": False}
    names = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj", "norm1", "norm2"]
    weights = {f"{n}.{p}": rnd(8, 8) if p == "weight" and "proj" in n else rnd(8) for n in names
               for p in ("weight", "bias")}  # fmt: skip
    weights.update({"linear1.weight": rnd(12, 8), "linear1.bias": rnd(12), "linear2.weight": rnd(8, 12),
                    "linear2.bias": rnd(8)})  # fmt: skip
    src = rnd(2, 4, 8)
    kpm = torch.zeros(2, 4, dtype=torch.bool)
    kpm[1, 3:] = True
    return [
        ("transformer.encoder_layer", {"cfg": cfg, "weights": weights, "src": src}),
        ("transformer.encoder_layer", {"cfg": {**cfg, "norm_first": True, "dropout": 0.1}, "weights": weights,
                                       "src": src, "src_key_padding_mask": kpm, "train": True}),
    ]  # fmt: skip


class CheckedStudent:
    """The ``student`` fixture with the from-scratch rule applied to the attention areas.

    Every call of ``attention.sdpa``, ``attention.mha`` and ``transformer.encoder_layer`` is judged from its
    call trace; the first call of an area also runs the static scan of its module and the battery. A
    finding fails the current test and every later test of that area, with the same message.
    """

    def __init__(self, proxy: Any) -> None:
        self._proxy = proxy
        self._verdict: dict[str, str | None] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._proxy, name)

    def _judge_area(self, area: str) -> str | None:
        module = AREAS[area][0]
        static = [f for f in scan_source(self._proxy.source(module), module) if area in f.areas]
        reasons = [f"{module}.py line {f.line} (in {f.where}) {f.text}" for f in static[:3]]
        for probe, kwargs in _battery(area):
            try:
                res = self._proxy.call(probe, timeout=10, **kwargs)
            except StudentError:
                continue  # an exception (a stub, an unsupported case): the graded tests report it themselves
            except StudentProblem:
                break  # a hang or a crash: do not pay for it again here; the graded tests report it
            reasons += [r for r in trace_findings(res.get("_trace") if isinstance(res, dict) else None, area)
                        if r not in reasons]
        return self._message(area, reasons)

    @staticmethod
    def _message(area: str, reasons: list[str]) -> str | None:
        if not reasons:
            return None
        return (f"{WHAT[area]} is not written from scratch: " + "; ".join(reasons[:4])
                + ". " + RULE.format(what=WHAT[area]))

    def call(self, probe: str, /, timeout: float = 10.0, **kwargs: Any) -> Any:
        area = PROBE_AREA.get(probe)
        if area is not None and area not in self._verdict:
            self._verdict[area] = self._judge_area(area)
        if area is not None and self._verdict.get(area):
            fail(self._verdict[area])
        res = self._proxy.call(probe, timeout=timeout, **kwargs)
        if area is not None and isinstance(res, dict):
            found = trace_findings(res.pop("_trace", None), area)
            if found:
                self._verdict[area] = self._message(area, found)
                fail(self._verdict[area])
        return res
