"""Phrasing augmentation: deterministic, distinct, and never touching numbers."""

from __future__ import annotations

import random
import re

from data.pipeline.augment import formal, informal, noaccent, phrasings, typo
from data.pipeline.text import strip_accents

QUESTIONS = [
    "O que é ACOS?",
    "Você sabe por que o meu ACOS está alto para esse produto?",
    "Investi R$ 1.500 em anúncios e vendi R$ 18.110,50 com eles. Qual é o meu ACOS?",
    "Qual a diferença entre correspondência ampla, de frase e exata?",
]


def test_phrasings_are_deterministic_and_distinct() -> None:
    for q in QUESTIONS:
        first = phrasings(q, 4, random.Random(f"7:{q}"))
        again = phrasings(q, 4, random.Random(f"7:{q}"))
        assert first == again
        assert first[0] == ("original", q)
        texts = [t for _, t in first]
        assert len(texts) == len(set(texts)) == 4


def test_phrasings_change_with_the_seed() -> None:
    runs = {tuple(phrasings(QUESTIONS[1], 3, random.Random(seed))) for seed in range(8)}
    assert len(runs) > 1


def test_informal_rewrites() -> None:
    out = informal("Você sabe o que é ACOS para anúncios?", random.Random(1)).lower()
    assert "vc" in out and "oq" in out and "pra" in out


def test_formal_and_noaccent() -> None:
    assert formal("O que é ACOS?", random.Random(0)).endswith("o que é ACOS?")
    assert noaccent("Qual é a conversão média?", random.Random(0)) == "qual e a conversao media"
    assert strip_accents("ação, preço") == "acao, preco"


def test_typos_never_touch_numbers() -> None:
    q = QUESTIONS[2]
    numbers = re.findall(r"[\d.,]+\d", q)
    for seed in range(50):
        out = typo(q, random.Random(seed))
        assert out != q
        assert re.findall(r"[\d.,]+\d", out) == numbers
        assert out.count("R$") == 2


def test_pii_placeholders_survive_rewrites() -> None:
    q = "Posso colocar o contato [EMAIL] ou [TELEFONE] na descrição do anúncio?"
    for seed in range(30):
        for _, text in phrasings(q, 4, random.Random(seed)):
            assert "[EMAIL]" in text and "[TELEFONE]" in text, text
