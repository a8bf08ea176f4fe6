"""Finding the parts that exist, by convention, so adding one never edits a central list.

- a worker is a package `workers/<name>/` with an `app.py` that defines `main()`;
- a command group is a module `<package>/cli.py` that defines `register(subparsers)`;
- a gateway router is a module `gateway/routes/<name>.py` that defines `router`;
- a settings class is a `BaseSettings` subclass in `events/settings.py`, `gateway/settings.py`
  or `workers/<name>/settings.py`.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from types import ModuleType

import workers

# Started by `melancia up` in this order; workers not listed here start after these.
WORKER_ORDER = ("inference", "analytics", "drift", "training", "evaluation")
CLI_PACKAGES = ("data.pipeline", "gateway", "gateway.security", "events", "melancia")


def _exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def worker_names() -> list[str]:
    """Worker packages that have an app, in start order."""
    found = [
        info.name
        for info in pkgutil.iter_modules(workers.__path__)
        if info.ispkg and _exists(f"workers.{info.name}.app")
    ]
    ranked = [w for w in WORKER_ORDER if w in found]
    return ranked + sorted(set(found) - set(ranked))


def cli_modules() -> list[ModuleType]:
    """Every `cli.py` that registers commands."""
    candidates = [f"{p}.cli" for p in CLI_PACKAGES]
    candidates += [f"workers.{info.name}.cli" for info in pkgutil.iter_modules(workers.__path__)]
    modules = [importlib.import_module(m) for m in candidates if _exists(m)]
    return [m for m in modules if hasattr(m, "register")]


def router_modules() -> list[ModuleType]:
    """Every gateway route module with a `router`."""
    import gateway.routes

    names = sorted(info.name for info in pkgutil.iter_modules(gateway.routes.__path__))
    modules = [importlib.import_module(f"gateway.routes.{n}") for n in names]
    return [m for m in modules if hasattr(m, "router")]


def settings_modules() -> list[ModuleType]:
    """Modules that define service settings."""
    candidates = ["events.settings", "gateway.settings"]
    candidates += [
        f"workers.{info.name}.settings" for info in pkgutil.iter_modules(workers.__path__)
    ]
    return [importlib.import_module(m) for m in candidates if _exists(m)]
