"""Split an article into sections and pick the short passage that best matches a question."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass

from data.pipeline.models import Article
from data.pipeline.text import content_words

MAX_CONTEXT_CHARS = 700
_HEADING = re.compile(r"^##\s+(.+?)\s*$", re.M)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Section:
    """A `##` section of an article body (the lead before the first heading included)."""

    heading: str
    text: str


def sections(article: Article) -> list[Section]:
    """Split the body on `##` headings; the top `#` title line is dropped."""
    body = re.sub(r"^#\s+.*$", "", article.body, count=1, flags=re.M).strip()
    parts = _HEADING.split(body)
    out = [Section(article.title, parts[0].strip())] if parts[0].strip() else []
    for heading, text in zip(parts[1::2], parts[2::2], strict=True):
        if text.strip():
            out.append(Section(heading, text.strip()))
    return out


def _vector(text: str, idf: dict[str, float]) -> dict[str, float]:
    counts = Counter(content_words(text))
    return {w: (1 + math.log(c)) * idf.get(w, 1.0) for w, c in counts.items()}


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    dot = sum(v * b.get(k, 0.0) for k, v in a.items())
    norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return dot / norm if norm else 0.0


def _split(text: str, level: int) -> list[str]:
    parts = (text.split("\n\n"), text.split("\n"), _SENTENCE_END.split(text))[level]
    return [p.strip() for p in parts if p.strip()]


def _trim(text: str, query: dict[str, float], idf: dict[str, float], limit: int) -> str:
    """Keep the run of paragraphs, then lines, then sentences around the best-matching one."""
    for level, glue in enumerate(("\n\n", "\n", " ")):
        units = _split(text, level)
        scores = [_cosine(query, _vector(u, idf)) for u in units]
        best = max(range(len(units)), key=lambda i: (scores[i], -i))
        lo = hi = best
        while True:
            grow = [i for i in (lo - 1, hi + 1) if 0 <= i < len(units)]
            grow = [i for i in grow if len(glue.join(units[min(lo, i) : max(hi, i) + 1])) <= limit]
            if not grow:
                break
            pick = max(grow, key=lambda i: (scores[i], -i))
            lo, hi = min(lo, pick), max(hi, pick)
        joined = glue.join(units[lo : hi + 1])
        if len(joined) <= limit:
            return joined
        text = units[best]
    return text[:limit].rsplit(" ", 1)[0] + " …"


def best_passage(
    article: Article, question: str, answer: str = "", limit: int = MAX_CONTEXT_CHARS
) -> str:
    """Return 'title — heading' plus the most relevant part of the best section."""
    secs = sections(article)
    if not secs:
        return article.title
    docs = [content_words(f"{s.heading} {s.text}") for s in secs]
    df = Counter(w for doc in docs for w in set(doc))
    idf = {w: math.log((1 + len(docs)) / (1 + n)) + 1 for w, n in df.items()}
    # The question decides; the known answer breaks ties between similar sections.
    query: defaultdict[str, float] = defaultdict(float)
    for w, v in _vector(question, idf).items():
        query[w] += 2 * v
    for w, v in _vector(answer, idf).items():
        query[w] += v
    scores = [_cosine(dict(query), _vector(f"{s.heading} {s.text}", idf)) for s in secs]
    best = secs[max(range(len(secs)), key=lambda i: (scores[i], -i))]
    text = _trim(best.text, dict(query), idf, limit)
    heading = best.heading if best.heading != article.title else "introdução"
    return f"{article.title} — {heading}\n\n{text}"
