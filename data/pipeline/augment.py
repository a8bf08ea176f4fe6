"""Deterministic rephrasings of a question: formal, informal, typos and accent-free."""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from data.pipeline.text import strip_accents

_INFORMAL_SUBS: tuple[tuple[str, str], ...] = (
    (r"\bo que\b", "oq"),
    (r"\bvocês\b", "vcs"),
    (r"\bvocê\b", "vc"),
    (r"\bpara\b", "pra"),
    (r"\bpor que\b", "pq"),
    (r"\bporque\b", "pq"),
    (r"\bestá\b", "tá"),
    (r"\bestou\b", "tô"),
    (r"\btambém\b", "tb"),
    (r"\bqual é\b", "qual"),
    (r"\bquanto\b", "qto"),
    (r"\bmuito\b", "mto"),
    (r"\bmesmo\b", "msm"),
    (r"\bnão\b", "ñ"),
    (r"\bquando\b", "qdo"),
)
_INFORMAL_OPENERS = ("", "", "oi, ", "e aí, ", "galera, ", "me ajuda: ", "dúvida: ", "pessoal, ")
_FORMAL_OPENERS = (
    "Poderia me explicar: ",
    "Gostaria de entender o seguinte: ",
    "Tenho uma dúvida: ",
    "Por gentileza, ",
    "Prezada MelancIA, ",
)
_NEIGHBOURS = dict(
    zip(
        "qwertyuiopasdfghjklzxcvbnm",
        (
            "wa",
            "qes",
            "wrd",
            "etf",
            "ryg",
            "tuh",
            "yij",
            "uok",
            "ipl",
            "ol",
            "qsz",
            "awdx",
            "sefc",
            "drgv",
            "fthb",
            "gyjn",
            "hukm",
            "jil",
            "kp",
            "asx",
            "zsdc",
            "xdfv",
            "cfgb",
            "vghn",
            "bhjm",
            "njk",
        ),
        strict=True,
    )
)
_WORD = re.compile(r"\S+")
_PLACEHOLDER = re.compile(r"\[(?:email|cpf|cnpj|telefone)\]", re.IGNORECASE)


def _lower_first(text: str) -> str:
    # Keep acronyms such as ACOS or CPC intact when lowering the first letter.
    first = text.split(" ", 1)[0]
    if len(first) > 1 and first.isupper():
        return text
    return text[:1].lower() + text[1:]


def informal(text: str, rng: random.Random) -> str:
    """Rewrite as chat-style Portuguese: vc, oq, pra, no capitals, loose punctuation."""
    out = text
    for pattern, repl in _INFORMAL_SUBS:
        out = re.sub(pattern, repl, out, flags=re.IGNORECASE)
    out = rng.choice(_INFORMAL_OPENERS) + _lower_first(out)
    if rng.random() < 0.5:
        out = out.lower()
    ending = rng.choice(("?", "", "??", " ?"))
    return out.rstrip("?. ") + ending if out.rstrip().endswith("?") else out


def formal(text: str, rng: random.Random) -> str:
    """Wrap the question in a polite, formal opener."""
    return rng.choice(_FORMAL_OPENERS) + _lower_first(text)


def noaccent(text: str, rng: random.Random) -> str:
    """Lowercase without accents or final punctuation, as typed on a phone."""
    return strip_accents(text).lower().rstrip("?.! ")


def _typo_word(word: str, rng: random.Random) -> str:
    # Some edits are no-ops (accent drop on a plain word, swapping equal letters): retry.
    for _ in range(10):
        out = _edit_word(word, rng)
        if out != word:
            return out
    return word[:-1]


def _edit_word(word: str, rng: random.Random) -> str:
    letters = [i for i, c in enumerate(word) if c.isalpha()]
    i = rng.choice(letters)
    op = rng.randrange(5)
    if op == 0 and i + 1 < len(word) and word[i + 1].isalpha():
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]  # swap neighbours
    if op == 1:
        return word[:i] + word[i + 1 :]  # dropped letter
    if op == 2:
        return word[:i] + word[i] + word[i:]  # doubled letter
    if op == 3:
        near = _NEIGHBOURS.get(strip_accents(word[i]).lower(), word[i])
        return word[:i] + rng.choice(near) + word[i + 1 :]  # fat finger
    return strip_accents(word)


def typo(text: str, rng: random.Random) -> str:
    """Insert 1-3 realistic typos, never inside numbers or money amounts."""
    words = list(_WORD.finditer(text))
    eligible = [
        m
        for m in words
        if len(m.group()) >= 4
        and not any(c.isdigit() or c in "$[]" for c in m.group())  # numbers, PII placeholders
    ]
    if not eligible:
        return strip_accents(text).lower()
    count = max(1, min(3, len(eligible) // 5))
    chosen = sorted(rng.sample(eligible, count), key=lambda m: m.start(), reverse=True)
    out = text
    for match in chosen:
        out = out[: match.start()] + _typo_word(match.group(), rng) + out[match.end() :]
    return out


TRANSFORMS: dict[str, Callable[[str, random.Random], str]] = {
    "informal": informal,
    "typo": typo,
    "formal": formal,
    "noaccent": noaccent,
}


def phrasings(question: str, count: int, rng: random.Random) -> list[tuple[str, str]]:
    """Return up to count distinct (style, text) pairs; the first is the original."""
    # Alternate a casual style with a noisy or formal one so that even three phrasings
    # cover both how people chat and how they mistype.
    casual, other = ["informal", "noaccent"], ["typo", "formal"]
    rng.shuffle(casual)
    rng.shuffle(other)
    order = [casual[0], other[0], casual[1], other[1]]
    out = [("original", question)]
    seen = {question}
    for style in order * 2:  # a second pass retries styles whose output collided
        if len(out) >= count:
            break
        text = _PLACEHOLDER.sub(lambda m: m.group().upper(), TRANSFORMS[style](question, rng))
        text = text.strip()
        if text and text not in seen:
            seen.add(text)
            out.append((style, text))
    return out
