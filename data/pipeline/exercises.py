"""Computed exercises: seeded numbers, several question templates, answers from the formulas."""

from __future__ import annotations

import logging
import random
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from data.pipeline import numfmt

logger = logging.getLogger(__name__)

Values = dict[str, float]
PLATFORMS = ("no Mercado Livre", "na Amazon", "na Shopee", "na Magalu")  # with the article


@dataclass(frozen=True)
class Solution:
    """The computed result of one exercise and its explained answer."""

    result: float
    shown: str  # the result as written in the answer, e.g. "25%"
    answer: str


@dataclass(frozen=True)
class ExerciseSpec:
    """How to draw numbers, ask and solve one metric's exercises."""

    key: str
    article_id: str
    templates: tuple[str, ...]
    sample: Callable[[random.Random], Values]
    solve: Callable[[Mapping[str, float]], Solution]
    money_keys: tuple[str, ...] = field(default=())
    percent_keys: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Exercise:
    """One generated exercise: a question and its worked answer."""

    metric: str
    template: int
    index: int
    article_id: str
    values: Mapping[str, float]
    question: str
    solution: Solution

    @property
    def base_id(self) -> str:
        """Return the base question id."""
        return f"ex-{self.metric}-{self.index:03d}"

    @property
    def group_id(self) -> str:
        """Return the split group: exercises of one template stay in one split."""
        return f"ex-{self.metric}-t{self.template}"


def worked_answer(intro: str, formula: str, substitution: str, result: str, closing: str) -> str:
    """Lay out an answer as explanation, formula, substitution, result and reading."""
    return (
        f"{intro}\n\n"
        f"Fórmula: {formula}\n"
        f"Substituindo: {substitution}\n"
        f"Resultado: {result}\n\n"
        f"{closing}"
    )


def _money_in_question(value: float, rng: random.Random) -> str:
    # Users write money in several ways; the answer always uses the canonical R$ 1.234,56.
    style = rng.randrange(3)
    if style == 0 or value != int(value):
        return numfmt.money(value)
    if style == 1:
        return f"R$ {numfmt.integer(int(value))}"
    return f"{numfmt.integer(int(value))} reais"


def render_question(
    spec: ExerciseSpec, template: int, values: Mapping[str, float], rng: random.Random
) -> str:
    """Fill one question template with values written as a user would."""
    shown: dict[str, str] = {"na_plataforma": rng.choice(PLATFORMS)}
    for key, value in values.items():
        if key in spec.money_keys:
            shown[key] = _money_in_question(value, rng)
        elif key in spec.percent_keys:
            shown[key] = numfmt.percent(value)
        elif value == int(value):
            shown[key] = numfmt.integer(int(value))
        else:
            shown[key] = numfmt.number(value)
    return spec.templates[template].format(**shown)


def template_keys(text: str) -> set[str]:
    """Return the placeholder names of a question template."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def make_exercise(
    spec: ExerciseSpec,
    values: Mapping[str, float],
    *,
    template: int = 0,
    index: int = 0,
    rng: random.Random | None = None,
) -> Exercise:
    """Build one exercise from explicit values (used by the generator and by tests)."""
    rng = rng or random.Random(0)
    # The solver only sees what the question states, so it never uses hidden numbers.
    used = {k: v for k, v in values.items() if k in template_keys(spec.templates[template])}
    question = render_question(spec, template, used, rng)
    return Exercise(spec.key, template, index, spec.article_id, used, question, spec.solve(used))


def generate_exercises(specs: list[ExerciseSpec], *, seed: int, per_metric: int) -> list[Exercise]:
    """Draw per_metric exercises for each spec, cycling through its templates."""
    exercises: list[Exercise] = []
    for spec in specs:
        # One RNG per metric so adding a metric does not reshuffle the others.
        rng = random.Random(f"{seed}:exercise:{spec.key}")
        seen: set[str] = set()
        for index in range(per_metric):
            template = index % len(spec.templates)
            for _ in range(20):
                exercise = make_exercise(
                    spec, spec.sample(rng), template=template, index=index, rng=rng
                )
                if exercise.question not in seen:
                    break
            seen.add(exercise.question)
            exercises.append(exercise)
    logger.info("generated %d exercises for %d metrics", len(exercises), len(specs))
    return exercises
