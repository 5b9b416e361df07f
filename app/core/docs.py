"""Swagger UI served by the app itself, from the assets the fastapi-offline package ships
(Swagger UI 5, which reads FastAPI's OpenAPI 3.1): /docs works offline and loads nothing
from another host."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"
SWAGGER_ASSETS = Path(fastapi_offline.__file__).parent / "static"


def install_offline_docs(app: FastAPI, *, swagger_ui_parameters: dict[str, object]) -> None:
    """Needs the app built with docs_url=None, so FastAPI's CDN page is not there too."""
    app.mount(ASSETS_PATH, StaticFiles(directory=SWAGGER_ASSETS), name="swagger-ui-assets")

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
            oauth2_redirect_url=OAUTH2_REDIRECT_PATH,
            swagger_ui_parameters=swagger_ui_parameters,
        )

    @app.get(OAUTH2_REDIRECT_PATH, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
