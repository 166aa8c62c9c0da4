"""The notebook of a submission, read (never executed): written answers and figures, for students and TAs.

A submission made by ``lab3 submit`` holds ``Lab3.ipynb`` next to ``lab3/``. Its written questions are the
markdown cells with nbgrader's manual-grading metadata (``solution`` + ``grade``, ``points``, ``grade_id``;
``lab3 build`` writes it, with the prompt in ``metadata.lab3.prompt``); its figures are the code cells that
``lab3 build`` marked ``metadata.lab3.figure``. This module parses the notebook (nbformat 4 JSON; older
versions through ``nbformat``) on the trusted side and reports, per question, answered or still the
placeholder (with the answer's text), and per figure cell whether its saved outputs hold an image (with the
images, for the TA's ``answers.html``); :mod:`autograder.reports.written` shows it in the reports.

None of this changes a score: the written questions are manual points on top of the autograded ones.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from autograder.engine.submission import MODULES_MISSING, NOTEBOOK, Submission, read_submission  # noqa: F401 (re-exported)
from autograder.reports.written import NOT_SUBMITTED

PLACEHOLDERS = ("*Your answer here.*", "YOUR ANSWER HERE")
MAX_ANSWER_CHARS = 20_000
MAX_IMAGES_PER_CELL = 4
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml")


def _text(source: Any) -> str:
    return "".join(source) if isinstance(source, list) else str(source or "")


def _answer(source: str, prompt: str) -> str:
    """The student's own text in a question cell: the cell minus the prompt's lines and the placeholder."""
    prompt_lines = {line.strip() for line in prompt.splitlines() if line.strip()}
    kept = [line for line in source.splitlines()
            if line.strip() not in prompt_lines and line.strip() not in PLACEHOLDERS]
    return "\n".join(kept).strip()[:MAX_ANSWER_CHARS]


def _images(outputs: list[Any]) -> list[dict[str, str]]:
    images = []
    for out in outputs or []:
        data = out.get("data", {}) if isinstance(out, dict) else {}
        for mime in IMAGE_TYPES:
            if mime in data and len(images) < MAX_IMAGES_PER_CELL:
                blob = _text(data[mime])
                if mime != "image/svg+xml":
                    try:
                        base64.b64decode(blob.replace("\n", ""), validate=True)
                    except ValueError:
                        continue
                images.append({"mime": mime, "data": blob.replace("\n", "") if mime != "image/svg+xml" else blob})
                break
    return images


def _parse(raw: bytes) -> dict[str, Any]:
    """The notebook as a dict in nbformat 4. A version-4 notebook (what Jupyter saves) is read as JSON:
    ``import nbformat`` pulls in jsonschema's format checkers, seconds of import on this machine; older
    versions go through ``nbformat.reads(..., as_version=4)``."""
    import json

    nb = json.loads(raw.decode("utf-8", errors="replace"))
    if not isinstance(nb, dict):
        raise ValueError("not a notebook (the JSON is not an object)")
    if nb.get("nbformat") != 4:
        import nbformat

        nb = nbformat.reads(raw.decode("utf-8", errors="replace"), as_version=4)
    if not isinstance(nb.get("cells"), list):
        raise ValueError("not a notebook (no cell list)")
    return nb


def read_notebook(raw: bytes, where: str = NOTEBOOK) -> dict[str, Any]:
    """The answer report of one notebook's bytes (see :func:`written_answers` for its keys)."""
    try:
        nb = _parse(raw)
    except Exception as exc:  # noqa: BLE001 - any unreadable notebook is reported, never a crash
        return {"notebook": where, "readable": False, "error": f"{type(exc).__name__}: {str(exc)[:300]}",
                "questions": [], "figures": []}
    questions, figures = [], []
    for index, cell in enumerate(c for c in nb["cells"] if isinstance(c, dict)):
        meta = cell.get("metadata", {}) or {}
        grading = meta.get("nbgrader", {}) if isinstance(meta.get("nbgrader"), dict) else {}
        lab3 = meta.get("lab3", {}) if isinstance(meta.get("lab3"), dict) else {}
        source = _text(cell.get("source"))
        if cell.get("cell_type") == "markdown" and grading.get("solution") and grading.get("grade"):
            answer = _answer(source, str(lab3.get("prompt", "")))
            questions.append({"id": str(grading.get("grade_id") or f"cell-{index}"),
                              "points": grading.get("points", 0), "answered": bool(answer),
                              "prompt": str(lab3.get("prompt", ""))[:2000], "answer": answer})
        elif cell.get("cell_type") == "code" and "figure" in lab3:
            outputs = cell.get("outputs", [])
            images = _images(outputs)
            figures.append({"id": str(lab3["figure"]), "present": bool(images), "has_output": bool(outputs),
                            "images": images})
    return {"notebook": where, "readable": True, "error": "", "questions": questions, "figures": figures}


def written_answers(submission: Submission | Path, release_notebook: Path | None = None) -> dict[str, Any]:
    """What the submission's notebook holds, as a JSON-ready dict::

        {"notebook": "Lab3.ipynb" | None, "readable": bool, "error": str, "notes": [...],
         "questions": [{"id", "points", "answered", "prompt", "answer"}],
         "figures": [{"id", "present", "has_output", "images": [{"mime", "data"}]}]}

    Questions or figures of the release notebook (``release_notebook``) that the submitted one lacks (cells
    deleted, metadata lost) are listed as not answered / not present.
    """
    if not isinstance(submission, Submission):
        submission = read_submission(submission)
    book = submission.notebook  # which notebook counts: the one rule of autograder.engine.submission
    where, raw, note = (book.where, book.data, book.note) if book else (None, None, "")
    if raw is None:
        report = {"notebook": where, "readable": False, "error": note, "questions": [], "figures": []}
    else:
        report = read_notebook(raw, where or NOTEBOOK)
    if release_notebook is not None and Path(release_notebook).is_file():
        expected = read_notebook(Path(release_notebook).read_bytes())
        have_q = {q["id"] for q in report["questions"]}
        have_f = {f["id"] for f in report["figures"]}
        report["questions"] += [dict(q, answered=False, answer="") for q in expected["questions"]
                                if q["id"] not in have_q]
        report["figures"] += [dict(f, present=False, has_output=False, images=[]) for f in expected["figures"]
                              if f["id"] not in have_f]
    notes = []
    if where is None:
        notes.append(NOT_SUBMITTED)
    elif not report["readable"]:
        notes.append(f"{where}: could not be read ({report['error']}): written answers not collected")
    report["notes"] = notes
    return report
