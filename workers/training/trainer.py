"""The Trainer: assistant-only loss computed from the labelled positions' logits only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainingArguments

from schemas.training import Hyperparameters
from workers.training.formatting import IGNORE


class AssistantTrainer(Trainer):
    """transformers.Trainer whose loss asks the model for logits only where labels exist.

    With a 262k-token vocabulary the output projection costs more than Gemma 270M's whole
    body; the prompt (the long system prompt included) carries no loss, so projecting it is
    waste. The loss is the same sum of token cross-entropies over the same labels, divided by
    the same token count as the stock causal-LM loss. Methods that add virtual tokens (prefix,
    prompt tuning) shift positions, so they use the stock loss.
    """

    def __init__(self, *args: Any, sparse_logits: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sparse_logits = sparse_logits
        if sparse_logits:
            # Our loss divides by num_items_in_batch itself (gradient accumulation stays exact).
            self.model_accepts_loss_kwargs = True

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> Any:
        if not self.sparse_logits:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        loss, outputs = labelled_loss(model, inputs, num_items_in_batch)
        return (loss, outputs) if return_outputs else loss


def labelled_loss(
    model: torch.nn.Module, inputs: dict[str, Any], num_items_in_batch: torch.Tensor | int | None
) -> tuple[torch.Tensor, Any]:
    """Causal-LM loss from the logits of positions whose next token is labelled in any row."""
    targets = inputs["labels"][:, 1:]
    keep = (targets != IGNORE).any(dim=0).nonzero().squeeze(-1)
    outputs = model(
        input_ids=inputs["input_ids"],
        attention_mask=inputs.get("attention_mask"),
        logits_to_keep=keep,
    )
    logits = outputs.logits.float()
    picked = targets[:, keep].to(logits.device)
    loss = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]),
        picked.reshape(-1),
        ignore_index=IGNORE,
        reduction="sum",
    )
    if num_items_in_batch is None:
        denominator: torch.Tensor | int = (picked != IGNORE).sum().clamp(min=1)
    else:
        denominator = num_items_in_batch
    if isinstance(denominator, torch.Tensor):
        denominator = denominator.to(loss.device)
    return loss / denominator, outputs


def training_arguments(
    hp: Hyperparameters,
    *,
    output_dir: Path,
    precision: str,
    cuda: bool,
    evaluate: bool = True,
) -> TrainingArguments:
    """TrainingArguments of a job: steps, batching, schedule, eval/save cadence, precision."""
    cadence = "steps" if evaluate else "no"
    return TrainingArguments(
        output_dir=str(output_dir),
        max_steps=hp.max_steps or -1,
        num_train_epochs=hp.epochs,
        per_device_train_batch_size=hp.batch_size,
        per_device_eval_batch_size=hp.batch_size,
        gradient_accumulation_steps=hp.gradient_accumulation,
        learning_rate=hp.learning_rate,
        weight_decay=hp.weight_decay,
        lr_scheduler_type=hp.lr_scheduler,
        warmup_steps=hp.warmup_ratio,  # a float below 1 is a ratio of the total steps
        eval_strategy=cadence,
        eval_steps=hp.eval_steps,
        save_strategy="steps",
        save_steps=hp.eval_steps,
        save_total_limit=2,  # with load_best_model_at_end: the best and the latest survive
        load_best_model_at_end=evaluate,
        metric_for_best_model="eval_loss" if evaluate else None,
        greater_is_better=False if evaluate else None,
        restore_callback_states_from_checkpoint=True,  # early-stopping patience survives resume
        logging_steps=1,
        seed=hp.seed,
        data_seed=hp.seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=not cuda,
        gradient_checkpointing=hp.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False}
        if hp.gradient_checkpointing
        else None,
        train_sampling_strategy="group_by_length" if hp.group_by_length else "random",
        include_num_input_tokens_seen="non_padding",
        prediction_loss_only=True,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=cuda,
        report_to="none",
        disable_tqdm=True,
    )
