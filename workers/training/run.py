"""The training itself: model and PEFT wrapping, the Trainer, resume, the saved adapter."""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from accelerate.utils import extract_model_from_parallel

from schemas.training import TrainingCompleted, TrainingProgress, TrainingRequested
from workers.inference.conversion import clear_gguf_quantizer
from workers.inference.models import ModelNotAvailable, ensure_model
from workers.inference.prompting import apply_chat_template, ensure_chat_template
from workers.registry.adapters import TEMPLATE_FILE, AdapterCard, template_version
from workers.training.callbacks import (
    ControlCallback,
    MlflowCallback,
    ProgressCallback,
    ProgressSink,
)
from workers.training.data import JobData
from workers.training.errors import JobInterrupted, JobRejected
from workers.training.formatting import Collator, encode_records, encode_text, pad_token_id
from workers.training.methods import POSITION_PRESERVING, Hardware, peft_config, quantization_config

logger = logging.getLogger(__name__)


def load_base(name_or_path: str, models_dir: Path, *, quantize: bool) -> tuple[Any, Any]:
    """Tokenizer (with the project chat template when it has none) and the base model."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        path = ensure_model(name_or_path, models_dir)
    except ModelNotAvailable as exc:
        raise JobRejected(str(exc)) from exc
    tokenizer = ensure_chat_template(AutoTokenizer.from_pretrained(path))
    kwargs: dict[str, Any] = {"dtype": torch.float32}
    if quantize:
        from accelerate import PartialState

        # Each DDP process quantizes its own copy onto its own GPU.
        device = PartialState().local_process_index
        kwargs = {"quantization_config": quantization_config(), "device_map": {"": device}}
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    if not quantize and getattr(model, "hf_quantizer", None) is not None:
        clear_gguf_quantizer(model)
    return tokenizer, model


def wrap_peft(model: Any, request: TrainingRequested) -> Any:
    """The PEFT model of the request's method (k-bit preparation first for QLoRA)."""
    from peft import get_peft_model, prepare_model_for_kbit_training

    hp = request.hyperparameters
    if request.method == "qlora":
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=hp.gradient_checkpointing
        )
    elif hp.gradient_checkpointing:
        # Frozen embeddings give checkpointed blocks inputs without grad; PEFT needs them to.
        model.enable_input_require_grads()
    model.config.use_cache = False
    config = peft_config(request.method, hp, model.config.model_type)
    return get_peft_model(model, config)


def build_trainer(
    request: TrainingRequested,
    data: JobData,
    *,
    tokenizer: Any,
    model: Any,
    output_dir: Path,
    precision: str,
    hardware: Hardware,
    sparse_logits: bool,
    callbacks: list[Any],
) -> tuple[Any, dict[str, int]]:
    """The Trainer of a job and the row counts of its datasets."""
    from transformers import EarlyStoppingCallback, PrinterCallback

    from workers.training.trainer import AssistantTrainer, training_arguments

    hp = request.hyperparameters
    train, dropped = encode_records(tokenizer, data.train, max_seq_len=hp.max_seq_len)
    val, val_dropped = encode_records(tokenizer, data.val, max_seq_len=hp.max_seq_len)
    if not len(train):
        raise JobRejected(f"no training row fits max_seq_len={hp.max_seq_len} with an answer token")
    evaluate = len(val) > 0
    if evaluate and hp.early_stopping_patience:
        callbacks = [*callbacks, EarlyStoppingCallback(hp.early_stopping_patience)]
    args = training_arguments(
        hp, output_dir=output_dir, precision=precision, cuda=hardware.cuda, evaluate=evaluate
    )
    trainer = AssistantTrainer(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=val if evaluate else None,
        data_collator=Collator(pad_token_id(tokenizer)),
        processing_class=tokenizer,
        callbacks=callbacks,
        sparse_logits=sparse_logits and request.method in POSITION_PRESERVING,
        share_prefix=hp.share_prompt_prefix and not hp.gradient_checkpointing,
    )
    # Progress goes out as events and MLflow metrics; the Trainer must not print every log.
    trainer.remove_callback(PrinterCallback)
    counts = {
        "train_rows": len(train),
        "train_rows_dropped": dropped,
        "val_rows": len(val),
        "val_rows_dropped": val_dropped,
        "train_tokens": sum(len(r.input_ids) for r in train.rows),
        "train_label_tokens": sum(r.trained_tokens for r in train.rows),
    }
    return trainer, counts


def last_checkpoint(output_dir: Path) -> str | None:
    """The newest complete checkpoint of a job directory, if any.

    The Trainer writes a checkpoint's `trainer_state.json` after its weights, optimizer and
    RNG state, so a checkpoint without a readable one was cut short (a worker killed while
    saving) and is passed over for the one before it.
    """
    if not output_dir.is_dir():
        return None
    steps = []
    for path in output_dir.glob("checkpoint-*"):
        suffix = path.name.removeprefix("checkpoint-")
        if suffix.isdigit() and path.is_dir():
            steps.append((int(suffix), path))
    for _, path in sorted(steps, reverse=True):
        try:
            json.loads((path / "trainer_state.json").read_text())
        except (OSError, ValueError):
            logger.warning("checkpoint %s is incomplete; not resuming from it", path)
            continue
        return str(path)
    return None


def train_adapter(
    request: TrainingRequested,
    data: JobData,
    *,
    job_id: str,
    output_dir: Path,
    precision: str,
    hardware: Hardware,
    tracker: Any,
    log_params: bool,
    config: Any,
    on_progress: ProgressSink,
    stop: threading.Event,
) -> Any:
    """Train, resuming from the job directory's last checkpoint; save the adapter with its card."""
    hp = request.hyperparameters
    on_progress(
        TrainingProgress(job_id=request.job_id, step=0, total_steps=0, epoch=0, phase="loading")
    )
    tokenizer, model = load_base(
        request.base_model, config.model_cache, quantize=request.method == "qlora"
    )
    model = wrap_peft(model, request)
    progress = ProgressCallback(request.job_id, on_progress, interval_s=config.progress_interval_s)
    control = ControlCallback(stop, hp.max_duration_s)
    callbacks: list[Any] = [progress, control]
    if tracker.run_id is not None:
        callbacks.append(_checkpoint_logger(tracker, config.log_checkpoints))
    trainer, counts = build_trainer(
        request,
        data,
        tokenizer=tokenizer,
        model=model,
        output_dir=output_dir,
        precision=precision,
        hardware=hardware,
        sparse_logits=config.sparse_logits,
        callbacks=callbacks,
    )
    trainable, total = model.get_nb_trainable_parameters()
    if log_params and tracker.run_id is not None:
        tracker.log_params(
            {
                **{f"hp.{k}": v for k, v in hp.model_dump().items()},
                "base_model": request.base_model,
                "method": request.method,
                "precision": precision,
                "dataset_version": data.version,
                **{f"dataset.{k}": v for k, v in data.hashes.items()},
                **{f"data.{k}": v for k, v in counts.items()},
                "trainable_params": trainable,
                "total_params": total,
                "template_version": _template_version(tokenizer),
                "sparse_logits": trainer.sparse_logits,
                "job_id": job_id,
            }
        )
    resume = last_checkpoint(output_dir)
    if resume:
        logger.info("job %s resumes from %s", job_id, resume)
    started = time.monotonic()
    result = trainer.train(resume_from_checkpoint=resume)
    if control.interrupted:
        raise JobInterrupted(f"job {job_id} stopped at step {trainer.state.global_step}")
    metrics = _final_metrics(
        trainer, result, counts, time.monotonic() - started, progress.resumed_from or 0
    )
    adapter_dir = output_dir / "adapter"
    # Mixed precision patched the model's forward with autocast; the trained weights are fp32
    # and serving runs them in fp32, so the probe below must too.
    trained = extract_model_from_parallel(trainer.model, keep_fp32_wrapper=False)
    if trainer.is_world_process_zero():
        save_adapter(trained, str(tokenizer.chat_template), adapter_dir)
    probe = probe_logits(trained, tokenizer)
    card = make_card(
        request,
        name=f"{job_id}",
        job_id=job_id,
        template=str(tokenizer.chat_template),
        data=data,
        metrics=metrics,
        steps=trainer.state.global_step,
        runtime_s=metrics.get("train_runtime_s", 0.0),
        resumed_from_step=progress.resumed_from,
    )
    card.probe = probe
    return Outcome(adapter_dir, card, metrics, progress.resumed_from)


def save_adapter(model: Any, chat_template: str, adapter_dir: Path) -> None:
    """Adapter weights and config, plus the chat template they were trained with.

    Only the template travels, not the whole tokenizer (Gemma's is 33 MB): serving uses the
    base model's tokenizer, and the inference loader checks (and applies) this template.
    """
    model.save_pretrained(str(adapter_dir))
    (adapter_dir / TEMPLATE_FILE).write_text(chat_template, encoding="utf-8")


PROBE_QUESTION = "O que é ACOS?"


def probe_logits(model: Any, tokenizer: Any, question: str = PROBE_QUESTION) -> dict[str, Any]:
    """The trained model's top next-token logits for one prompt, kept in the card so a reload
    can be checked to reproduce the model that was trained (same weights, same outputs)."""
    import torch

    text = apply_chat_template(
        tokenizer, [{"role": "user", "content": question}], add_generation_prompt=True
    )
    ids = torch.tensor([encode_text(tokenizer, text)], device=model.device)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, -1].float()
    model.train(was_training)
    top = torch.topk(logits, 8)
    return {
        "question": question,
        "token_ids": top.indices.tolist(),
        "logits": [round(float(v), 6) for v in top.values],
    }


def _checkpoint_logger(tracker: Any, log_checkpoints: bool) -> Any:
    callback = MlflowCallback(tracker)
    if not log_checkpoints:
        callback.on_save = lambda *a, **k: None  # type: ignore[method-assign]
    return callback


def _template_version(tokenizer: Any) -> str:
    return template_version(str(tokenizer.chat_template))


def _final_metrics(
    trainer: Any, result: Any, counts: dict[str, int], runtime_s: float, first_step: int
) -> dict[str, float]:
    state = trainer.state
    metrics = {
        "train_loss": float(result.training_loss),
        "steps": float(state.global_step),
        "train_runtime_s": round(runtime_s, 1),
        "s_per_step": round(runtime_s / max(state.global_step - first_step, 1), 3),
        "train_rows": float(counts["train_rows"]),
    }
    if state.best_metric is not None:
        metrics["eval_loss"] = float(state.best_metric)
    evals = [h["eval_loss"] for h in state.log_history if "eval_loss" in h]
    if evals:
        metrics["first_eval_loss"] = float(evals[0])
        metrics["last_eval_loss"] = float(evals[-1])
    return metrics


@dataclass
class Outcome:
    """What train_adapter produced."""

    adapter_dir: Path
    card: AdapterCard
    metrics: dict[str, float]
    resumed_from_step: int | None

    def completed(
        self,
        request: TrainingRequested,
        *,
        model_name: str,
        adapter_uri: str | None = None,
        version: str | None = None,
        run_id: str | None = None,
    ) -> TrainingCompleted:
        return TrainingCompleted(
            job_id=request.job_id,
            base_model=request.base_model,
            method=request.method,
            dataset_version=self.card.dataset_version,
            adapter_uri=adapter_uri or str(self.adapter_dir.resolve()),
            adapter_path=str(self.adapter_dir.resolve()),
            model_name=model_name,
            model_version=version,
            run_id=run_id,
            metrics=self.metrics,
            template_version=self.card.template_version,
            resumed_from_step=self.resumed_from_step,
        )


def make_card(
    request: TrainingRequested,
    *,
    name: str,
    job_id: str,
    template: str,
    data: Any,
    metrics: dict[str, float],
    steps: int,
    runtime_s: float,
    resumed_from_step: int | None,
) -> AdapterCard:
    """The card saved next to an adapter."""
    import peft
    import torch
    import transformers

    return AdapterCard(
        name=name,
        base_model=request.base_model,
        method=request.method,
        dataset_version=data.version,
        template_version=template_version(template),
        system_prompt_sha256=data.system_prompt_sha256,
        dataset_hashes=data.hashes,
        recipe=request.hyperparameters.model_dump(mode="json"),
        metrics=metrics,
        job_id=job_id,
        steps=steps,
        train_runtime_s=round(runtime_s, 1),
        resumed_from_step=resumed_from_step,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        libraries={
            "transformers": transformers.__version__,
            "peft": peft.__version__,
            "torch": torch.__version__,
        },
    )
