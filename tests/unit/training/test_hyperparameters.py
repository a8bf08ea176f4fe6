"""Request validation: clear errors that name the field, and the default recipe underneath."""

import pytest
from pydantic import ValidationError

from schemas.training import DEFAULT_RECIPE, FinetuneStart, TrainingRequested


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"hyperparameters": {"rank": 0}}, "hyperparameters.rank"),
        ({"method": "full-finetune"}, "method"),
        ({"hyperparameters": {"learning_rate": 0}}, "hyperparameters.learning_rate"),
        ({"hyperparameters": {"dropout": 1.0}}, "hyperparameters.dropout"),
        ({"hyperparameters": {"max_seq_len": 8}}, "hyperparameters.max_seq_len"),
        ({"hyperparameters": {"batch": 4}}, "hyperparameters.batch"),
        ({"hyperparameters": {"precision": "fp8"}}, "hyperparameters.precision"),
        ({"epochs": 3}, "epochs"),
    ],
)
def test_invalid_requests_name_the_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        FinetuneStart.model_validate(body)
    assert field in {".".join(str(p) for p in e["loc"]) for e in caught.value.errors()}


def test_overrides_apply_on_top_of_the_default_recipe() -> None:
    start = FinetuneStart.model_validate({"hyperparameters": {"rank": 4, "max_steps": 20}})
    hp = start.hyperparameters
    assert (hp.rank, hp.max_steps) == (4, 20)
    assert hp.max_seq_len == DEFAULT_RECIPE.max_seq_len
    assert hp.eval_limit == DEFAULT_RECIPE.eval_limit
    assert FinetuneStart().hyperparameters == DEFAULT_RECIPE


def test_the_idempotency_key_defaults_to_the_job_id() -> None:
    request = TrainingRequested(job_id="j1", base_model="tiny", dataset_version="v")
    assert request.idempotency_key == "j1"
