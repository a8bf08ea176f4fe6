"""A real Prometheus scrapes the gateway and an inference worker on loopback."""

from __future__ import annotations

import shutil
import subprocess

import httpx
import pytest

from events.embedded import free_port
from tests.integration.harness import Fleet, healthy, service_env, wait_until

pytestmark = pytest.mark.integration


def _series(prom: str, query: str) -> list[dict[str, object]]:
    try:
        body = httpx.get(f"{prom}/api/v1/query", params={"query": query}, timeout=5).json()
    except httpx.HTTPError:
        return []
    return body.get("data", {}).get("result", []) if body.get("status") == "success" else []


def test_prometheus_scrapes_gateway_and_worker(kafka_bootstrap: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (make setup installs it with apt)")
    gw_port, worker_port, prom_port = free_port(), free_port(), free_port()
    fleet = Fleet(tmp_path)
    fleet.start("gateway", ["gateway"], service_env(kafka_bootstrap, MELANCIA_PORT=str(gw_port)))
    fleet.start(
        "worker",
        ["worker", "inference"],
        service_env(
            kafka_bootstrap, MELANCIA_BASE_MODEL="tiny", MELANCIA_METRICS_PORT=str(worker_port)
        ),
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: gateway\n    static_configs: [{{targets: ['127.0.0.1:{gw_port}']}}]\n"
        f"  - job_name: inference\n    static_configs: [{{targets: ['127.0.0.1:{worker_port}']}}]\n"
    )
    prom = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    prom_url = f"http://127.0.0.1:{prom_port}"
    base = f"http://127.0.0.1:{gw_port}"
    try:
        wait_until(lambda: healthy(base), 120, "gateway healthy")
        answer = httpx.post(
            f"{base}/api/v1/query", json={"question": "Oi", "max_new_tokens": 4}, timeout=60
        )
        assert answer.status_code == 200
        wait_until(
            lambda: len(_series(prom_url, 'up{job=~"gateway|inference"} == 1')) == 2,
            60,
            "both targets up",
        )
        requests = wait_until(
            lambda: _series(prom_url, 'melancia_gateway_requests_total{route="/api/v1/query"}'),
            60,
            "gateway request counter scraped",
        )
        assert float(requests[0]["value"][1]) >= 1  # type: ignore[index]
        consumed = wait_until(
            lambda: _series(prom_url, '{job="inference", __name__=~"faststream_.*"}'),
            60,
            "worker FastStream metrics scraped",
        )
        assert consumed
    except BaseException:
        print(fleet.logs())
        raise
    finally:
        prom.terminate()
        prom.wait(10)
        fleet.stop()
