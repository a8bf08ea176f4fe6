"""Text normalisation, tokens, n-grams and the Portuguese-vs-English stop-word score."""

from __future__ import annotations

import re
import unicodedata

# Words that exist in both languages (a, as, do, no, me...) are left out of both lists
# so they do not count as evidence for either.
_PT_WORDS = """
o os um uma uns umas de da das dos em na nas num numa por pelo pela pelos pelas para pra
com sem sobre entre que quem qual quais quando onde como porque porquê mas ou e é são ser
foi era está estão estar tem têm ter há isso isto esse essa este esta aquele aquela mais
menos muito muita muitos muitas também já ainda não sim seu sua seus suas meu minha meus
minhas nosso nossa ao aos à às cada quanto quanta depois antes até mesmo sempre vai vou
pode podem deve devem fica ficam você vocês ele ela eles elas lhe se nos lá bem mal só
então assim porém pois depende qualquer outro outra outros outras essas esses estas estes
"""
_EN_WORDS = """
the of and to in is are was were be been being that this these those it its with for from
by on at or but not what which who when where how why you your yours he she they them their
we our us i my will would can could should have has had does did than then there here
about into over under more most some any all each very just also only such
"""
PT_STOPWORDS = frozenset(_PT_WORDS.split())
EN_STOPWORDS = frozenset(_EN_WORDS.split())


def strip_accents(text: str) -> str:
    """Remove diacritics (ç -> c, ã -> a) the way people typing fast do."""
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    )


_TOKEN = re.compile(r"[a-zà-ÿ]+", re.IGNORECASE)
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Lowercase, drop accents and collapse whitespace, for similarity comparisons."""
    return _SPACES.sub(" ", strip_accents(text).lower()).strip()


def words(text: str) -> list[str]:
    """Lowercase word tokens (letters only, accents kept)."""
    return [w.lower() for w in _TOKEN.findall(text)]


def content_words(text: str) -> list[str]:
    """Accent-free words of 3+ letters that are not Portuguese stop words."""
    return [strip_accents(w) for w in words(text) if len(w) >= 3 and w not in PT_STOPWORDS]


def ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    """Return the n-grams of a token list."""
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def stopword_ratios(text: str) -> tuple[float, float]:
    """Return (Portuguese, English) stop-word shares of the word tokens."""
    tokens = words(text)
    if not tokens:
        return 0.0, 0.0
    pt = sum(t in PT_STOPWORDS for t in tokens) / len(tokens)
    en = sum(t in EN_STOPWORDS for t in tokens) / len(tokens)
    return pt, en


def char_shingles(text: str, k: int = 5) -> set[str]:
    """Character k-shingles of the normalised text (the text itself if shorter)."""
    norm = normalize(text)
    if len(norm) <= k:
        return {norm} if norm else set()
    return {norm[i : i + k] for i in range(len(norm) - k + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    """Exact Jaccard similarity of two sets."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)
