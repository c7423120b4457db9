"""Who may see the dashboard: a Host check, a token, a cookie, CSRF tokens, strict headers.

On a shared login node anyone can connect to 127.0.0.1, and a web page the user visits
can make the browser send requests to it (DNS rebinding, cross-site forms). So every
request, static files included, must carry the server's random token: once in the URL
(``?token=...``, printed at start), which is exchanged for an HttpOnly, SameSite=Strict
cookie and removed from the address bar by a redirect; or as ``Authorization: Bearer``.
The Host header must name the loopback (the address an ``ssh -L`` tunnel or the local
port is reached by), which defeats DNS rebinding. Actions additionally need the CSRF
token that the server embeds in its own forms.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})

#: Sent with every response: no framing, no sniffing, no referrer, scripts and styles
#: only from the dashboard itself (so no inline style or script anywhere).
SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self';"
     b" form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


@dataclass(frozen=True)
class Secrets:
    """The random values of one server run."""

    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    session: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    #: Cookies are per host, not per port: each server run has its own cookie name.
    cookie_name: str = field(default_factory=lambda: f"hpcflow_ui_{secrets.token_hex(4)}")


def host_allowed(host: str | None, allowed: frozenset[str] = LOOPBACK_NAMES) -> bool:
    """Whether a Host header names an allowed host (any port: a tunnel picks its own)."""
    if not host:
        return False
    host = host.strip().lower()
    if host.startswith("["):
        name = host[1:host.find("]")] if "]" in host else ""
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return name in allowed


def same(given: str | None, expected: str) -> bool:
    return given is not None and secrets.compare_digest(given.encode(), expected.encode())


class Guard:
    """ASGI middleware in front of every route: Host check, token or cookie, headers."""

    def __init__(self, app: Any, keys: Secrets, allowed_hosts: frozenset[str] = LOOPBACK_NAMES) -> None:
        self.app = app
        self.keys = keys
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # no websockets here
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if not host_allowed(headers.get("host"), self.allowed_hosts):
            await _plain(send, 400, "hpcflow ui: the Host header must name localhost (use the printed URL or ssh -L)")
            return
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = next((v for k, v in query if k == "token"), None)
        if given is not None:
            if not same(given, self.keys.token):
                await _plain(send, 403, "hpcflow ui: wrong token")
                return
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            location = quote(scope.get("path", "/"), safe="/()") + (f"?{rest}" if rest else "")
            await _redirect_with_cookie(send, location, self.keys)
            return
        if not (self._cookie_ok(headers.get("cookie")) or self._bearer_ok(headers.get("authorization"))):
            await _plain(send, 403, "hpcflow ui: missing or wrong token: open the URL the server printed")
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    h for h in SECURITY_HEADERS if h[0] not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _cookie_ok(self, header: str | None) -> bool:
        if not header:
            return False
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(header)
        except Exception:  # a malformed Cookie header is just no cookie
            return False
        morsel = jar.get(self.keys.cookie_name)
        return morsel is not None and same(morsel.value, self.keys.session)

    def _bearer_ok(self, header: str | None) -> bool:
        if not header or not header.lower().startswith("bearer "):
            return False
        return same(header[7:].strip(), self.keys.token)


def csrf_ok(form: dict[str, str], headers: dict[str, str], keys: Secrets,
            allowed_hosts: frozenset[str] = LOOPBACK_NAMES) -> bool:
    """A POST is the dashboard's own form: the right CSRF token, and no foreign Origin."""
    origin = headers.get("origin")
    if origin and origin != "null":
        host = origin.split("://", 1)[-1]
        if not host_allowed(host, allowed_hosts):
            return False
    return same(form.get("csrf"), keys.csrf)


async def _plain(send: Any, status: int, text: str) -> None:
    body = (text + "\n").encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *SECURITY_HEADERS]})
    await send({"type": "http.response.body", "body": body})


async def _redirect_with_cookie(send: Any, location: str, keys: Secrets) -> None:
    cookie = f"{keys.cookie_name}={keys.session}; Path=/; HttpOnly; SameSite=Strict"
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", location.encode("latin-1")), (b"set-cookie", cookie.encode()),
                            (b"content-length", b"0"), *SECURITY_HEADERS]})
    await send({"type": "http.response.body", "body": b""})
