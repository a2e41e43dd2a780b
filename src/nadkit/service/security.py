"""API-key authentication and the request body size limit, as pure ASGI middleware.

With a key set (``create_app(api_key=...)`` or ``NADKIT_API_KEY``), every route except
``/health``, the login page and the static assets answers 401 unless the request carries the
key as ``X-API-Key: KEY`` or ``Authorization: Bearer KEY``, or the dashboard cookie that
``POST /login`` sets (an HMAC of the key, HttpOnly, SameSite=Strict; the key itself is never
stored in the browser). Keys are compared in constant time (on SHA-256 digests, so not even
the length leaks).

Bodies larger than ``max_body_bytes`` get 413: at once when ``Content-Length`` says so,
otherwise as soon as the streamed body passes the limit. A body that stops arriving (no data
for ``read_timeout`` seconds, e.g. shorter than its ``Content-Length``) gets 408 and the
connection is closed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from http.cookies import SimpleCookie

import orjson
from starlette.exceptions import HTTPException

COOKIE = "nadkit_session"
PUBLIC_PATHS = ("/health", "/login")
PUBLIC_PREFIXES = ("/static/",)


def _digest(value: str | bytes) -> bytes:
    return hashlib.sha256(value.encode() if isinstance(value, str) else value).digest()


class APIKey:
    """One server's key: checks headers and makes/checks the dashboard cookie token."""

    def __init__(self, key: str) -> None:
        if not key:
            raise ValueError("empty API key")
        self._digest = _digest(key)
        self.cookie_token = hmac.new(key.encode(), b"nadkit dashboard session", hashlib.sha256).hexdigest()

    def matches(self, candidate: str | bytes | None) -> bool:
        return candidate is not None and hmac.compare_digest(_digest(candidate), self._digest)

    def cookie_matches(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(_digest(token), _digest(self.cookie_token))

    def allows(self, headers: dict[bytes, bytes]) -> bool:
        if self.matches(headers.get(b"x-api-key")):
            return True
        auth = headers.get(b"authorization", b"")
        if auth[:7].lower() == b"bearer " and self.matches(auth[7:].strip()):
            return True
        cookie = headers.get(b"cookie")
        if cookie:
            jar = SimpleCookie()
            try:
                jar.load(cookie.decode("latin-1"))
            except Exception:  # a malformed cookie header is simply not a session
                return False
            morsel = jar.get(COOKIE)
            return self.cookie_matches(morsel.value if morsel else None)
        return False


class APIKeyMiddleware:
    """401 for every non-public route without the key (browsers get the login form)."""

    def __init__(self, app, key: APIKey, login_page) -> None:
        self.app = app
        self.key = key
        self.login_page = login_page  # callable(message) -> bytes (HTML)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or _public(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if self.key.allows(headers):
            await self.app(scope, receive, send)
            return
        wants_html = scope["method"] == "GET" and b"text/html" in headers.get(b"accept", b"")
        if wants_html:
            body = self.login_page("This server needs an API key.")
            ctype = b"text/html; charset=utf-8"
        else:
            body = orjson.dumps({"detail": "missing or wrong API key: send it as 'X-API-Key: KEY' or "
                                           "'Authorization: Bearer KEY'"})
            ctype = b"application/json"
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode()),
                                (b"www-authenticate", b'Bearer realm="nadkit"')]})
        await send({"type": "http.response.body", "body": body})


def _public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


class BodyTimeout(Exception):
    """The request body stopped arriving (answered 408, connection closed)."""


class BodyLimitMiddleware:
    """413 for request bodies over ``max_bytes`` (declared or streamed); :class:`BodyTimeout`
    when no body data comes for ``read_timeout`` seconds."""

    def __init__(self, app, max_bytes: int, read_timeout: float = 30.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout = read_timeout

    def _message(self, size: int | None) -> bytes:
        got = f"{size:,} bytes" if size is not None else "more"
        return orjson.dumps({"detail": f"request body too large ({got}); this server accepts at most "
                                       f"{self.max_bytes:,} bytes per request"})

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        declared: int | None = None
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = None
            if declared is not None and declared > self.max_bytes:
                body = self._message(declared)
                await send({"type": "http.response.start", "status": 413,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode()),
                                        (b"connection", b"close")]})
                await send({"type": "http.response.body", "body": body})
                return
        received = 0
        limit = self.max_bytes
        complete = False  # after the body, a receive waits for the disconnect: no timeout then

        async def limited_receive():
            nonlocal received, complete
            if complete:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.read_timeout)
            except TimeoutError:
                of = f" of the {declared:,} its Content-Length declares" if declared is not None else ""
                raise BodyTimeout(f"request body incomplete: no data for {self.read_timeout:g} s after "
                                  f"{received:,} bytes{of}") from None
            if message["type"] == "http.request":
                complete = not message.get("more_body", False)
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, detail=orjson.loads(self._message(None))["detail"])
            return message

        await self.app(scope, limited_receive, send)
