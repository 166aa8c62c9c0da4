"""``lab3 answers serve OUT``: the grading pages of a batch on a small local web server.

Binds 127.0.0.1 only. Every grade saved goes to ``OUT/manual_grades.json`` and rebuilds ``final.csv``,
``canvas.csv`` and ``grades.csv`` at once. The pages carry a Content-Security-Policy that lets only the
page's own script run (a nonce per response): student text is escaped, and even if it were not, a
``<script>`` in it would not run. A save must carry the server's random token and come to the
127.0.0.1/localhost address (no other web page open in the TA's browser can post a grade).
"""

from __future__ import annotations

import json
import mimetypes
import secrets
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from autograder.gradebook import classview, pages, store
from autograder.gradebook.final import CANVAS, FINAL, write_final
from autograder.outdir import OutDir

MAX_BODY = 64 << 10
_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".svg": "image/svg+xml", ".html": "text/html; charset=utf-8"}


class GradingApp:
    """The state behind the server: the batch (loaded once), the token, the grade file."""

    def __init__(self, out: Path, view: classview.ClassView | None = None) -> None:
        self.out = Path(out).absolute()
        self.stamp = self._stamp()
        self.view = view or classview.load(self.out)
        self.token = secrets.token_urlsafe(24)
        self.lock = threading.Lock()

    def _stamp(self) -> tuple[tuple[str, int], ...]:
        stamps = []
        files = OutDir(self.out)
        for sid in files.graded_ids():
            try:
                stamps.append((sid, files.submission(sid).result_json.stat().st_mtime_ns))
            except OSError:
                continue
        return tuple(stamps)

    def refresh(self) -> None:
        """Reload the batch when a (re)grade changed its results while the server runs, so that pages and
        the grade files never go back to older autograded points."""
        stamp = self._stamp()
        if stamp != self.stamp:
            with self.lock:
                self.view, self.stamp = classview.load(self.out), stamp

    def save(self, form: dict[str, str]) -> dict[str, Any]:
        """Validate and store one grade; rebuilds the grade files. :class:`store.GradeError` if invalid."""
        if not secrets.compare_digest(form.get("token", ""), self.token):
            raise PermissionError("this page is out of date (the server was restarted): reload it")
        self.refresh()
        q = self.view.question(form.get("question", ""))
        sub = self.view.submission(form.get("submission", ""))
        if q is None or sub is None:
            raise store.GradeError("unknown question or submission")
        points = store.parse_points(form.get("points"), q.points)
        with self.lock:
            entry = store.save(self.out, q.id, sub.id, points, form.get("comment", ""))
            self.export()
        return entry

    def export(self) -> None:
        from autograder.reports.per_class import write_grades_csv

        table = write_final(self.out, self.view.rows, self.view.questions)
        write_grades_csv(self.out, self.view.rows, table)


class Handler(BaseHTTPRequestHandler):
    """Routes: ``/`` index, ``/q/<id>`` a question, ``POST /grade``, ``/files/...`` figures, the CSVs."""

    app: GradingApp
    server_version = "lab3-grading"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class' name
        pass

    def _send(self, status: int, body: bytes, ctype: str, nonce: str = "", extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        script = f"'nonce-{nonce}'" if nonce else "'none'"
        self.send_header("Content-Security-Policy", f"default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
                         f"script-src {script}; connect-src 'self'; form-action 'self'; base-uri 'none'; "
                         "frame-ancestors 'none'")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _html(self, text: str, nonce: str = "", status: int = HTTPStatus.OK) -> None:
        self._send(status, text.encode("utf-8"), "text/html; charset=utf-8", nonce)

    def _error(self, status: int, message: str, as_json: bool = False) -> None:
        if as_json:
            self._send(status, json.dumps({"error": message}).encode(), "application/json")
        else:
            self._html(f"<!doctype html><meta charset=utf-8><p>{pages.e(message)}</p><p><a href='/'>back</a></p>",
                       status=status)

    def _host_ok(self) -> bool:
        port = self.server.server_address[1]
        return self.headers.get("Host", "") in (f"127.0.0.1:{port}", f"localhost:{port}")

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if not self._host_ok():
            return self._error(HTTPStatus.FORBIDDEN, "open the grading pages at 127.0.0.1")
        try:
            self._get()
        except store.GradeError as exc:  # manual_grades.json edited by hand and broken: say so
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, str(exc))

    def _get(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        app = self.app
        if url.path == "/" or url.path.startswith("/q/"):
            app.refresh()
        if url.path == "/":
            return self._html(pages.index_page(app.view, store.load(app.out)))
        if url.path.startswith("/q/"):
            q = app.view.question(unquote(url.path[3:]))
            if q is None:
                return self._error(HTTPStatus.NOT_FOUND, "no such question")
            try:
                start = int(query.get("start", ["0"])[0])
            except ValueError:
                start = 0
            nonce = secrets.token_urlsafe(12)
            page = pages.question_page(app.view, q, store.load(app.out), token=app.token, nonce=nonce, start=start,
                                       ungraded=query.get("ungraded", [""])[0] == "1")
            return self._html(page, nonce)
        if url.path in (f"/{FINAL}", f"/{CANVAS}"):
            path = app.out / url.path[1:]
            if path.exists():
                return self._send(HTTPStatus.OK, path.read_bytes(), "text/csv; charset=utf-8",
                                  extra={"Content-Disposition": f"attachment; filename={url.path[1:]}"})
        if url.path.startswith("/files/"):
            return self._file(unquote(url.path[len("/files/"):]))
        return self._error(HTTPStatus.NOT_FOUND, "not found")

    do_HEAD = do_GET

    def _file(self, rel: str) -> None:
        base = (OutDir(self.app.out).answers_dir / "figures").resolve()
        path = (OutDir(self.app.out).answers_dir / rel).resolve()
        if not path.is_relative_to(base) or not path.is_file():
            return self._error(HTTPStatus.NOT_FOUND, "no such file")
        ctype = _TYPES.get("".join(path.suffixes[-2:]) if path.name.endswith(".svg.html") else path.suffix)
        ctype = ctype or _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        self._send(HTTPStatus.OK, path.read_bytes(), ctype)

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        as_json = "application/json" in self.headers.get("Accept", "")
        if not self._host_ok():
            return self._error(HTTPStatus.FORBIDDEN, "open the grading pages at 127.0.0.1", as_json)
        if urlsplit(self.path).path != "/grade":
            return self._error(HTTPStatus.NOT_FOUND, "not found", as_json)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "too large", as_json)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode("utf-8", "replace"),
                                             keep_blank_values=True).items()}
        try:
            entry = self.app.save(form)
        except PermissionError as exc:
            return self._error(HTTPStatus.FORBIDDEN, str(exc), as_json)
        except store.GradeError as exc:
            return self._error(HTTPStatus.BAD_REQUEST, str(exc), as_json)
        if as_json:
            return self._send(HTTPStatus.OK, json.dumps(entry).encode(), "application/json")
        qid, sid = form["question"], form["submission"]
        start = form.get("start", "0")
        target = pages.question_url(qid, int(start) if start.isdigit() else 0) + f"#s-{sid}"
        self._send(HTTPStatus.SEE_OTHER, b"", "text/plain", extra={"Location": target})


def make_server(out: Path, port: int = 0, host: str = "127.0.0.1") -> tuple[ThreadingHTTPServer, str]:
    """A server for batch ``out`` (not started); ``port=0`` picks a free one. Returns (server, its URL)."""
    app = GradingApp(out)
    app.export()
    handler = type("BoundHandler", (Handler,), {"app": app})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def serve(out: Path, port: int = 8000, open_browser: bool = False) -> int:
    """Run the grading server until Ctrl-C."""
    server, url = make_server(out, port)
    print(f"grading pages of {Path(out).absolute()}: {url}  (Ctrl-C to stop; grades go to "
          f"{OutDir(Path(out).absolute()).manual_grades})", flush=True)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
