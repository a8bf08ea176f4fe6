"""`melancia keys create|revoke|list|token`."""

from __future__ import annotations

import argparse

from gateway.security.keys import SCOPES, KeyError_, KeyStore
from gateway.security.tokens import issue


def _store() -> KeyStore:
    from gateway.settings import GatewaySettings

    return KeyStore(GatewaySettings(env="development").keys_path)


def _scopes(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def _create(args: argparse.Namespace) -> int:
    try:
        key, plaintext = _store().create(args.name, _scopes(args.scopes))
    except KeyError_ as exc:
        print(f"error: {exc}")
        return 2
    print(f"created key {key.id} ({key.name}) with scopes {','.join(key.scopes)}")
    print("store it now; it is not shown again:")
    print(plaintext)
    return 0


def _revoke(args: argparse.Namespace) -> int:
    try:
        key = _store().revoke(args.id)
    except KeyError_ as exc:
        print(f"error: {exc}")
        return 2
    print(f"revoked {key.id} ({key.name}) at {key.revoked_at}")
    return 0


def _list(args: argparse.Namespace) -> int:
    print("| id | name | scopes | created | revoked |")
    print("|---|---|---|---|---|")
    for k in _store().list():
        print(
            f"| {k.id} | {k.name} | {','.join(k.scopes)} | {k.created_at} | {k.revoked_at or ''} |"
        )
    return 0


def _token(args: argparse.Namespace) -> int:
    from gateway.settings import GatewaySettings

    settings = GatewaySettings()  # refuses the default secret outside development
    print(
        issue(
            secret=settings.jwt_secret.get_secret_value(),
            subject=args.subject,
            scopes=_scopes(args.scopes),
            ttl_s=args.ttl,
            issuer=settings.jwt_issuer,
        )
    )
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = subparsers.add_parser("keys", help="API keys and JWTs").add_subparsers(
        dest="action", required=True
    )
    p = keys.add_parser("create", help="create an API key (printed once)")
    p.add_argument("--name", required=True)
    p.add_argument(
        "--scopes", default="query,feedback", help=f"comma-separated: {','.join(SCOPES)}"
    )
    p.set_defaults(func=_create, service="cli")
    p = keys.add_parser("revoke", help="revoke a key by id")
    p.add_argument("id")
    p.set_defaults(func=_revoke, service="cli")
    p = keys.add_parser("list", help="list keys (never their secrets)")
    p.set_defaults(func=_list, service="cli")
    p = keys.add_parser("token", help="mint a JWT signed with MELANCIA_JWT_SECRET")
    p.add_argument("--subject", required=True)
    p.add_argument("--scopes", default="query,feedback")
    p.add_argument("--ttl", type=int, default=3600, help="seconds")
    p.set_defaults(func=_token, service="cli")
