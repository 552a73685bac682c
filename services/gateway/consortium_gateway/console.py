"""The built console (``web/dist``) at ``/``, with single-page-app fallback to ``index.html``.

Without a build there is a short page that says how to build it and where the API is.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, Response

__all__ = ["install_console"]

_NOT_BUILT = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Consortium</title></head><body><h1>Consortium</h1>
<p>The console is not built on this machine (<code>make install</code> builds it where npm
exists). The API is at <a href="/api/v1/docs">/api/v1/docs</a>.</p></body></html>"""


def install_console(app: FastAPI, directory: Path) -> None:
    """Serve ``directory`` at ``/``; paths under ``/api`` are never the console's."""
    root = directory.resolve()

    @app.get("/{path:path}", include_in_schema=False)
    async def console(path: str) -> Response:
        if path.startswith("api/") or path == "api":
            raise HTTPException(404, f"no API route /{path}")
        index = root / "index.html"
        if not index.is_file():
            return HTMLResponse(_NOT_BUILT)
        target = (root / path).resolve()
        if path and target.is_relative_to(root) and target.is_file():
            return FileResponse(target)
        return FileResponse(index, headers={"Cache-Control": "no-cache"})
