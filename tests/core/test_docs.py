"""Swagger UI is served by the app itself, so /docs works offline."""

from __future__ import annotations

import re

import httpx


async def test_docs_load_only_from_the_app(site: httpx.AsyncClient) -> None:
    page = await site.get("/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(src.startswith("/docs/assets/") for src in sources), sources
    assert "http" not in "".join(re.findall(r"url: '([^']*)'", page.text))
    for source in sources:
        asset = await site.get(source)
        assert asset.status_code == 200, source
        assert asset.content
    assert "persistAuthorization" in page.text
    assert "oauth2RedirectUrl" in page.text


async def test_openapi_still_offers_password_login_for_authorize(site: httpx.AsyncClient) -> None:
    schema = (await site.get("/openapi.json")).json()
    [scheme] = schema["components"]["securitySchemes"].values()
    assert scheme["flows"]["password"]["tokenUrl"].endswith("/auth/login")
