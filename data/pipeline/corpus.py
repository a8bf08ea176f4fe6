"""Read corpus articles (YAML front matter + Markdown body) and the manifest."""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import yaml
from pydantic import ValidationError

from data.pipeline.models import Article
from data.pipeline.paths import corpus_dir

logger = logging.getLogger(__name__)

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n(.*)\Z", re.DOTALL)
_MANIFEST_ROW = re.compile(r"^\|\s*([a-z0-9-]+)\s*\|\s*([a-z_]+)\s*\|\s*([a-z]+)\s*\|", re.M)
FAQ_MIN, FAQ_MAX = 8, 12


class CorpusError(ValueError):
    """An article that cannot be parsed or does not follow FORMAT.md."""


def parse_article(path: Path) -> Article:
    """Parse one article file into an Article."""
    raw = path.read_bytes()
    match = _FRONT_MATTER.match(raw.decode("utf-8").replace("\r\n", "\n"))
    if match is None:
        raise CorpusError(f"{path}: missing YAML front matter delimited by ---")
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise CorpusError(f"{path}: invalid YAML front matter: {exc}") from exc
    if not isinstance(meta, dict):
        raise CorpusError(f"{path}: front matter is not a mapping")
    if meta.get("id") != path.stem:
        raise CorpusError(f"{path}: front matter id {meta.get('id')!r} != file name")
    fields = {k: meta.get(k) for k in ("id", "title", "category", "difficulty", "faq")}
    fields["tags"] = meta.get("tags") or []
    fields["related"] = meta.get("related") or []
    try:
        article = Article.model_validate(
            {
                **fields,
                "body": match.group(2).strip(),
                "path": path,
                "content_hash": hashlib.sha256(raw).hexdigest(),
            }
        )
    except ValidationError as exc:
        raise CorpusError(f"{path}: {exc}") from exc
    if article.path.parent.name != article.category:
        raise CorpusError(f"{path}: category {article.category!r} != directory name")
    if not FAQ_MIN <= len(article.faq) <= FAQ_MAX:
        logger.warning(
            "%s has %d faq entries (expected %d-%d)", article.id, len(article.faq), FAQ_MIN, FAQ_MAX
        )
    return article


def read_corpus(directory: Path) -> list[Article]:
    """Parse every data/corpus/<category>/<id>.md under directory, sorted by id."""
    paths = sorted(p for p in Path(directory).glob("*/*.md"))
    articles = [parse_article(p) for p in paths]
    articles.sort(key=lambda a: a.id)
    seen: set[str] = set()
    for article in articles:
        if article.id in seen:
            raise CorpusError(f"duplicate article id {article.id}")
        seen.add(article.id)
    logger.info("read %d articles from %s", len(articles), directory)
    return articles


def load_corpus(root: Path | None = None) -> list[Article]:
    """Load and validate all articles of the repository corpus (root = repository root)."""
    return read_corpus(corpus_dir(root))


def read_manifest(directory: Path) -> dict[str, tuple[str, str]]:
    """Return {article id: (category, difficulty)} from MANIFEST.md, empty if absent."""
    path = Path(directory) / "MANIFEST.md"
    if not path.exists():
        return {}
    rows = _MANIFEST_ROW.findall(path.read_text(encoding="utf-8"))
    return {aid: (cat, diff) for aid, cat, diff in rows if aid != "id"}


def corpus_hash(articles: list[Article]) -> str:
    """Hash the corpus content: article ids and file hashes, order-independent."""
    digest = hashlib.sha256()
    for article in sorted(articles, key=lambda a: a.id):
        digest.update(f"{article.id}:{article.content_hash}\n".encode())
    return digest.hexdigest()
