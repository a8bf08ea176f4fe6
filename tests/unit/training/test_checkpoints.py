"""Resuming picks the newest checkpoint the Trainer finished writing."""

from __future__ import annotations

from pathlib import Path

from workers.training.run import last_checkpoint


def _checkpoint(job: Path, step: int, state: str | None) -> Path:
    path = job / f"checkpoint-{step}"
    path.mkdir(parents=True)
    (path / "adapter_model.safetensors").write_bytes(b"weights")
    if state is not None:
        (path / "trainer_state.json").write_text(state)
    return path


def test_a_checkpoint_cut_short_is_passed_over_for_the_one_before(tmp_path: Path) -> None:
    _checkpoint(tmp_path, 2, '{"global_step": 2}')
    newest_complete = _checkpoint(tmp_path, 10, '{"global_step": 10}')
    _checkpoint(tmp_path, 12, None)  # killed before the state was written
    _checkpoint(tmp_path, 14, '{"global_st')  # killed while writing it
    (tmp_path / "checkpoint-notes").mkdir()

    assert last_checkpoint(tmp_path) == str(newest_complete)


def test_no_complete_checkpoint_means_a_fresh_start(tmp_path: Path) -> None:
    assert last_checkpoint(tmp_path / "missing") is None
    _checkpoint(tmp_path, 2, None)
    assert last_checkpoint(tmp_path) is None
