"""Sample submissions for the demo (``examples/submissions/``), generated from the releases.

``solution`` and ``blank_stubs`` are the seven graded modules of ``solutions/`` and ``assignments/``;
the buggy ones are the solution with one realistic mistake each (see :mod:`autograder.build.mutants`);
one is a zip of flat files, the way Gradescope uploads often arrive.

Notebooks, for the written answers and figures: ``solution`` has the solution notebook as ``lab3 results
--notebook`` executed it (``results/Lab3.solutions.ipynb``: every answer, every figure),
``buggy_attention_no_scale`` a partly answered one (:data:`PARTIAL_ANSWERS`, the Exercise 1 figures),
``blank_stubs`` the release notebook untouched; the flat zip has none.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from autograder.packaging.nbgrader import PLACEHOLDER

from .mutants import GRADED_MODULES, Mutation, apply

BUGS: dict[str, tuple[Mutation, ...]] = {
    "buggy_attention_no_scale": (
        Mutation("no 1/sqrt(d_k)", "attention", "scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)",
                 "scores = q @ k.transpose(-2, -1)", "attention scores not scaled by 1/sqrt(d_k)"),
    ),
    "buggy_freeze_bn_stats_move": (
        Mutation("BN stats move", "transfer",
                 "            module.train(False)\n            module.register_forward_pre_hook(keep_eval)\n",
                 "            pass\n", "requires_grad=False only: batch-norm running statistics still move"),
    ),
}
FLAT_ZIP_BUGS: dict[str, tuple[Mutation, ...]] = {
    "buggy_leftover_dropped_flat.zip": (
        Mutation("leftover dropped", "training",
                 "    if pending:  # the leftover micro-batches of the epoch still make a step\n"
                 "        optimizer_step()\n", "",
                 "the leftover micro-batches at the end of an epoch never make an optimizer step"),
    ),
}

#: the one graded area each buggy sample's mistake belongs to: its grade may lose points only there
BUG_AREAS = {"buggy_attention_no_scale": "sdpa", "buggy_freeze_bn_stats_move": "freeze",
             "buggy_leftover_dropped_flat": "accumulation"}


#: The partly answered notebook's answers (a student in a hurry: two questions, Markdown, a stray tag).
PARTIAL_ANSWERS = {
    "ex1-length-sweep": (
        "The LSTM's **exact match** drops to almost 0 from `L = 16`, while its token accuracy falls more "
        "slowly.\n\n- the LSTM squeezes the whole sequence into one state\n- attention looks every position "
        "up directly, but costs `O(L^2)`\n\n<b>not sure about the cost part</b>"),
    "ex2-sources": "A related source is better, I think. Random weights are the worst.",
}
PARTIAL_FIGURES = ("fig-1.2", "fig-1.3")


def _cells_by_figure(nb: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(c["metadata"]["lab3"]["figure"]): c for c in nb.get("cells", [])
            if isinstance(c.get("metadata", {}).get("lab3"), dict) and "figure" in c["metadata"]["lab3"]}


def partial_notebook(release: bytes, executed: bytes | None, answers: dict[str, str] = PARTIAL_ANSWERS,
                     figures: tuple[str, ...] = PARTIAL_FIGURES) -> bytes:
    """The release notebook with ``answers`` written and the saved outputs of the ``figures`` cells copied
    from the ``executed`` solution notebook (as a student who ran only part of it would save it)."""
    nb = json.loads(release)
    done = _cells_by_figure(json.loads(executed)) if executed else {}
    for cell in nb["cells"]:
        meta = cell.get("metadata", {})
        gid = meta.get("nbgrader", {}).get("grade_id")
        if cell["cell_type"] == "markdown" and gid in answers:
            text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            cell["source"] = text.replace(PLACEHOLDER, answers[gid])
        fid = meta.get("lab3", {}).get("figure")
        if cell["cell_type"] == "code" and fid in figures and fid in done:
            cell["outputs"] = done[fid].get("outputs", [])
            cell["execution_count"] = done[fid].get("execution_count")
    return (json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n").encode()


def _modules(files: dict[str, bytes]) -> dict[str, str]:
    return {m: files[f"lab3/{m}.py"].decode() for m in GRADED_MODULES}


def _zip(modules: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(modules):
            info = zipfile.ZipInfo(f"{name}.py", date_time=(2026, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, modules[name])
    return buf.getvalue()


def example_submissions(solutions: dict[str, bytes], assignments: dict[str, bytes],
                        executed_notebook: bytes | None = None) -> dict[str, bytes]:
    """``{relative path: bytes}`` of the sample submissions folder (``executed_notebook``: the solution
    notebook with its outputs, ``results/Lab3.solutions.ipynb``; without it the solution's is unexecuted)."""
    solution, stubs = _modules(solutions), _modules(assignments)
    out: dict[str, bytes] = {}

    def put(name: str, modules: dict[str, str]) -> None:
        for m, text in modules.items():
            out[f"{name}/lab3/{m}.py"] = text.encode()

    put("solution", solution)
    put("blank_stubs", stubs)
    for name, bugs in BUGS.items():
        put(name, apply(solution, bugs))
    for name, bugs in FLAT_ZIP_BUGS.items():
        out[name] = _zip(apply(solution, bugs))
    if "Lab3.ipynb" in solutions and "Lab3.ipynb" in assignments:
        out["solution/Lab3.ipynb"] = executed_notebook or solutions["Lab3.ipynb"]
        out["blank_stubs/Lab3.ipynb"] = assignments["Lab3.ipynb"]
        if "buggy_attention_no_scale" in BUGS:
            out["buggy_attention_no_scale/Lab3.ipynb"] = partial_notebook(assignments["Lab3.ipynb"],
                                                                          executed_notebook)
    out["README.md"] = (
        "# Sample submissions (generated by `lab3 build`)\n\n"
        "| submission | what it is |\n|---|---|\n"
        "| `solution/` | the model answer: full marks; its notebook executed (every written answer and figure) |\n"
        "| `blank_stubs/` | the student release untouched: 0; the release notebook (nothing answered) |\n"
        + "".join(f"| `{n}/` | {b[0].description}" + ("; a partly answered notebook (2 questions, the Exercise 1 "
                                                       "figures)" if n == "buggy_attention_no_scale" else "")
                  + " |\n" for n, b in BUGS.items())
        + "".join(f"| `{n}` | flat files in a zip; {b[0].description} |\n" for n, b in FLAT_ZIP_BUGS.items())
    ).encode()
    return out
