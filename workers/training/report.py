"""Base model vs fine-tuned adapter on the test split: eval loss and ROUGE-L.

Eval loss: mean cross-entropy over the answer tokens of the test conversations, rendered with
the chat template exactly as in training. ROUGE-L: greedy answers to a fixed subset of test
questions, prompted exactly as serving prompts (system prompt, few-shot examples for the bare
base model, the bare question for an adapter), scored against the reference answers with a
tokenizer that keeps accented words (rouge-score's default drops "ç", "ã"...).
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

import torch

from data.pipeline import load_split
from workers.training.data import conversation, spread
from workers.training.formatting import Collator, encode_records, pad_token_id

logger = logging.getLogger(__name__)
_WORD = re.compile(r"\w+", re.UNICODE)


class UnicodeWords:
    """rouge-score tokenizer: lower-cased `\\w+` words, accents kept."""

    def tokenize(self, text: str) -> list[str]:
        return _WORD.findall(text.lower())


def rouge_l(predictions: list[str], references: list[str]) -> float:
    """Mean ROUGE-L F1."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=UnicodeWords())
    scores = [
        scorer.score(r, p)["rougeL"].fmeasure for p, r in zip(predictions, references, strict=True)
    ]
    return float(sum(scores) / max(len(scores), 1))


@torch.no_grad()
def eval_loss(
    model: Any,
    tokenizer: Any,
    conversations: list[list[dict[str, str]]],
    *,
    max_seq_len: int = 512,
    batch_size: int = 4,
) -> float:
    """Token-weighted mean cross-entropy of the assistant tokens."""
    from workers.training.trainer import labelled_loss

    dataset, _ = encode_records(tokenizer, conversations, max_seq_len=max_seq_len)
    collate = Collator(pad_token_id(tokenizer))
    order = sorted(range(len(dataset)), key=lambda i: len(dataset.rows[i].input_ids))
    total, tokens = 0.0, 0
    for start in range(0, len(order), batch_size):
        batch = collate([dataset[i] for i in order[start : start + batch_size]])
        n = int((batch["labels"][:, 1:] != -100).sum())
        # Without gradient, running the shared system prompt once per batch is exact.
        loss, _ = labelled_loss(model, batch, n, share_prefix=True)
        total += float(loss) * n
        tokens += n
    return total / max(tokens, 1)


@torch.no_grad()
def generate_answers(
    model: Any,
    tokenizer: Any,
    questions: list[str],
    *,
    few_shot: bool,
    max_new_tokens: int,
    batch_size: int = 8,
) -> list[str]:
    """Greedy answers, prompted and stopped exactly as the inference worker does."""
    from workers.inference.decoding import stop_token_ids
    from workers.inference.prompting import apply_chat_template, build_messages
    from workers.training.formatting import encode_text

    stops = sorted(
        stop_token_ids(tokenizer, model.config, getattr(model, "generation_config", None))
    )
    pad = pad_token_id(tokenizer)
    answers: list[str] = []
    for start in range(0, len(questions), batch_size):
        prompts = [
            encode_text(
                tokenizer,
                apply_chat_template(
                    tokenizer, build_messages(q, few_shot=few_shot), add_generation_prompt=True
                ),
            )
            for q in questions[start : start + batch_size]
        ]
        width = max(len(p) for p in prompts)
        # Left padding: every row's next token is at the last position.
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        out = model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=stops,
            pad_token_id=pad,
        )
        for row in out[:, width:]:
            kept = []
            for token in row.tolist():
                if token in stops:
                    break
                kept.append(token)
            answers.append(tokenizer.decode(kept, skip_special_tokens=True).strip())
    return answers


def measure(
    model: Any,
    tokenizer: Any,
    *,
    loss_conversations: list[list[dict[str, str]]],
    questions: list[str],
    references: list[str],
    few_shot: bool,
    max_new_tokens: int,
) -> dict[str, Any]:
    started = time.monotonic()
    loss = eval_loss(model, tokenizer, loss_conversations)
    loss_s = time.monotonic() - started
    answers = generate_answers(
        model, tokenizer, questions, few_shot=few_shot, max_new_tokens=max_new_tokens
    )
    return {
        "eval_loss": round(loss, 4),
        "rougeL": round(rouge_l(answers, references), 4),
        "loss_s": round(loss_s, 1),
        "generation_s": round(time.monotonic() - started - loss_s, 1),
        "answers": answers,
    }


def compare(
    base_model: str,
    adapter_dir: Path,
    *,
    models_dir: Path,
    rouge_items: int = 32,
    loss_items: int | None = None,
    max_new_tokens: int = 160,
) -> dict[str, Any]:
    """Both measurements for the base model and for base + adapter; relative changes."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from workers.inference.models import ensure_model
    from workers.inference.prompting import CHAT_TEMPLATE, ensure_chat_template
    from workers.registry.adapters import check_template, read_card

    test = load_split("test")
    loss_rows = [conversation(r) for r in spread(test, loss_items)]
    subset = spread(test, rouge_items)
    questions = [r.question for r in subset]
    references = [r.answer for r in subset]
    path = ensure_model(base_model, models_dir)
    tokenizer = ensure_chat_template(AutoTokenizer.from_pretrained(path))
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    common = {"loss_conversations": loss_rows, "questions": questions, "references": references}
    base = measure(model, tokenizer, few_shot=True, max_new_tokens=max_new_tokens, **common)
    check_template(adapter_dir, tokenizer, default_template=CHAT_TEMPLATE)
    tuned_model = PeftModel.from_pretrained(model, str(adapter_dir)).eval()
    tuned = measure(tuned_model, tokenizer, few_shot=False, max_new_tokens=max_new_tokens, **common)
    card = read_card(adapter_dir)
    return {
        "base_model": base_model,
        "adapter": str(adapter_dir),
        "adapter_card": card.model_dump(
            include={"method", "dataset_version", "template_version", "steps", "train_runtime_s"}
        )
        if card
        else None,
        "test_rows_for_loss": len(loss_rows),
        "test_questions_for_rouge": len(questions),
        "max_new_tokens": max_new_tokens,
        "base": {k: v for k, v in base.items() if k != "answers"},
        "tuned": {k: v for k, v in tuned.items() if k != "answers"},
        "eval_loss_reduction": round(1 - tuned["eval_loss"] / base["eval_loss"], 4),
        "rougeL_gain": round(tuned["rougeL"] / base["rougeL"] - 1, 4) if base["rougeL"] else None,
        "examples": [
            {"question": q, "reference": r, "base": b, "tuned": t}
            for q, r, b, t in list(
                zip(questions, references, base["answers"], tuned["answers"], strict=True)
            )[:5]
        ],
    }


def render(report: dict[str, Any]) -> str:
    """The report as a small table."""
    base, tuned = report["base"], report["tuned"]
    gain = "n/a" if report["rougeL_gain"] is None else f"{report['rougeL_gain']:+.1%}"
    lines = [
        f"base model {report['base_model']}  adapter {report['adapter']}",
        f"test rows for loss: {report['test_rows_for_loss']}, questions for ROUGE-L: "
        f"{report['test_questions_for_rouge']} (greedy, max {report['max_new_tokens']} new tokens)",
        "",
        "| metric | base | tuned | change |",
        "|---|---|---|---|",
        f"| eval loss (test) | {base['eval_loss']:.4f} | {tuned['eval_loss']:.4f} | {-report['eval_loss_reduction']:+.1%} |",
        f"| ROUGE-L (test subset) | {base['rougeL']:.4f} | {tuned['rougeL']:.4f} | {gain} |",
    ]
    return "\n".join(lines)
