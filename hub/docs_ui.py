"""`/docs` (Swagger UI), served from files shipped in a package, so it works offline.

FastAPI's own page loads its JavaScript and CSS from a CDN, so an operator's browser without Internet
access (or one that blocks third-party scripts) shows a blank page. The `fastapi-offline` package ships
those files; they are served here under `/docs/assets`. (No `/redoc`: ReDoc still loads its logo from its
vendor's server.)
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs/assets"


def assets_dir() -> Path:
    """The directory of the shipped Swagger UI and ReDoc files."""
    return Path(fastapi_offline.__file__).parent / "static"


def add_docs(app: FastAPI) -> None:
    """Serve `/docs` from the shipped files (the app is built with docs_url=None)."""
    app.mount(ASSETS_URL, StaticFiles(directory=assets_dir()), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    app.add_route("/docs", swagger_ui, include_in_schema=False)
