"""Names of the MLflow tags and aliases MelancIA writes; readers import them from here."""

from __future__ import annotations

EXPERIMENT = "melancia-training"
MODEL_NAME = "melancia"
CHAMPION = "champion"

# Run tags of training runs.
IDEMPOTENCY_KEY = "melancia.idempotency_key"
OWNER = "melancia.owner"  # host:pid of the process training the run
HEARTBEAT_AT = "melancia.heartbeat_at"  # unix seconds, refreshed while the run trains
MODEL_VERSION = "melancia.model_version"

# Tags shared by training runs and model versions (the names promotion.py reads).
JOB_ID = "melancia.job_id"
BASE_MODEL = "melancia.base_model"
METHOD = "melancia.method"
DATASET_VERSION = "melancia.dataset_version"
ADAPTER_URI = "melancia.adapter_uri"
TEMPLATE_VERSION = "melancia.template_version"
SOURCE = "melancia.source"  # "training" for a worker's run, "shipped" for data/adapters
