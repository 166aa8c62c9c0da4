"""HTML of the manual grading: the index of questions and one page per question (every student's answer,
one after another), for the local server (editable) and for the static ``answers.html`` (read only).

Every piece of student text goes through :func:`autograder.gradebook.markdown.render` (HTML disabled) or
:func:`html.escape`; figures are files shown as lazy thumbnails that open full size.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import quote

from autograder.gradebook.classview import ClassView, SubmissionView
from autograder.gradebook.figures import full_size_link
from autograder.gradebook.markdown import render
from autograder.gradebook.questions import Question
from autograder.outdir import OutDir

e = html.escape
PAGE_SIZE = 25
NOT_ANSWERED, NO_NOTEBOOK = "not answered", "no notebook submitted"

STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:1.5em auto;color:#222;padding:0 1em}"
         "nav{display:flex;gap:1.2em;flex-wrap:wrap;border-bottom:1px solid #ccc;padding-bottom:.5em}"
         ".master{background:#f3f6fb;border:1px solid #cdd9ea;padding:.2em 1em;margin:1em 0}"
         "article{border-top:2px solid #3b6ea8;margin-top:1.5em;padding-top:.3em}"
         ".answer{background:#f8f8f4;border:1px solid #ddd;padding:.1em .8em;margin:.4em 0;overflow-wrap:anywhere}"
         ".missing{color:#a00;font-weight:bold}.state{color:#555;margin-left:1em}.done{color:#070}"
         ".figs img{width:240px;height:auto;border:1px solid #ccc;margin:3px;background:#fff;vertical-align:top}"
         "form.grade{background:#fafafa;border:1px solid #ddd;padding:.5em;display:grid;gap:.4em}"
         "form.grade textarea{width:100%;min-height:3.5em}.saved{color:#070}.error{color:#b00}"
         "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
         "th{background:#eee}td.num{text-align:right}pre{overflow-x:auto}")


def _num(x: float) -> str:
    return f"{x:g}"


def question_url(qid: str, start: int = 0, ungraded: bool = False) -> str:
    """The server's address of a question page (from student ``start``, optionally only the ungraded)."""
    query = "&".join(p for p in (f"start={start}" if start else "", "ungraded=1" if ungraded else "") if p)
    return f"/q/{quote(qid, safe='')}" + (f"?{query}" if query else "")


def figures_block(q: Question, sub: SubmissionView, prefix: str) -> str:
    """Thumbnails (lazy) of the figures that belong to ``q``, each a link to the full-size file."""
    parts = []
    for fid in q.figures:
        for rel in sub.figures.get(fid, []):
            parts.append(f"<a href='{e(prefix + full_size_link(rel))}' target=_blank rel=noopener>"
                         f"<img loading=lazy alt='{e(fid)}' title='{e(fid)} (click: full size)' "
                         f"src='{e(prefix + rel)}'></a>")
    missing = [f for f in q.figures if f in sub.missing_figures]
    if sub.notebook and missing:
        parts.append(f"<p class=missing>no figure in the saved notebook: {e(', '.join(missing))}</p>")
    return f"<div class=figs>{''.join(parts)}</div>" if parts else ""


def answer_block(q: Question, sub: SubmissionView) -> str:
    """A student's answer to ``q`` as Markdown (HTML disabled), or why there is none."""
    if not sub.notebook:
        return f"<p class=missing>{NO_NOTEBOOK}</p>"
    text = sub.answers.get(q.id, "")
    return f"<div class=answer>{render(text)}</div>" if text else f"<p class=missing>{NOT_ANSWERED}</p>"


def master_block(q: Question) -> str:
    """The question, the model answer and the rubric (from the master; the TA's side only)."""
    parts = [f"<section class=master><h2>Question ({_num(q.points)} pts)</h2>{render(q.prompt)}"]
    if q.model_answer:
        parts.append(f"<details open><summary><b>Model answer</b></summary>{render(q.model_answer)}</details>")
    if q.rubric:
        parts.append("<h3>Rubric</h3><ul>" + "".join(f"<li><b>{_num(r.points)}</b> pt: {e(r.text)}</li>"
                                                     for r in q.rubric) + "</ul>")
    else:
        parts.append(f"<p>Rubric: give 0 to {_num(q.points)} points against the model answer.</p>")
    parts.append("</section>")
    return "".join(parts)


def _grade_form(q: Question, sub: SubmissionView, grade: dict[str, Any], token: str, start: int) -> str:
    points = grade.get("points")
    value = "" if points is None else _num(points)
    checks = "".join(
        f"<label><input type=checkbox class=rubric data-points='{_num(r.points)}'> {_num(r.points)} pt: "
        f"{e(r.text)}</label>" for r in q.rubric)
    saved = f"saved {e(str(grade.get('updated', '')))}" if grade else ""
    return (f"<form class=grade method=post action='/grade'>"
            f"<input type=hidden name=token value='{e(token)}'>"
            f"<input type=hidden name=question value='{e(q.id)}'>"
            f"<input type=hidden name=submission value='{e(sub.id)}'>"
            f"<input type=hidden name=start value='{start}'>{checks}"
            f"<label>points <input name=points type=number min=0 max='{_num(q.points)}' step=any "
            f"value='{e(value)}' aria-label='points for {e(sub.id)}'> / {_num(q.points)}</label>"
            f"<label>comment (the student may see it)<textarea name=comment>{e(str(grade.get('comment', '')))}"
            f"</textarea></label><div><button type=submit>Save</button> <span class=saved>{saved}</span></div>"
            "</form>")


def _state(grade: dict[str, Any], q: Question) -> str:
    p = grade.get("points")
    return (f"<span class='state done'>graded {_num(p)} / {_num(q.points)}</span>" if p is not None
            else "<span class=state>not graded yet</span>")


def student_block(q: Question, sub: SubmissionView, *, prefix: str, grade: dict[str, Any] | None = None,
                  token: str = "", start: int = 0, editable: bool = False, anchor: bool = True) -> str:
    """One student's answer and figures for ``q``; with ``editable``, their grade form."""
    head = f"<h3>{e(sub.id)}" + (_state(grade or {}, q) if editable else "") + "</h3>"
    form = _grade_form(q, sub, grade or {}, token, start) if editable else ""
    ident = f" id='s-{e(sub.id)}'" if anchor else ""
    return f"<article{ident}>{head}{answer_block(q, sub)}{figures_block(q, sub, prefix)}{form}</article>"


def _page(title: str, body: str, nonce: str = "", script: str = "") -> str:
    js = f"<script nonce='{e(nonce)}'>{script}</script>" if script else ""
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title>"
            f"<style>{STYLE}</style></head><body>{body}{js}</body></html>\n")


def index_page(view: ClassView, grades: dict[str, dict[str, dict[str, Any]]]) -> str:
    """The questions, each with how many submissions are graded, and the downloads."""
    n = len(view.submissions)
    rows = []
    for q in view.questions:
        done = sum(1 for s in view.submissions if grades.get(q.id, {}).get(s.id, {}).get("points") is not None)
        answered = sum(1 for s in view.submissions if s.answers.get(q.id))
        rows.append(f"<tr><td><a href='{e(question_url(q.id))}'>{e(q.id)}</a></td><td class=num>{_num(q.points)}"
                    f"</td><td class=num>{answered} / {n}</td><td class=num>{done} / {n}</td>"
                    f"<td><a href='{e(question_url(q.id, ungraded=True))}'>not graded yet</a></td></tr>")
    body = ("<h1>Lab 3 — written answers: grading</h1>"
            f"<p>{n} submission(s). Grades are saved in <code>{e(str(OutDir(view.out).manual_grades))}</code> "
            f"and added to <a href='/{OutDir.FINAL}'>{OutDir.FINAL}</a> "
            f"(and <a href='/{OutDir.CANVAS}'>{OutDir.CANVAS}</a>) at "
            "each save.</p><table><tr><th>question</th><th>points</th><th>answered</th><th>graded</th><th>"
            "</th></tr>" + "".join(rows) + "</table>")
    return _page("Lab 3 grading", body)


SCRIPT = """
document.querySelectorAll('form.grade').forEach(function (form) {
  var points = form.querySelector('input[name=points]');
  form.querySelectorAll('input.rubric').forEach(function (box) {
    box.addEventListener('change', function () {
      var sum = 0;
      form.querySelectorAll('input.rubric:checked').forEach(function (b) { sum += Number(b.dataset.points); });
      points.value = sum;
    });
  });
  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var state = form.querySelector('.saved');
    state.className = 'saved'; state.textContent = 'saving...';
    fetch(form.action, {method: 'POST', headers: {'Accept': 'application/json'},
                        body: new URLSearchParams(new FormData(form))})
      .then(function (r) { return r.json().then(function (d) { return [r.ok, d]; }); })
      .then(function (res) {
        if (res[0]) { state.textContent = 'saved ' + res[1].updated; }
        else { state.className = 'saved error'; state.textContent = res[1].error; }
      })
      .catch(function (err) { state.className = 'saved error'; state.textContent = 'not saved: ' + err; });
  });
});
"""


def question_page(view: ClassView, q: Question, grades: dict[str, dict[str, dict[str, Any]]], *, token: str,
                  nonce: str, start: int = 0, ungraded: bool = False) -> str:
    """One question, its model answer and rubric, then up to :data:`PAGE_SIZE` students with a grade form."""
    mine = grades.get(q.id, {})
    subs = [s for s in view.submissions if not ungraded or mine.get(s.id, {}).get("points") is None]
    start = max(0, min(start, max(0, len(subs) - 1)))
    page = subs[start:start + PAGE_SIZE]
    i = next((k for k, x in enumerate(view.questions) if x.id == q.id), 0)
    nav = ["<a href='/'>all questions</a>"]
    if i > 0:
        nav.append(f"<a href='{e(question_url(view.questions[i - 1].id))}'>&larr; {e(view.questions[i - 1].id)}</a>")
    if i + 1 < len(view.questions):
        nav.append(f"<a href='{e(question_url(view.questions[i + 1].id))}'>{e(view.questions[i + 1].id)} &rarr;</a>")
    nav.append(f"<a href='{e(question_url(q.id, ungraded=not ungraded))}'>"
               + ("show all" if ungraded else "only not graded yet") + "</a>")
    done = sum(1 for s in view.submissions if mine.get(s.id, {}).get("points") is not None)
    pager = []
    if start > 0:
        pager.append(f"<a href='{e(question_url(q.id, max(0, start - PAGE_SIZE), ungraded))}'>previous students</a>")
    if start + PAGE_SIZE < len(subs):
        pager.append(f"<a href='{e(question_url(q.id, start + PAGE_SIZE, ungraded))}'>next students</a>")
    shown = f"students {start + 1}–{start + len(page)} of {len(subs)}" if page else "no student to show"
    body = (f"<nav>{''.join(nav)}</nav><h1>{e(q.id)}</h1><p>{done} of {len(view.submissions)} graded; {shown}.</p>"
            + master_block(q)
            + "".join(student_block(q, s, prefix="/files/", grade=mine.get(s.id), token=token, start=start,
                                    editable=True) for s in page)
            + f"<nav>{''.join(pager)}</nav>")
    return _page(f"{q.id} — Lab 3 grading", body, nonce, SCRIPT)
