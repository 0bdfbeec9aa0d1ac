"""Who may do what: the server's token, the browser cookie, and the allowed Host names.

* Actions that change anything (stop a job or trial, create a job) need the token.
  Scripts send ``Authorization: Bearer <token>`` (or ``?token=<token>``). A browser opens
  the dashboard once with ``?token=<token>``; the page sets an HttpOnly, SameSite=Strict
  cookie and redirects to the same address without the token, and the dashboard's
  scripts then send the cookie together with an ``X-Tuneforge-Action`` header. A plain
  cross-site form cannot set that header, and a cross-origin script that sets it needs a
  CORS pre-flight this server never grants, so another page cannot act with the cookie.
* Reads need no token on a loopback address (only this machine can connect). Bound to any
  other address, every request needs the token (``reads_need_token``).
* On a loopback address the ``Host`` header must name this machine (``localhost``,
  ``127.0.0.1``, ``::1``), which stops a DNS-rebinding page from reading the API.

Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Collection

from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from tuneforge.errors import AuthError

__all__ = [
    "ACTION_HEADER",
    "LOOPBACK_NAMES",
    "AuthError",
    "HostCheck",
    "TokenGuard",
    "cookie_name",
    "is_loopback",
]

ACTION_HEADER = "x-tuneforge-action"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ::1)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def cookie_name(request: Request) -> str:
    """One cookie per port: cookies ignore ports, and two servers must not share one."""
    return f"tuneforge_token_{request.url.port or 80}"


class TokenGuard:
    """Checks requests against the server's token (FastAPI dependencies ``check_*``)."""

    def __init__(self, token: str, *, reads_need_token: bool = False) -> None:
        if not token:
            raise ValueError("the server's token must not be empty")
        self.token = token
        self.reads_need_token = reads_need_token

    def matches(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(
            candidate.encode("utf-8", "surrogatepass"), self.token.encode()
        )

    def is_authenticated(self, request: Request) -> bool:
        """Whether the request carries the token in any accepted way (for pages)."""
        try:
            self._check(request, action=False)
        except AuthError:
            return False
        return True

    def check_read(self, request: Request) -> None:
        if self.reads_need_token:
            self._check(request, action=False)

    def check_write(self, request: Request) -> None:
        self._check(request, action=True)

    def _check(self, request: Request, *, action: bool) -> None:
        header = request.headers.get("authorization", "")
        if header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise AuthError(401, "the Authorization header must read 'Bearer <token>'.")
            return self._compare(value.strip())
        query = request.query_params.get("token")
        if query is not None:
            return self._compare(query)
        cookie = request.cookies.get(cookie_name(request))
        if cookie is not None:
            if action and ACTION_HEADER not in request.headers:
                raise AuthError(
                    403,
                    "a browser action needs the X-Tuneforge-Action header (the dashboard's "
                    "own pages send it); scripts send 'Authorization: Bearer <token>'.",
                )
            return self._compare(cookie)
        what = "this action" if action else "this server (it listens beyond this machine)"
        raise AuthError(
            401,
            f"{what} needs the server's token: send 'Authorization: Bearer <token>', or open "
            "the dashboard once with ?token=<token> (tuneforge serve prints that address; the "
            "token is --token or $TUNEFORGE_TOKEN).",
        )

    def _compare(self, candidate: str) -> None:
        if not self.matches(candidate):
            raise AuthError(
                403, "the token does not match the server's; check --token or $TUNEFORGE_TOKEN."
            )


class HostCheck:
    """ASGI middleware: answer 400 to an HTTP request whose ``Host`` is not allowed."""

    def __init__(self, app: ASGIApp, allowed: Collection[str]) -> None:
        self.app = app
        self.allowed = {name.strip("[]").lower() for name in allowed}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = ""
        for key, value in scope.get("headers", []):
            if key == b"host":
                host = value.decode("latin-1")
                break
        if _host_name(host) in self.allowed:
            await self.app(scope, receive, send)
            return
        body = (
            b'{"detail":"the Host header does not name this server; open it as '
            b'http://127.0.0.1:<port>/ or http://localhost:<port>/."}'
        )
        await send(
            {
                "type": "http.response.start",
                "status": 400,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _host_name(host: str) -> str:
    """``[::1]:8080`` -> ``::1``; ``localhost:8080`` -> ``localhost``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host
