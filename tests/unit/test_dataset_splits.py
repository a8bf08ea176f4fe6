"""Splits: grouped, stratified, deterministic, and free of leakage into val/test/benchmark."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from data.pipeline.builder import BuildConfig, build_dataset
from data.pipeline.dedup import dedup_across_groups, drop_leaks
from data.pipeline.minhash import near_duplicates
from data.pipeline.models import BaseQuestion
from data.pipeline.records import Phrased
from data.pipeline.splits import assign_groups
from tests.unit.test_dataset_fixture_corpus import write_benchmark, write_corpus


def _build(tmp_path: Path, **kw):
    if not (tmp_path / "corpus").exists():
        write_corpus(tmp_path)
        write_benchmark(tmp_path)
    config = BuildConfig(
        corpus=tmp_path / "corpus", benchmark=tmp_path / "benchmark", exercises_per_metric=8, **kw
    )
    return build_dataset(config)


def _item(base_id: str, question: str, group: str | None = None, index: int = 0) -> Phrased:
    base = BaseQuestion(
        base_id=base_id,
        group_id=group or base_id,
        question=question,
        answer="Resposta de teste com texto suficiente.",
        question_type="concept",
        article_id="metricas-acos",
        category="metricas",
        difficulty="basico",
    )
    return Phrased(base, index, "original", question, "")


def test_no_base_question_or_group_in_two_splits(tmp_path: Path) -> None:
    result = _build(tmp_path)
    for key in ("base_id", "group_id"):
        owner: dict[str, str] = {}
        for split, records in result.chat.items():
            for record in records:
                value = getattr(record.metadata, key)
                assert owner.setdefault(value, split) == split, (key, value)


def test_no_near_duplicate_between_train_and_held_out(tmp_path: Path) -> None:
    result = _build(tmp_path)
    train = [r.question for r in result.chat["train"]]
    held = [r.question for s in ("val", "test") for r in result.chat[s]]
    held += ["Qual a diferença entre ACOS e ROAS?", "Como escolher palavras-chave negativas?"]
    assert near_duplicates(train, held) == []


def test_benchmark_question_removes_its_training_twin(tmp_path: Path) -> None:
    result = _build(tmp_path)
    everything = [r for records in result.chat.values() for r in records]
    twin = [r for r in everything if r.metadata.base_id == "metricas-acos-faq04"]
    # "Qual a diferença entre ACOS e ROAS?" is in the benchmark: it may be held out, never trained.
    assert all(r.metadata.split != "train" for r in twin)
    if not twin:
        assert any(d.matched == "bench-001" for d in result.dropped_leaks)


def test_drop_leaks_drops_every_phrasing_of_the_base() -> None:
    train = [
        _item("a", "O que é ACOS?", index=0),
        _item("a", "oq é acos", index=1),
        _item("b", "Como negativar palavras no Mercado Livre?"),
    ]
    kept, dropped = drop_leaks(train, [("bench-9", "O que é ACOS?", "benchmark")])
    assert [i.base.base_id for i in kept] == ["b"]
    assert {d.record_id for d in dropped} == {"a-p0", "a-p1"}
    assert all(d.reason == "leakage:benchmark" and d.matched == "bench-9" for d in dropped)


def test_dedup_keeps_first_group_and_ignores_same_group() -> None:
    items = [
        _item("acos-faq04", "Qual a diferença entre ACOS e ROAS?"),
        _item("roas-faq02", "Qual a diferença entre ACOS e ROAS ?"),
        _item("ex-acos-000", "Investi R$ 500 e vendi R$ 2.000. Qual é o ACOS?", "ex-acos-t0"),
        _item("ex-acos-004", "Investi R$ 500 e vendi R$ 2.100. Qual é o ACOS?", "ex-acos-t0"),
    ]
    kept, dropped = dedup_across_groups(items)
    assert [i.base.base_id for i in kept] == ["acos-faq04", "ex-acos-000", "ex-acos-004"]
    assert [(d.base_id, d.matched) for d in dropped] == [("roas-faq02", "acos-faq04-p0")]


def test_assignment_is_stratified_and_deterministic() -> None:
    groups = {
        f"g{i:03d}": ("metricas/basico/faq" if i < 60 else "sazonalidade/avancado/faq", 3)
        for i in range(100)
    }
    first = assign_groups(groups, seed=1)
    assert first == assign_groups(groups, seed=1)
    assert first != assign_groups(groups, seed=2)
    for prefix, size in (("metricas", 60), ("sazonalidade", 40)):
        counts = Counter(first[g] for g, (s, _) in groups.items() if s.startswith(prefix))
        assert counts == {"train": size * 8 // 10, "val": size // 10, "test": size // 10}


def test_split_ratios_on_fixture(tmp_path: Path) -> None:
    result = _build(tmp_path)
    total = sum(len(v) for v in result.chat.values())
    assert 0.7 < len(result.chat["train"]) / total < 0.9
    assert result.chat["val"] and result.chat["test"]
