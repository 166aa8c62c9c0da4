"""``OUT/answers.html``: every student's written answers and figures, question by question, for manual grading.

Built from the ``answers`` part of each ``OUT/<id>/instructor/result.json`` (the notebook as
:mod:`autograder.engine.notebook_answers` read it). Self-contained: images are inlined as data URIs, the
answers' text is escaped (shown as written, never rendered as HTML), nothing is fetched.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from autograder.reports.results import atomic_write, clean_text

_STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
          "section{border-top:2px solid #3b6ea8;margin-top:2em}"
          ".answer{white-space:pre-wrap;background:#f6f6f2;border:1px solid #ddd;padding:.6em;margin:.3em 0 1em}"
          ".missing{color:#b00;font-weight:bold}.prompt{color:#555;white-space:pre-wrap}"
          "img{max-width:520px;border:1px solid #ddd;margin:4px}table{border-collapse:collapse}"
          "td,th{border:1px solid #ccc;padding:3px 8px}th{background:#eee}")


def _safe_image(img: dict[str, Any]) -> str:
    mime = img.get("mime")
    data = str(img.get("data", ""))
    if mime in ("image/png", "image/jpeg") and all(c.isalnum() or c in "+/=" for c in data):
        return f"<img alt='figure' src='data:{mime};base64,{data}'>"
    if mime == "image/svg+xml":  # inlined as an <img> data URI: scripts inside an SVG image never run
        import base64

        return f"<img alt='figure' src='data:image/svg+xml;base64,{base64.b64encode(data.encode()).decode()}'>"
    return ""


def write_answers_html(out: Path, rows: list[dict[str, Any]]) -> Path:
    """Write ``out/answers.html`` from the batch rows (each with ``id`` and, when read, ``answers``)."""
    e = html.escape
    students = sorted(rows, key=lambda r: r["id"])
    questions: dict[str, dict[str, Any]] = {}
    figures: list[str] = []
    for r in students:
        rep = r.get("answers") or {}
        for q in rep.get("questions", []):
            questions.setdefault(q["id"], q)
        for f in rep.get("figures", []):
            if f["id"] not in figures:
                figures.append(f["id"])
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>Lab 3 written answers</title>",
             f"<style>{_STYLE}</style></head><body><h1>Lab 3 — written answers and figures</h1>",
             f"<p>{len(students)} submission(s), {len(questions)} question(s), {len(figures)} figure cell(s). "
             "Read from each submitted notebook (never executed). These points are graded by hand.</p>",
             "<h2>Overview</h2><table><tr><th>id</th><th>notebook</th><th>answered</th><th>figures</th></tr>"]
    for r in students:
        rep = r.get("answers") or {}
        qs, fs = rep.get("questions", []), rep.get("figures", [])
        nb = "—" if not rep.get("notebook") else e(str(rep["notebook"]))
        nb += "" if not rep.get("notebook") or rep.get("readable") else " (unreadable)"
        parts.append(f"<tr><td><a href='#s-{e(r['id'])}'>{e(r['id'])}</a></td><td>{nb}</td>"
                     f"<td>{sum(q['answered'] for q in qs)} / {len(qs)}</td>"
                     f"<td>{sum(f['present'] for f in fs)} / {len(fs)}</td></tr>")
    parts.append("</table>")
    for qid, q in questions.items():
        parts.append(f"<section><h2 id='q-{e(qid)}'>{e(qid)} ({e(str(q.get('points', '')))} pts)</h2>"
                     f"<div class=prompt>{e(clean_text(q.get('prompt', ''), 2000))}</div>")
        for r in students:
            rep = r.get("answers") or {}
            mine = next((x for x in rep.get("questions", []) if x["id"] == qid), None)
            parts.append(f"<h3 id='s-{e(r['id'])}'>{e(r['id'])}</h3>" if qid == next(iter(questions))
                         else f"<h3>{e(r['id'])}</h3>")
            if not rep.get("notebook"):
                parts.append("<p class=missing>no notebook submitted</p>")
            elif mine is None or not mine["answered"]:
                parts.append("<p class=missing>not answered</p>")
            else:
                parts.append(f"<div class=answer>{e(clean_text(mine['answer'], 20_000))}</div>")
        parts.append("</section>")
    for fid in figures:
        parts.append(f"<section><h2>Figure {e(fid)}</h2>")
        for r in students:
            rep = r.get("answers") or {}
            mine = next((x for x in rep.get("figures", []) if x["id"] == fid), None)
            parts.append(f"<h3>{e(r['id'])}</h3>")
            imgs = "".join(_safe_image(i) for i in (mine or {}).get("images", []))
            parts.append(imgs or "<p class=missing>no figure in the saved notebook</p>")
        parts.append("</section>")
    parts.append("</body></html>\n")
    path = Path(out) / "answers.html"
    atomic_write(path, "".join(parts))
    return path
