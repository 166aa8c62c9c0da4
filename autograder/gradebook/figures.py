"""The notebooks' figures as separate files, ``OUT/answers/figures/<submission>/<figure>-<n>.<ext>``.

Pages link to these files (thumbnails load lazily, a click opens the image full size) instead of
embedding them: a class of 200 with a dozen figures each stays a light page. The images were checked
when the notebook was read (base64 PNG/JPEG, SVG text); an SVG is only ever shown through ``<img>`` or a
small wrapper page, where its scripts cannot run.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Any

from autograder.outdir import OutDir

FOLDER = Path(OutDir.ANSWERS_DIR) / "figures"
_EXT = {"image/png": "png", "image/jpeg": "jpg", "image/svg+xml": "svg"}


def safe_name(text: Any, limit: int = 80) -> str:
    """A file-name-safe form of an untrusted id (letters, digits, ``._-``; never starts with a dot)."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", str(text))[:limit].lstrip(".")
    return name or "_"


def _write_if_changed(path: Path, data: bytes) -> None:
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def export(out: Path, sid: str, answers: dict[str, Any] | None) -> dict[str, list[str]]:
    """Write one submission's figures; returns ``{figure id: [paths relative to OUT/answers/]}``."""
    found: dict[str, list[str]] = {}
    for fig in (answers or {}).get("figures", []):
        for n, img in enumerate(fig.get("images", []), start=1):
            ext = _EXT.get(img.get("mime"))
            if ext is None:
                continue
            data = str(img.get("data", ""))
            try:
                raw = data.encode() if ext == "svg" else base64.b64decode(data, validate=True)
            except ValueError:
                continue
            rel = Path("figures") / safe_name(sid) / f"{safe_name(fig.get('id'))}-{n}.{ext}"
            _write_if_changed(OutDir(out).answers_dir / rel, raw)
            if ext == "svg":  # opened full size through a page holding it in an <img>: its scripts never run
                wrapper = f"<!doctype html><meta charset=utf-8><img alt=figure src='{html.escape(rel.name)}'>"
                _write_if_changed(OutDir(out).answers_dir / rel.with_suffix(".svg.html"), wrapper.encode())
            found.setdefault(str(fig.get("id")), []).append(rel.as_posix())
    return found


def full_size_link(rel: str) -> str:
    """The file a click on a thumbnail opens (an SVG's wrapper page)."""
    return rel[:-4] + ".svg.html" if rel.endswith(".svg") else rel


def strip_images(answers: dict[str, Any] | None) -> dict[str, Any] | None:
    """The answers without the image data (what pages and grade files need; keeps memory small)."""
    if not answers:
        return answers
    slim = dict(answers)
    slim["figures"] = [{k: v for k, v in f.items() if k != "images"} | {"n_images": len(f.get("images", []))}
                       for f in answers.get("figures", [])]
    return slim
