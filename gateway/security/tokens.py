"""JWT bearer tokens (HS256) carrying a subject and scopes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

ALGORITHM = "HS256"


class InvalidToken(Exception):
    """Expired, badly signed or malformed token."""


def issue(
    *, secret: str, subject: str, scopes: list[str], ttl_s: int, issuer: str = "melancia"
) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": subject,
        "scope": " ".join(sorted(set(scopes))),
        "iss": issuer,
        "iat": now,
        "exp": now + timedelta(seconds=ttl_s),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify(token: str, *, secret: str, issuer: str = "melancia") -> tuple[str, list[str]]:
    """(subject, scopes) of a valid token."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=issuer,
            options={"require": ["exp", "sub", "iss"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"invalid token: {exc}") from exc
    return str(claims["sub"]), str(claims.get("scope", "")).split()
