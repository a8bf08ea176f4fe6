"""Deployment artefacts hold together: compose, Kubernetes, Dockerfiles, the CI workflow.

Tools that validate against real schemas run in `make check-deploy` / `make check-ci`
(docker compose config, kubernetes-validate, hadolint, actionlint); these tests check what
they cannot: that the pieces agree with each other and with the code.
"""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from events.topics import QUERY_REQUESTED, TOPICS
from melancia.discovery import WORKER_ORDER
from workers.inference.handlers import GROUP as INFERENCE_GROUP

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE = ROOT / "docker-compose.yml"
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
MELANCIA_ENV = ("MELANCIA_KAFKA_BOOTSTRAP", "MELANCIA_QDRANT_URL", "MELANCIA_MLFLOW_URI")
MELANCIA_ENV += ("MELANCIA_HOME",)
COMPONENTS = ("gateway", *WORKER_ORDER)


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())  # merge keys (<<) resolved by PyYAML


def melancia_services() -> dict[str, dict[str, Any]]:
    return {
        name: svc
        for name, svc in compose()["services"].items()
        if svc.get("command", [""])[0] in {"gateway", "worker", "models"}
    }


def k8s_docs() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(K8S.rglob("*.yaml")):
        if path.name != "kustomization.yaml":
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in k8s_docs() if d["kind"] == kind}


def configmap() -> dict[str, str]:
    return dict(of_kind("ConfigMap")["melancia-config"]["data"])


# --- compose ---------------------------------------------------------------------------


def test_compose_runs_the_platform_and_every_part_of_melancia() -> None:
    services = compose()["services"]
    for infra in ("kafka", "qdrant", "mlflow", "prometheus", "grafana"):
        assert infra in services, infra
    commands = {tuple(s["command"]) for s in melancia_services().values()}
    assert ("gateway",) in commands
    for worker in WORKER_ORDER:
        assert ("worker", worker) in commands, worker
    assert "apache/kafka" in services["kafka"]["image"]


def test_every_long_running_compose_service_has_a_healthcheck() -> None:
    for name, svc in compose()["services"].items():
        if name == "models":
            assert svc["restart"] == "no"
            continue
        assert svc.get("healthcheck", {}).get("test"), name


def test_compose_dependencies_wait_for_health() -> None:
    services = compose()["services"]
    for name, svc in services.items():
        for dep, condition in svc.get("depends_on", {}).items():
            assert dep in services, f"{name} -> {dep}"
            wanted = condition["condition"]
            assert wanted in {
                "service_healthy",
                "service_completed_successfully",
                "service_started",
            }
            if wanted == "service_healthy":
                assert services[dep].get("healthcheck", {}).get("test"), dep
    for name, svc in melancia_services().items():
        if name != "models":
            assert svc["depends_on"]["kafka"]["condition"] == "service_healthy", name
    inference = services["inference"]["depends_on"]
    assert inference["models"]["condition"] == "service_completed_successfully"
    assert inference["qdrant"]["condition"] == inference["mlflow"]["condition"] == "service_healthy"


def test_compose_wires_the_melancia_settings() -> None:
    for name, svc in melancia_services().items():
        env = svc["environment"]
        for variable in MELANCIA_ENV:
            assert env.get(variable), f"{name}: {variable}"
        assert env["MELANCIA_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert any(v.endswith(":" + env["MELANCIA_HOME"]) for v in svc["volumes"]), name
    assert melancia_services()["analytics"]["environment"]["MELANCIA_ANALYTICS_HOST"] == "0.0.0.0"
    gateway = melancia_services()["gateway"]["environment"]
    assert gateway["MELANCIA_HOST"] == "0.0.0.0"
    assert gateway["MELANCIA_JWT_SECRET"].startswith("${MELANCIA_JWT_SECRET:?")  # no default


def test_compose_health_and_scrape_ports_agree_with_prometheus() -> None:
    scrape = yaml.safe_load((ROOT / "monitoring/prometheus/prometheus.yml").read_text())
    ports = {
        job["job_name"].removeprefix("melancia-"): job["dns_sd_configs"][0]["port"]
        for job in scrape["scrape_configs"]
        if job["job_name"].startswith("melancia-")
    }
    services = compose()["services"]
    for worker in WORKER_ORDER:
        env = services[worker]["environment"]
        port = (
            env["MELANCIA_ANALYTICS_PORT"]
            if worker == "analytics"
            else env["MELANCIA_METRICS_PORT"]
        )
        assert ports[worker] == int(port), worker
        if worker == "drift":  # the drift worker reads its own variable
            assert env["MELANCIA_DRIFT_METRICS_PORT"] == port
        assert f"127.0.0.1:{port}/" in " ".join(services[worker]["healthcheck"]["test"]), worker
    assert ports["gateway"] == 8000
    prom_volumes = services["prometheus"]["volumes"]
    assert "./monitoring/prometheus:/etc/prometheus:ro" in prom_volumes


def test_workers_bind_their_metrics_server_beyond_loopback() -> None:
    # The workers' default is 127.0.0.1: Prometheus in another container could not scrape it.
    from workers.inference.settings import InferenceSettings

    assert InferenceSettings.model_fields["metrics_host"].default == "127.0.0.1"
    services = compose()["services"]
    for worker in WORKER_ORDER:
        if worker != "analytics":  # the sink serves /metrics on MELANCIA_ANALYTICS_HOST
            assert services[worker]["environment"]["MELANCIA_METRICS_HOST"] == "0.0.0.0", worker
    assert configmap()["MELANCIA_METRICS_HOST"] == "0.0.0.0"


def test_third_party_images_are_pinned() -> None:
    for name, svc in compose()["services"].items():
        if name in melancia_services() or name == "training-gpu":
            continue
        image = svc["image"]
        assert ":" in image and not image.endswith(":latest"), image


@pytest.mark.skipif(
    shutil.which("docker-compose") is None and shutil.which("docker") is None,
    reason="no docker compose client",
)
def test_docker_compose_accepts_the_file() -> None:
    candidates = [["docker", "compose"], ["docker-compose"]]
    for cmd in candidates:
        if shutil.which(cmd[0]) is None:
            continue
        probe = subprocess.run([*cmd, "version"], capture_output=True, check=False)
        if probe.returncode != 0:
            continue
        done = subprocess.run(
            [*cmd, "-f", str(COMPOSE), "--profile", "gpu", "config", "-q"],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
            env={**os.environ, "MELANCIA_JWT_SECRET": "test-only"},
        )
        assert done.returncode == 0, done.stderr
        return
    pytest.skip("docker is present but has no compose plugin")


# --- Kubernetes ------------------------------------------------------------------------


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    for sub in ("keda", "monitoring"):
        folder = K8S / sub
        listed = set(yaml.safe_load((folder / "kustomization.yaml").read_text())["resources"])
        assert listed == {p.name for p in folder.glob("*.yaml")} - {"kustomization.yaml"}


def test_every_component_has_a_deployment_with_probes_resources_and_no_root() -> None:
    deployments = of_kind("Deployment")
    assert set(deployments) == {f"melancia-{c}" for c in COMPONENTS}
    for name, dep in deployments.items():
        spec = dep["spec"]
        template = spec["template"]
        assert spec["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
        pod = template["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        [container] = pod["containers"]
        assert container["args"][0] in {"gateway", "worker"}
        for probe in ("readinessProbe", "livenessProbe"):
            assert probe in container, f"{name}: {probe}"
        assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
        refs = [next(iter(e.values()))["name"] for e in container["envFrom"]]
        assert "melancia-config" in refs and "melancia-secrets" in refs
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert configmap()["MELANCIA_HOME"] in mounts and "/tmp" in mounts
        assert template["metadata"]["annotations"]["prometheus.io/scrape"] == "true"


def test_probes_and_ports_use_the_configured_ports() -> None:
    cfg = configmap()
    for name, dep in of_kind("Deployment").items():
        [container] = dep["spec"]["template"]["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        annotation = int(dep["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"])
        assert annotation in ports.values(), name
        for key in ("readinessProbe", "livenessProbe", "startupProbe"):
            probe = container.get(key)
            if probe is None:
                continue
            if "exec" in probe:
                script, url = probe["exec"]["command"][1:]
                assert (ROOT / script.removeprefix("/app/")).exists()
                assert f":{cfg['MELANCIA_METRICS_PORT']}/metrics" in url, name
                assert ports.get("metrics") == int(cfg["MELANCIA_METRICS_PORT"]), name
            else:
                target = (probe.get("httpGet") or probe.get("tcpSocket"))["port"]
                assert target in ports, f"{name}: {key} -> {target}"


def test_services_select_pods_and_target_named_ports() -> None:
    deployments = of_kind("Deployment")
    for name, svc in of_kind("Service").items():
        matches = [
            d
            for d in deployments.values()
            if svc["spec"]["selector"].items()
            <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(matches) == 1, name
        [container] = matches[0]["spec"]["template"]["spec"]["containers"]
        names = {p["name"] for p in container["ports"]}
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in names, name
    analytics_port = int(configmap()["MELANCIA_ANALYTICS_PORT"])
    assert (
        of_kind("Service")[configmap()["MELANCIA_ANALYTICS_HOST"]]["spec"]["ports"][0]["port"]
        == analytics_port
    )


def test_the_gateway_autoscales_on_cpu() -> None:
    hpa = of_kind("HorizontalPodAutoscaler")["melancia-gateway"]["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "melancia-gateway",
    }
    [metric] = hpa["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert 1 <= hpa["minReplicas"] < hpa["maxReplicas"]


def test_keda_scales_inference_on_the_lag_of_its_group_within_the_partitions() -> None:
    scaled = of_kind("ScaledObject")["melancia-inference"]["spec"]
    assert scaled["scaleTargetRef"]["name"] == "melancia-inference"
    [trigger] = scaled["triggers"]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["topic"] == QUERY_REQUESTED
    assert trigger["metadata"]["consumerGroup"] == INFERENCE_GROUP
    assert trigger["metadata"]["bootstrapServers"] == configmap()["MELANCIA_KAFKA_BOOTSTRAP"]
    partitions = {t.name: t.partitions for t in TOPICS}[QUERY_REQUESTED]
    concurrency = int(configmap()["MELANCIA_INFERENCE_CONCURRENCY"])
    assert scaled["maxReplicaCount"] * concurrency <= partitions
    assert scaled["minReplicaCount"] >= 1  # the gateway needs a live worker


def test_single_writer_workers_never_run_twice() -> None:
    deployments = of_kind("Deployment")
    analytics = deployments["melancia-analytics"]["spec"]
    assert analytics["replicas"] == 1 and analytics["strategy"]["type"] == "Recreate"
    volumes = analytics["template"]["spec"]["volumes"]
    assert any("persistentVolumeClaim" in v for v in volumes)


def test_the_secret_is_only_a_placeholder() -> None:
    secret = of_kind("Secret")["melancia-secrets"]
    assert all(value == "" for value in secret.get("stringData", {}).values())
    assert "data" not in secret


def test_kubernetes_schemas_accept_the_core_manifests() -> None:
    validate = pytest.importorskip("kubernetes_validate")
    for doc in k8s_docs():
        if "/" in doc["apiVersion"] and not doc["apiVersion"].startswith(
            ("apps/", "autoscaling/", "policy/")
        ):
            continue  # CRDs (KEDA, Prometheus Operator): no schema ships with the validator
        validate.validate(doc, "1.30.0", strict=True)


# --- images ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.cuda"])
def test_images_run_melancia_as_a_non_root_user_with_a_healthcheck(name: str) -> None:
    text = (DEPLOY / name).read_text()
    assert 'ENTRYPOINT ["tini", "--", "melancia"]' in text
    assert "USER 10001" in text
    assert "/app/deploy/healthcheck.py" in text
    assert '"torch==2.13.0"' in text  # the version pyproject.toml pins
    assert "requirements-models.txt" in text
    ignored = (DEPLOY / f"{name}.dockerignore").read_text().split()
    assert "deploy" not in ignored and "data" not in ignored and ".venv" in ignored


def test_the_cuda_image_installs_the_gpu_extra() -> None:
    text = (DEPLOY / "Dockerfile.cuda").read_text()
    assert "optional-dependencies']['gpu']" in text and '".[gpu]"' in text
    assert (DEPLOY / "Dockerfile").read_text().count("download.pytorch.org/whl/cpu") == 1


# --- the healthcheck script --------------------------------------------------------------


def _healthcheck() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("healthcheck", DEPLOY / "healthcheck.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("cmdline", "url"),
    [
        (["tini", "--", "melancia", "gateway"], "http://127.0.0.1:8000/health"),
        (["tini", "--", "melancia", "worker", "analytics"], "http://127.0.0.1:8010/health"),
        (["tini", "--", "melancia", "worker", "inference"], "http://127.0.0.1:9100/metrics"),
        (["tini", "--", "melancia", "models", "prepare"], None),
        (["python"], None),
    ],
)
def test_the_healthcheck_picks_the_endpoint_from_the_command(
    cmdline: list[str], url: str | None
) -> None:
    assert _healthcheck().default_url(cmdline, {}) == url


@pytest.fixture
def http_server() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/health" else 503)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_healthcheck_passes_on_200_only(http_server: str) -> None:
    check = _healthcheck()
    assert check.main(["healthcheck", f"{http_server}/health"]) == 0
    assert check.main(["healthcheck", f"{http_server}/other"]) == 1
    assert check.main(["healthcheck", "http://127.0.0.1:1/health"]) == 1


# --- CI/CD -----------------------------------------------------------------------------


def workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


def steps_text(job: str) -> str:
    return "\n".join(
        str(s.get("run", "")) + str(s.get("uses", "")) for s in workflow()["jobs"][job]["steps"]
    )


def test_ci_gates_on_lint_types_tests_with_coverage_and_the_checks() -> None:
    jobs = workflow()["jobs"]
    assert "ruff check" in steps_text("lint") and "ruff format --check" in steps_text("lint")
    assert "make typecheck" in steps_text("typecheck")
    assert "make coverage" in steps_text("test")
    for target in ("check-monitoring", "check-deploy", "check-ci"):
        assert f"make {target}" in steps_text("checks")
    assert set(jobs["build"]["needs"]) == {"lint", "typecheck", "test", "checks"}
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert "fail_under = 80" in pyproject


def test_ci_pushes_to_ghcr_deploys_smoke_tests_and_rolls_back() -> None:
    jobs = workflow()["jobs"]
    assert jobs["build"]["permissions"]["packages"] == "write"
    assert "docker/build-push-action" in steps_text("build")
    deploy = jobs["deploy-staging"]
    assert deploy["needs"] == ["build"]
    steps = {s.get("id"): s for s in deploy["steps"] if s.get("id")}
    assert "kubectl apply" in steps["deploy"]["run"]
    assert "/health" in steps["smoke"]["run"] and "/api/v1/query" in steps["smoke"]["run"]
    [rollback] = [s for s in deploy["steps"] if "rollout undo" in str(s.get("run", ""))]
    assert rollback["if"].startswith("failure()")
    deployments = set(deploy["env"]["DEPLOYMENTS"].split())
    assert deployments == set(of_kind("Deployment"))
