from pathlib import Path

from melancia.config_doc import END, START, markdown, rows

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_documents_every_environment_variable() -> None:
    text = README.read_text()
    block = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert block == markdown(), "run `melancia config --write-readme`"
    for variable, *_ in rows():
        assert f"`{variable}`" in text
