"""Every protected endpoint refuses missing, wrong, expired or under-scoped credentials."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from events.embedded import free_port
from events.settings import BusSettings
from gateway.main import create_app
from gateway.security.keys import KeyStore
from gateway.security.policy import required_scope
from gateway.security.tokens import issue
from gateway.settings import GatewaySettings

SECRET = "a-real-secret-for-tests-0123456789"


@pytest.fixture
def settings(tmp_path: Path) -> GatewaySettings:
    return GatewaySettings(
        env="production",
        jwt_secret=SECRET,
        home=tmp_path,
        worker_wait_s=0.1,
        rate_limit_burst=1000,
        max_body_bytes=4096,
    )


@pytest.fixture
def client(settings: GatewaySettings) -> Iterator[TestClient]:
    unreachable = BusSettings(bootstrap=f"127.0.0.1:{free_port()}")
    with TestClient(create_app(settings, unreachable)) as test_client:
        yield test_client


def _key(settings: GatewaySettings, *scopes: str) -> str:
    return KeyStore(settings.keys_path).create("t", list(scopes))[1]


QUERY = ("POST", "/api/v1/query", {"question": "O que é ACOS?"})


def _call(client: TestClient, token: str | None, method: str, path: str, body=None):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.request(method, path, json=body, headers=headers)


def test_missing_credentials_are_401_with_www_authenticate(client: TestClient) -> None:
    response = _call(client, None, *QUERY)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("token", ["mk_nope_nope", "not-a-jwt", "mk_"])
def test_wrong_credentials_are_401(client: TestClient, token: str) -> None:
    assert _call(client, token, *QUERY).status_code == 401


def test_expired_and_badly_signed_tokens_are_401(client: TestClient) -> None:
    expired = issue(secret=SECRET, subject="u", scopes=["query"], ttl_s=-10)
    assert "expired" in _call(client, expired, *QUERY).json()["detail"]
    forged = issue(
        secret="another-secret-entirely-0000000000", subject="u", scopes=["admin"], ttl_s=60
    )
    assert _call(client, forged, *QUERY).status_code == 401


def test_under_scoped_credentials_are_403(client: TestClient, settings: GatewaySettings) -> None:
    feedback_only = _key(settings, "feedback")
    response = _call(client, feedback_only, *QUERY)
    assert response.status_code == 403
    assert "query" in response.json()["detail"]
    query_jwt = issue(secret=SECRET, subject="u", scopes=["query"], ttl_s=60)
    assert _call(client, query_jwt, "POST", "/api/v1/cache/clear").status_code in (403, 404)


def test_the_right_key_and_token_get_through_auth(
    client: TestClient, settings: GatewaySettings
) -> None:
    # Past authentication the request reaches the handler, which reports the broker is down.
    for token in (
        _key(settings, "query"),
        issue(secret=SECRET, subject="u", scopes=["query"], ttl_s=60),
    ):
        response = _call(client, token, *QUERY)
        assert response.status_code == 503, response.text
    assert _call(client, _key(settings, "admin"), *QUERY).status_code == 503  # admin implies all


def test_a_revoked_key_stops_working_without_restart(
    client: TestClient, settings: GatewaySettings
) -> None:
    store = KeyStore(settings.keys_path)
    key, plaintext = store.create("gone", ["query"])
    assert _call(client, plaintext, *QUERY).status_code == 503
    store.revoke(key.id)
    assert _call(client, plaintext, *QUERY).status_code == 401


def test_public_endpoints_need_no_credentials(client: TestClient) -> None:
    assert client.get("/health").status_code == 503  # honest, but not 401
    assert client.get("/metrics").status_code == 200
    assert client.get("/openapi.json").status_code == 200


def test_bodies_over_the_limit_are_413(client: TestClient, settings: GatewaySettings) -> None:
    token = _key(settings, "query")
    response = _call(client, token, "POST", "/api/v1/query", {"question": "x" * 5000})
    assert response.status_code == 413


def test_keys_are_stored_hashed(settings: GatewaySettings) -> None:
    plaintext = _key(settings, "query")
    key_id, _, secret = plaintext.removeprefix("mk_").partition("_")
    stored = settings.keys_path.read_text()
    assert key_id in stored
    assert secret not in stored


def test_unsafe_settings_are_refused() -> None:
    with pytest.raises(ValidationError, match="MELANCIA_JWT_SECRET"):
        GatewaySettings(env="production")
    with pytest.raises(ValidationError, match="wildcard"):
        GatewaySettings(env="development", cors_origins=["*"], cors_allow_credentials=True)
    with pytest.raises(ValidationError, match="loopback"):
        GatewaySettings(env="development", host="0.0.0.0")


def test_unlisted_routes_default_to_admin() -> None:
    assert required_scope("POST", "/api/v1/something-new") == "admin"
    assert required_scope("GET", "/health") is None
    assert required_scope("POST", "/api/v1/feedback") == "feedback"
    assert required_scope("GET", "/api/v1/models") == "query"
    assert required_scope("POST", "/api/v1/models/select") == "admin"
