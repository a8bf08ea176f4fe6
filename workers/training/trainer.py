"""The Trainer: assistant-only loss computed from the labelled positions' logits only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainingArguments

from schemas.training import Hyperparameters
from workers.inference.kvcache import cache_argument, output_cache
from workers.training.formatting import IGNORE


class AssistantTrainer(Trainer):
    """transformers.Trainer whose loss asks the model for logits only where labels exist.

    With a 262k-token vocabulary the output projection costs more than Gemma 270M's whole
    body; the prompt (the long system prompt included) carries no loss, so projecting it is
    waste. The loss is the same sum of token cross-entropies over the same labels, divided by
    the same token count as the stock causal-LM loss. Methods that add virtual tokens (prefix,
    prompt tuning) shift positions, so they use the stock loss.
    """

    def __init__(
        self, *args: Any, sparse_logits: bool = True, share_prefix: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.sparse_logits = sparse_logits
        self.share_prefix = sparse_logits and share_prefix
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
        loss, outputs = labelled_loss(
            model, inputs, num_items_in_batch, share_prefix=self.share_prefix
        )
        return (loss, outputs) if return_outputs else loss


def labelled_loss(
    model: torch.nn.Module,
    inputs: dict[str, Any],
    num_items_in_batch: torch.Tensor | int | None,
    *,
    share_prefix: bool = False,
) -> tuple[torch.Tensor, Any]:
    """Causal-LM loss from the logits of positions whose next token is labelled in any row.

    With share_prefix, the token prefix every row shares (the system prompt) runs once, for
    one row and without gradient; the rows continue from its KV cache. The forward pass (and
    so the loss) is unchanged; the gradient leaves out the adapter's effect on that prefix.
    """
    input_ids, labels = inputs["input_ids"], inputs["labels"]
    mask = inputs.get("attention_mask")
    targets = labels[:, 1:]
    keep = (targets != IGNORE).any(dim=0).nonzero().squeeze(-1)
    start = shared_prefix_length(input_ids, labels) if share_prefix else 0
    kwargs: dict[str, Any] = {}
    if start:
        with torch.no_grad():
            prefix = output_cache(model(input_ids=input_ids[:1, :start], use_cache=True))
        prefix.batch_repeat_interleave(input_ids.shape[0])
        kwargs = {cache_argument(model): prefix, "use_cache": True}
    outputs = model(
        input_ids=input_ids[:, start:],
        attention_mask=mask,
        logits_to_keep=keep - start,
        **kwargs,
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


MIN_SHARED_PREFIX = 16


def shared_prefix_length(input_ids: torch.Tensor, labels: torch.Tensor) -> int:
    """Length of the token prefix identical in every row and free of labels (0 if short)."""
    if input_ids.shape[0] < 2:
        return 0
    same = (input_ids == input_ids[:1]).all(dim=0).long().cumprod(dim=0).sum()
    labelled = (labels != IGNORE).long().argmax(dim=1).min()
    # Logits at position p predict token p + 1: the first label's predecessor must stay in.
    length = int(torch.minimum(same, labelled - 1).clamp(min=0))
    return length if length >= MIN_SHARED_PREFIX else 0


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
        activation_checkpointing=hp.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False}
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
