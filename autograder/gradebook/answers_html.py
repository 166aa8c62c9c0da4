"""``OUT/answers.html``: every student's written answers and figures, question by question (read only).

Built from the ``answers`` part of each ``OUT/<id>/instructor/result.json`` (the notebook as
:mod:`autograder.engine.notebook_answers` read it). Answers are rendered as Markdown with HTML disabled
(:mod:`autograder.gradebook.markdown`); figures are files under ``OUT/answers/figures/`` shown as lazy
thumbnails that open full size, so the page stays light for a large class. Nothing is fetched from the
network. ``lab3 answers serve OUT`` shows the same pages with a grade form per student.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autograder.gradebook import classview
from autograder.gradebook.pages import STYLE, e, figures_block, master_block, student_block
from autograder.gradebook.questions import Question
from autograder.outdir import OutDir
from autograder.reports.per_submission import atomic_write


def _overview(view: classview.ClassView) -> list[str]:
    parts = ["<h2>Overview</h2><table><tr><th>id</th><th>notebook</th><th>answered</th><th>figures missing</th></tr>"]
    for s in view.submissions:
        answered = sum(1 for q in view.questions if s.answers.get(q.id))
        parts.append(f"<tr><td><a href='#s-{e(s.id)}'>{e(s.id)}</a></td><td>{'yes' if s.notebook else '—'}</td>"
                     f"<td>{answered} / {len(view.questions)}</td>"
                     f"<td>{e(', '.join(s.missing_figures)) if s.notebook else ''}</td></tr>")
    parts.append("</table>")
    return parts


def write_answers_html(out: Path, view: classview.ClassView | list[dict[str, Any]]) -> Path:
    """Write ``out/answers.html`` (and the figure files) from a class view or the batch rows."""
    if not isinstance(view, classview.ClassView):
        view = classview.load(out, view)
    placed = {f for q in view.questions for f in q.figures}
    others = sorted({f for s in view.submissions for f in [*s.figures, *s.missing_figures]} - placed)
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>Lab 3 written answers</title>",
             f"<style>{STYLE}</style></head><body><h1>Lab 3 — written answers and figures</h1>",
             f"<p>{len(view.submissions)} submission(s), {len(view.questions)} question(s). Read from each submitted "
             "notebook (never executed). These points are graded by hand: <code>lab3 answers serve OUT</code> "
             "opens the same answers with a grade form per student.</p>",
             "<p>Questions: " + ", ".join(f"<a href='#q-{e(q.id)}'>{e(q.id)}</a>" for q in view.questions) + "</p>",
             *_overview(view)]
    for k, q in enumerate(view.questions):
        parts.append(f"<section><h2 id='q-{e(q.id)}'>{e(q.id)} ({q.points:g} pts)</h2>{master_block(q)}")
        parts += [student_block(q, s, prefix="answers/", anchor=k == 0) for s in view.submissions]
        parts.append("</section>")
    if others:
        q = Question("other-figures", 0, "", figures=others)
        parts.append("<section><h2>Other figures</h2>")
        parts += [f"<h3>{e(s.id)}</h3>{figures_block(q, s, 'answers/')}" for s in view.submissions]
        parts.append("</section>")
    parts.append("</body></html>\n")
    path = OutDir(out).answers_html
    atomic_write(path, "".join(parts))
    return path
