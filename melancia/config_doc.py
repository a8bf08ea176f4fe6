"""Every environment variable of every service, read from the settings classes themselves."""

from __future__ import annotations

import inspect

from pydantic_settings import BaseSettings

from melancia.discovery import settings_modules


def settings_classes() -> dict[str, type[BaseSettings]]:
    """Every service's settings class, keyed by where it lives."""
    found: dict[str, type[BaseSettings]] = {}
    for module in settings_modules():
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, BaseSettings)
                and cls is not BaseSettings
                and cls.__module__ == module.__name__
            ):
                found[module.__name__.removesuffix(".settings")] = cls
    return found


OTHER = {
    "MELANCIA_LOG_LEVEL": ("all", "INFO", "log level of every process"),
    "MELANCIA_WORKER_INDEX": ("workers", "0", "replica number set by `melancia up` (log prefix)"),
    "MELANCIA_TEST_KAFKA_BOOTSTRAP": ("tests", "", "run integration tests against this Kafka"),
    "MELANCIA_TEST_USE_DOCKER": ("tests", "", "1: integration tests start Kafka in testcontainers"),
}


def rows() -> list[tuple[str, str, str, str]]:
    """(variable, service, default, description) for every setting."""
    out = []
    for service, cls in settings_classes().items():
        prefix = str(cls.model_config.get("env_prefix", ""))
        for name, field in cls.model_fields.items():
            default = "(generated)" if field.default_factory else repr(field.default)
            out.append(((prefix + name).upper(), service, default, field.description or ""))
    out += [(k, s, d, t) for k, (s, d, t) in OTHER.items()]
    return out


def markdown() -> str:
    lines = ["| variable | service | default | meaning |", "|---|---|---|---|"]
    lines += [f"| `{v}` | {s} | `{d}` | {t} |" for v, s, d, t in rows()]
    return "\n".join(lines)


START, END = "<!-- config:start -->", "<!-- config:end -->"


def sync_readme(path: str = "README.md") -> bool:
    """Rewrite the configuration table in README between its markers; True if it changed."""
    from pathlib import Path

    readme = Path(path)
    text = readme.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{START}\n{markdown()}\n{END}{tail}"
    readme.write_text(new)
    return new != text
