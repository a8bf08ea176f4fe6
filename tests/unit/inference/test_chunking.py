"""Chunking: overlapping windows, titles kept, FAQ passages, fingerprints."""

import pytest

from data.pipeline import load_corpus
from tests.unit.inference.fakes import ACOS, article
from workers.inference.chunking import chunk_article, fingerprint, sections, windows


def test_windows_overlap_and_cover_every_word() -> None:
    words = [f"w{i}" for i in range(25)]
    parts = windows(words, 10, 3)
    assert [p[0] for p in parts] == ["w0", "w7", "w14", "w21"]
    assert parts[0][-3:] == parts[1][:3]  # consecutive windows share `overlap` words
    assert {w for p in parts for w in p} == set(words)
    assert all(len(p) <= 10 for p in parts)
    # no window made only of words the previous one already had
    assert [p[0] for p in windows(words[:24], 10, 3)] == ["w0", "w7", "w14"]


def test_short_text_is_one_window_and_empty_text_none() -> None:
    assert windows(["a", "b"], 10, 3) == [["a", "b"]]
    assert windows([], 10, 3) == []


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (10, 10), (10, -1)])
def test_windows_reject_bad_sizes(size: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        windows(["a"], size, overlap)


def test_sections_follow_headings() -> None:
    body = "Intro line.\n\n# Title\n\nFirst.\nSecond.\n\n## Part two\n\nThird."
    assert sections(body) == [
        ("", "Intro line."),
        ("Title", "First. Second."),
        ("Part two", "Third."),
    ]


def test_every_passage_carries_the_title_and_faq_pairs_become_passages() -> None:
    chunks = chunk_article(ACOS, size=8, overlap=2)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert all(c.text.startswith(ACOS.title) for c in chunks)
    assert {c.kind for c in chunks} == {"body", "faq"}
    example = [c for c in chunks if c.section == "Exemplo"]
    assert example and all("— Exemplo" in c.text.splitlines()[0] for c in example)
    [faq] = [c for c in chunks if c.kind == "faq"]
    assert "Pergunta: Como calcular o ACOS?" in faq.text


def test_fingerprint_changes_with_content_chunking_or_embedder() -> None:
    base = fingerprint(ACOS, embedder_id="e1", size=120, overlap=30)
    assert base == fingerprint(ACOS, embedder_id="e1", size=120, overlap=30)
    edited = article(ACOS.id, ACOS.title, ACOS.body + "\n\nMais um parágrafo.")
    assert fingerprint(edited, embedder_id="e1", size=120, overlap=30) != base
    assert fingerprint(ACOS, embedder_id="e2", size=120, overlap=30) != base
    assert fingerprint(ACOS, embedder_id="e1", size=100, overlap=30) != base


def test_the_real_corpus_chunks_into_bounded_titled_passages() -> None:
    articles = load_corpus()
    chunks = [c for a in articles for c in chunk_article(a, size=120, overlap=30)]
    assert {c.article_id for c in chunks} == {a.id for a in articles}
    body = [c for c in chunks if c.kind == "body"]
    # title line + at most 120 words of text
    assert max(len(c.text.split("\n", 1)[1].split()) for c in body) <= 120
