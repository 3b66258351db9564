"""Access control and security headers.

Bearer-token auth on the prediction endpoints is off unless `API_TOKEN` is set; the
token is compared in constant time. Every response carries headers that stop browsers
sniffing, framing or caching it; the Content-Security-Policy still lets the local
Swagger UI at /docs run (it needs inline scripts and styles, nothing from elsewhere).
"""

from __future__ import annotations

import hmac

from apispec import BasePlugin
from flask import Flask, current_app, request
from flask_smorest import abort

# Blueprints whose endpoints need the token when API_TOKEN is set: the predictions, the
# metrics and the monitoring view (traffic figures are nobody else's business).
# / /health /docs stay open.
PROTECTED_BLUEPRINTS = frozenset({"predict", "metrics", "monitoring"})
PROTECTED_PATH_PREFIX = "/predict"  # how the spec plugin finds the predict operations
SCHEME_NAME = "bearerAuth"
CHALLENGE = 'Bearer realm="model-service"'

# Swagger UI inlines its start-up script and styles and draws data: images; all of it is
# served by this app, so nothing is allowed from any other origin.
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": CSP,
    "Cross-Origin-Opener-Policy": "same-origin",
    # API answers are never cached; the static Swagger UI assets keep their max-age.
    "Cache-Control": "no-store",
}
HEADER_LIST = list(HEADERS.items())


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def token_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison, so response timing does not leak the token."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def require_token() -> None:
    """401 with a Bearer challenge unless a protected endpoint got the right token."""
    if request.blueprint not in PROTECTED_BLUEPRINTS:
        return
    given = bearer_token(request.headers.get("Authorization"))
    if not token_matches(given, current_app.config["API_TOKEN"]):
        abort(
            401,
            message="A valid bearer token is required: Authorization: Bearer <token>.",
            headers={"WWW-Authenticate": CHALLENGE},
        )


class SecurityHeaders:
    """WSGI middleware: the headers above on every response, unless already set.

    Appending to the WSGI header list costs about a microsecond; setting the same headers
    on werkzeug's Response object cost about 19.
    """

    def __init__(self, wsgi_app) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        def start(status, headers, exc_info=None):
            present = {name.lower() for name, _ in headers}
            headers.extend(h for h in HEADER_LIST if h[0].lower() not in present)
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start)


def register_security(app: Flask) -> None:
    """Token check (only when API_TOKEN is set) and headers on every response."""
    if app.config.get("API_TOKEN"):
        app.before_request(require_token)
    app.wsgi_app = SecurityHeaders(app.wsgi_app)


class BearerAuthPlugin(BasePlugin):
    """Documents the bearer scheme, and 401, on the protected operations."""

    def init_spec(self, spec) -> None:
        spec.components.security_scheme(
            SCHEME_NAME,
            {"type": "http", "scheme": "bearer", "description": "API_TOKEN"},
        )

    def operation_helper(self, path=None, operations=None, **kwargs) -> None:
        if not (path or "").startswith(PROTECTED_PATH_PREFIX):
            return
        for operation in (operations or {}).values():
            operation["security"] = [{SCHEME_NAME: []}]
            operation.setdefault("responses", {}).setdefault("401", "UNAUTHORIZED")
