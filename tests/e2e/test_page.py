"""The web page's files: served from the static folder only, with their content types."""

from __future__ import annotations

import httpx
import pytest


@pytest.fixture
async def client(transport: httpx.ASGITransport) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_index_served_with_policy(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert '<script type="module" src="/static/app.js">' in response.text


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/static/app.js", "javascript"),
        ("/static/live.js", "javascript"),
        ("/static/style.css", "text/css"),
        ("/static/index.html", "text/html"),
    ],
)
async def test_static_content_types(client: httpx.AsyncClient, path: str, media_type: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert media_type in response.headers["content-type"]


@pytest.mark.parametrize(
    "path",
    [
        "/static/missing.js",
        "/static/%2e%2e/page.py",
        "/static/..%2fpage.py",
        "/static/%2e%2e%2fws.py",
    ],
)
async def test_outside_or_missing_is_404(client: httpx.AsyncClient, path: str) -> None:
    request = client.build_request("GET", "http://test")
    request.url = request.url.copy_with(raw_path=path.encode())
    response = await client.send(request)
    assert response.status_code == 404
    assert "import" not in response.text


async def test_dot_segments_never_leave_folder(client: httpx.AsyncClient) -> None:
    # httpx, like a browser, resolves `..` before sending, so the request is for /page.py,
    # which is no file of the page.
    response = await client.get("/static/../page.py")
    assert "STATIC_DIR" not in response.text
    assert response.status_code != 200
