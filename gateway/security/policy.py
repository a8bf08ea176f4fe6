"""Which scope each route needs. Routes not listed need `admin`: new endpoints start closed."""

from __future__ import annotations

PUBLIC_PATHS = frozenset(
    {"/health", "/metrics", "/", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
)
PUBLIC_PREFIXES = ("/static",)

# (methods or None for any, path prefix, scope): first match wins.
RULES: tuple[tuple[frozenset[str] | None, str, str], ...] = (
    (None, "/api/v1/feedback", "feedback"),
    (None, "/api/v1/query", "query"),
    (None, "/v1/", "query"),
    (frozenset({"GET"}), "/api/v1/models", "query"),
    (None, "/api/v1/models", "admin"),
    (None, "/api/v1/finetune", "admin"),
    (None, "/api/v1/cache", "admin"),
    (None, "/api/v1/stats", "admin"),
    (None, "/api/v1/ab", "admin"),
)


def required_scope(method: str, path: str) -> str | None:
    """The scope a route template needs; None for public routes."""
    if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
        return None
    for methods, prefix, scope in RULES:
        if (methods is None or method in methods) and path.startswith(prefix):
            return scope
    return "admin"
