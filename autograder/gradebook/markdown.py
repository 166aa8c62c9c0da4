"""Student text rendered as Markdown, safely: raw HTML is never passed through.

Answers are untrusted. CommonMark through markdown-it-py with ``html`` off escapes every tag (a
``<script>`` shows as text), link targets are checked (no ``javascript:``/``data:`` links) and images are
not rendered (an answer cannot make the TA's browser fetch anything).
"""

from __future__ import annotations

import functools
import html

from autograder.reports.per_submission import clean_text

MAX_CHARS = 20_000


@functools.lru_cache(maxsize=1)
def _renderer():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).disable("image")


def render(text: str, limit: int = MAX_CHARS) -> str:
    """HTML of ``text`` (Markdown): headings, lists, emphasis, code, links; any HTML in it escaped.
    Without markdown-it-py (a grading image that lacks it), the text is shown escaped, as written."""
    text = clean_text(text or "", limit)
    try:
        renderer = _renderer()
    except ImportError:
        return f"<pre style='white-space:pre-wrap'>{html.escape(text)}</pre>"
    return renderer.render(text)
