"""The reference receivers hookd is measured against, each in the same shape: read the
body, verify the GitHub HMAC, answer 202. Run one with
`python3 bench/reference_apps.py raw|starlette|bottle PORT SECRET`."""

from __future__ import annotations

import hashlib
import hmac
import sys
from typing import Any


def _valid(secret: bytes, body: bytes, header: str | None) -> bool:
    if not header or not header.startswith("sha256="):
        return False
    digest = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(digest, header[7:])


def raw_asgi_app(secret: bytes) -> Any:
    """The server stack's limit: a bare ASGI callable that stores nothing."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        signature = dict(scope["headers"]).get(b"x-hub-signature-256", b"").decode()
        ok = _valid(secret, b"".join(chunks), signature)
        body = b'{"status":"accepted"}' if ok else b'{"error":"bad signature"}'
        await send(
            {
                "type": "http.response.start",
                "status": 202 if ok else 401,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


def starlette_app(secret: bytes) -> Any:
    """A plain Starlette app: verify, answer, store nothing, no logging."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def receive_hook(request: Request) -> JSONResponse:
        body = await request.body()
        if not _valid(secret, body, request.headers.get("x-hub-signature-256")):
            return JSONResponse({"error": "bad signature"}, status_code=401)
        return JSONResponse({"status": "accepted"}, status_code=202)

    return Starlette(routes=[Route("/hooks/github", receive_hook, methods=["POST"])])


def run_bottle(port: int, secret: bytes) -> None:
    """The blog recipe: a bottle app on the standard library's wsgiref server."""
    import bottle

    app = bottle.Bottle()

    @app.post("/hooks/github")  # type: ignore[misc]
    def receive_hook() -> dict[str, str]:
        body = bottle.request.body.read()
        if not _valid(secret, body, bottle.request.headers.get("X-Hub-Signature-256")):
            bottle.response.status = 401
            return {"error": "bad signature"}
        bottle.response.status = 202
        return {"status": "accepted"}

    app.run(host="127.0.0.1", port=port, quiet=True)


def main() -> None:
    kind, port, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
    if kind == "bottle":
        run_bottle(port, secret)
        return
    import uvicorn

    app = raw_asgi_app(secret) if kind == "raw" else starlette_app(secret)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
