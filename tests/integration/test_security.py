"""Rate limits hold under a burst from a second process, and recover."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import httpx
import pytest

from events.embedded import free_port
from gateway.security.keys import KeyStore
from tests.integration.harness import Fleet, health, service_env, wait_until

pytestmark = pytest.mark.integration

BURST = """
import json, sys, httpx
url, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
codes, retry = [], []
with httpx.Client(timeout=5) as client:
    for _ in range(n):  # bounded loop on loopback
        r = client.get(url, headers={"Authorization": f"Bearer {key}"})
        codes.append(r.status_code)
        if r.status_code == 429:
            retry.append(r.headers.get("Retry-After"))
print(json.dumps({"codes": codes, "retry": retry}))
"""


def test_rate_limit_holds_under_a_burst_and_recovers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    key = KeyStore(tmp_path / "keys.json").create("burst", ["query"])[1]
    env = service_env(
        f"127.0.0.1:{free_port()}",
        MELANCIA_PORT=str(port),
        MELANCIA_ENV="production",
        MELANCIA_JWT_SECRET="integration-secret-0123456789abcdef",
        MELANCIA_KEYS_FILE=str(tmp_path / "keys.json"),
        MELANCIA_RATE_LIMIT_KEY_PER_MIN="60",
        MELANCIA_RATE_LIMIT_BURST="5",
    )
    fleet = Fleet(tmp_path)
    try:
        fleet.start("gateway", ["gateway"], env)
        wait_until(lambda: health(base), 60, "gateway answering")
        url = f"{base}/api/v1/query/unknown-id"
        out = subprocess.run(
            [sys.executable, "-c", BURST, url, key, "30"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        result = json.loads(out.stdout)
        codes = result["codes"]
        assert codes.count(404) <= 7  # the burst of 5, plus what refilled during the loop
        assert codes.count(429) >= 20
        assert all(r and int(r) >= 1 for r in result["retry"])
        time.sleep(int(result["retry"][-1]))
        recovered = httpx.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=5)
        assert recovered.status_code == 404  # through the limiter and auth again
        unauthenticated = httpx.get(url, timeout=5)
        assert unauthenticated.status_code == 401
    except BaseException:
        print(fleet.logs())
        raise
    finally:
        fleet.stop()


def test_two_gateways_share_rate_limits_through_redis(tmp_path) -> None:  # type: ignore[no-untyped-def]
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        pytest.skip("redis-server is not installed (make setup installs it with apt)")
    redis_port = free_port()
    redis_proc = subprocess.Popen(
        [
            redis_server,
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    key = KeyStore(tmp_path / "keys.json").create("shared", ["query"])[1]
    fleet = Fleet(tmp_path)
    bases = []
    try:
        for i in range(2):
            port = free_port()
            env = service_env(
                f"127.0.0.1:{free_port()}",
                MELANCIA_PORT=str(port),
                MELANCIA_ENV="production",
                MELANCIA_JWT_SECRET="integration-secret-0123456789abcdef",
                MELANCIA_KEYS_FILE=str(tmp_path / "keys.json"),
                MELANCIA_RATE_LIMIT_KEY_PER_MIN="6",
                MELANCIA_RATE_LIMIT_BURST="4",
                MELANCIA_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
            )
            fleet.start(f"gateway-{i}", ["gateway"], env)
            bases.append(f"http://127.0.0.1:{port}")
        for base in bases:
            wait_until(lambda base=base: health(base), 60, "gateway answering")
        codes = []
        for n in range(12):  # alternate gateways: one bucket shared by both
            response = httpx.get(
                f"{bases[n % 2]}/api/v1/query/unknown",
                headers={"Authorization": f"Bearer {key}"},
                timeout=5,
            )
            codes.append(response.status_code)
        assert codes.count(404) == 4, codes  # the burst, not 4 per gateway
        assert codes.count(429) == 8, codes
    except BaseException:
        print(fleet.logs())
        raise
    finally:
        fleet.stop()
        redis_proc.terminate()
        redis_proc.wait(10)
