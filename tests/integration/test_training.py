"""Fine-tuning through the bus: HTTP request, progress, adapter, MLflow; kill and resume."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import torch

from events.embedded import free_port
from events.topics import TRAINING_COMPLETED, TRAINING_PROGRESS, TRAINING_REQUESTED
from schemas.envelope import make_event
from schemas.training import TrainingRequested
from tests.integration.harness import Fleet, health, parse_sse, service_env, wait_until
from tests.integration.kafka_io import collect, produce

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
# A few steps of the 1M-parameter test model on a small subset: the machinery, not the model.
TINY_JOB = {
    "max_steps": 4,
    "eval_steps": 2,
    "batch_size": 2,
    "gradient_accumulation": 1,
    "train_limit": 16,
    "eval_limit": 4,
    "max_seq_len": 1024,
    "rank": 4,
    "alpha": 8,
    "max_duration_s": None,
}


@dataclass(frozen=True)
class System:
    base: str
    bootstrap: str
    home: Path
    fleet: Fleet
    env: dict[str, str]


@pytest.fixture(scope="module")
def system(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """A gateway and a training worker sharing a fresh MELANCIA_HOME (models linked in)."""
    home = tmp_path_factory.mktemp("home")
    models = Path(os.environ.get("MELANCIA_HOME", ROOT / "var")).resolve() / "models"
    (home / "models").symlink_to(models)
    fleet = Fleet(tmp_path_factory.mktemp("logs"))
    port = free_port()
    env = service_env(
        kafka_bootstrap,
        MELANCIA_HOME=str(home),
        MELANCIA_TORCH_THREADS="1",
        MELANCIA_TRAINING_PROGRESS_S="0.2",
        MELANCIA_TRAINING_SESSION_TIMEOUT_MS="6000",
        MELANCIA_MLFLOW_SYSTEM_METRICS="false",
        MELANCIA_REGISTER_SHIPPED_ADAPTER="false",
    )
    fleet.start("training-0", ["worker", "training"], env)
    fleet.start("gateway", ["gateway"], {**env, "MELANCIA_PORT": str(port)})
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: (r := health(base)) is not None and r.json()["broker"], 120, "gateway up"
        )
        yield System(base, kafka_bootstrap, home, fleet, env)
    except BaseException:
        print(fleet.logs())
        raise
    finally:
        fleet.stop()


def _follow(base: str, job_id: str, timeout_s: float = 240) -> list:  # type: ignore[type-arg]
    url = f"{base}/api/v1/finetune/{job_id}/events"
    with httpx.stream("GET", url, timeout=timeout_s) as response:
        assert response.status_code == 200, response.read()
        return list(parse_sse(response.iter_lines()))


def _logits(adapter_dir: Path, home: Path, prompt_ids: list[int]) -> torch.Tensor:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(home / "models" / "tiny", dtype=torch.float32)
    model = PeftModel.from_pretrained(base, str(adapter_dir)).eval()
    with torch.no_grad():
        return model(input_ids=torch.tensor([prompt_ids])).logits[0, -1]


def test_a_job_requested_over_http_trains_reports_progress_and_registers(
    system: System,
) -> None:
    from mlflow import MlflowClient
    from transformers import AutoTokenizer

    from workers.inference.prompting import apply_chat_template
    from workers.registry import tags
    from workers.registry.adapters import check_template, read_card
    from workers.registry.tracking import tracking_uri
    from workers.training.formatting import encode_text

    bad = httpx.post(f"{system.base}/api/v1/finetune/start", json={"method": "qlora4"})
    assert bad.status_code == 422 and "method" in bad.json()["detail"]
    started = httpx.post(
        f"{system.base}/api/v1/finetune/start",
        json={"base_model": "tiny", "hyperparameters": TINY_JOB, "idempotency_key": "it-1"},
    )
    assert started.status_code == 202, started.text
    job_id = started.json()["job_id"]

    events = _follow(system.base, job_id)
    kinds = [e.event for e in events]
    assert kinds[0] == "queued" and kinds[-1] == "completed", kinds
    progress = [e.data for e in events if e.event == "progress"]
    assert any(p["step"] > 0 and p["loss"] is not None for p in progress)
    assert any(p["eval_loss"] is not None for p in progress)
    assert any(p["tokens_per_s"] for p in progress)
    done = events[-1].data
    assert done["model_version"] and done["run_id"]

    status = httpx.get(f"{system.base}/api/v1/finetune/{job_id}").json()
    assert status["status"] == "completed"
    assert status["metrics"]["eval_loss"] > 0

    # The adapter reloads into the model that was trained: same logits as at the end of training.
    adapter = Path(done["adapter_path"])
    card = read_card(adapter)
    assert card is not None and card.probe is not None
    tokenizer = AutoTokenizer.from_pretrained(system.home / "models" / "tiny")
    check_template(adapter, tokenizer)  # the adapter's template is applied and checked
    text = apply_chat_template(
        tokenizer, [{"role": "user", "content": card.probe["question"]}], add_generation_prompt=True
    )
    logits = _logits(adapter, system.home, encode_text(tokenizer, text))
    top = torch.topk(logits, 8)
    assert top.indices.tolist() == card.probe["token_ids"]
    assert torch.allclose(top.values, torch.tensor(card.probe["logits"]), atol=1e-4)

    # MLflow has the run (params, per-step metrics, the adapter) and a tagged model version.
    client = MlflowClient(tracking_uri(system.home))
    run = client.get_run(done["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params["hp.rank"] == "4" and run.data.params["dataset.train_sha256"]
    assert len(client.get_metric_history(run.info.run_id, "loss")) == 4
    assert "adapter" in [a.path for a in client.list_artifacts(run.info.run_id)]
    version = client.get_model_version("melancia", done["model_version"])
    assert version.tags[tags.BASE_MODEL] == "tiny"
    assert version.tags[tags.METHOD] == "lora"
    assert version.tags[tags.DATASET_VERSION] == done["dataset_version"]

    # The same idempotency key, sent by anyone, does not train again.
    again = httpx.post(
        f"{system.base}/api/v1/finetune/start",
        json={"base_model": "tiny", "hyperparameters": TINY_JOB, "idempotency_key": "it-1"},
    )
    assert again.json()["job_id"] == job_id
    duplicate = TrainingRequested(
        job_id=f"dup-{uuid.uuid4().hex[:6]}",
        idempotency_key="it-1",
        base_model="tiny",
        dataset_version=done["dataset_version"],
        hyperparameters=TINY_JOB,
    )
    produce(
        system.bootstrap,
        TRAINING_REQUESTED,
        make_event(duplicate, source="test").model_dump_json().encode(),
        key=duplicate.job_id.encode(),
    )
    [answer] = collect(
        system.bootstrap,
        TRAINING_COMPLETED,
        lambda e: e["data"]["job_id"] == duplicate.job_id,
        timeout_s=60,
    )
    assert answer["data"]["duplicate_of"] == job_id
    assert answer["data"]["model_version"] == done["model_version"]
    assert len(client.search_model_versions("name = 'melancia'")) == 1


def test_a_worker_killed_mid_job_is_resumed_from_its_checkpoint_by_another(
    system: System,
) -> None:
    job = {**TINY_JOB, "max_steps": 12, "eval_steps": 2}
    started = httpx.post(
        f"{system.base}/api/v1/finetune/start", json={"base_model": "tiny", "hyperparameters": job}
    )
    assert started.status_code == 202, started.text
    job_id = started.json()["job_id"]
    checkpoints = system.home / "training" / job_id
    wait_until(
        lambda: any((c / "trainer_state.json").is_file() for c in checkpoints.glob("checkpoint-*")),
        180,
        "a first checkpoint",
    )
    worker = next(p for p in system.fleet.processes if p.name == "training-0")
    os.kill(worker.proc.pid, signal.SIGKILL)
    worker.proc.wait()
    killed_at = time.time()
    system.fleet.start("training-1", ["worker", "training"], system.env)

    [done] = collect(
        system.bootstrap,
        TRAINING_COMPLETED,
        lambda e: e["data"]["job_id"] == job_id,
        timeout_s=240,
    )
    assert done["data"]["resumed_from_step"] >= 2, done
    assert done["data"]["metrics"]["steps"] == 12
    after = collect(
        system.bootstrap,
        TRAINING_PROGRESS,
        lambda e: e["data"]["job_id"] == job_id and e["data"].get("resumed_from_step") is not None,
        count=1,
        timeout_s=30,
    )
    assert after and after[0]["data"]["step"] >= done["data"]["resumed_from_step"]
    assert time.time() - killed_at < 240
    card = json.loads(Path(done["data"]["adapter_path"], "melancia_adapter.json").read_text())
    assert card["resumed_from_step"] == done["data"]["resumed_from_step"]
