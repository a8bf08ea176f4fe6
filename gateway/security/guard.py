"""The app-wide dependency that authenticates, authorises and rate-limits every request."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from fastapi import HTTPException, Request

from gateway.security.keys import PREFIX, KeyStore
from gateway.security.policy import required_scope
from gateway.security.ratelimit import Limiter, MemoryBuckets, RedisBuckets
from gateway.security.tokens import InvalidToken, verify
from gateway.settings import GatewaySettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Principal:
    """Who is calling and what they may do."""

    subject: str
    scopes: frozenset[str]
    kind: str  # "key", "jwt" or "development"
    key_id: str | None = None


@dataclass
class Guard:
    """Security state of one gateway: key store, token secret, limiters."""

    settings: GatewaySettings
    keys: KeyStore = field(init=False)
    per_key: Limiter = field(init=False)
    per_ip: Limiter = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        self.keys = KeyStore(s.keys_path)
        if s.redis_url:
            self.per_key = RedisBuckets(
                s.redis_url, per_minute=s.rate_limit_key_per_min, burst=s.rate_limit_burst
            )
            self.per_ip = RedisBuckets(
                s.redis_url,
                per_minute=s.rate_limit_ip_per_min,
                burst=s.rate_limit_burst,
                prefix="melancia:rl:ip:",
            )
        else:
            self.per_key = MemoryBuckets(
                per_minute=s.rate_limit_key_per_min, burst=s.rate_limit_burst
            )
            self.per_ip = MemoryBuckets(
                per_minute=s.rate_limit_ip_per_min, burst=s.rate_limit_burst
            )

    @property
    def development(self) -> bool:
        return self.settings.env == "development"

    def authenticate(self, request: Request) -> Principal:
        """The caller's principal from `Authorization: Bearer …` or `X-API-Key`; 401 if none."""
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        token = token or request.headers.get("x-api-key", "").strip()
        if not token:
            raise _unauthorized("missing credentials: send Authorization: Bearer <key or token>")
        if token.startswith(PREFIX):
            key = self.keys.verify(token)
            if key is None:
                raise _unauthorized("invalid or revoked API key")
            return Principal(
                subject=key.name, scopes=frozenset(key.scopes), kind="key", key_id=key.id
            )
        try:
            subject, scopes = verify(
                token,
                secret=self.settings.jwt_secret.get_secret_value(),
                issuer=self.settings.jwt_issuer,
            )
        except InvalidToken as exc:
            raise _unauthorized(str(exc)) from exc
        return Principal(subject=subject, scopes=frozenset(scopes), kind="jwt")


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": 'Bearer realm="melancia"'})


def _too_many(wait_s: float, what: str) -> HTTPException:
    return HTTPException(
        429,
        f"rate limit exceeded for this {what}; retry later",
        headers={"Retry-After": str(max(1, round(wait_s + 0.5)))},
    )


async def enforce(request: Request) -> None:
    """Applied to every route: per-IP limit, credentials, scope, per-key limit."""
    guard: Guard = request.app.state.guard
    route = request.scope.get("route")
    scope = required_scope(request.method, getattr(route, "path", request.url.path))
    if scope is None:
        return
    if guard.development:
        # Loopback only (settings enforce it): every caller is this machine's user.
        request.state.principal = Principal(
            "development", frozenset({"query", "feedback", "admin"}), "development"
        )
        return
    client_ip = request.client.host if request.client else "unknown"
    wait = await guard.per_ip.hit(f"ip:{client_ip}")
    if wait is not None:
        raise _too_many(wait, "address")
    principal = guard.authenticate(request)
    if scope not in principal.scopes and "admin" not in principal.scopes:
        raise HTTPException(403, f"this credential lacks the '{scope}' scope")
    wait = await guard.per_key.hit(f"key:{principal.key_id or principal.subject}")
    if wait is not None:
        raise _too_many(wait, "credential")
    request.state.principal = principal
