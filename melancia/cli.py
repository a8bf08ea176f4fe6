"""The `melancia` command line."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from melancia import heap
from melancia.discovery import cli_modules, worker_names
from melancia.logs import configure

logger = logging.getLogger("melancia")


def _broker(args: argparse.Namespace) -> int:
    from events.embedded import EmbeddedBroker

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with EmbeddedBroker(port=args.port) as broker:
        logger.info("Kafka-protocol broker listening on %s; Ctrl-C stops it", broker.bootstrap)
        stop.wait()
    return 0


def _up(args: argparse.Namespace) -> int:
    from melancia.discovery import worker_names
    from melancia.up import run_up

    known = worker_names()
    workers = args.workers.split(",") if args.workers else known
    unknown = [w for w in workers if w not in known]
    if unknown:
        logger.error("unknown worker(s) %s; known: %s", unknown, known)
        return 2
    return run_up(
        workers=workers, replicas=args.replicas, port=args.port, broker_port=args.broker_port
    )


def _gateway(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway.main import create_app
    from gateway.settings import GatewaySettings

    settings = GatewaySettings()
    app = create_app(settings)
    # What the process imported and built stays for its life: out of every collection
    # (melancia.heap). Here, not in the app's lifespan: each test app would pay a full collection.
    heap.freeze_loaded()
    try:
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            ssl_certfile=settings.tls_certfile,
            ssl_keyfile=settings.tls_keyfile,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=5,
        )
    finally:
        heap.thaw()
    return 0


def _worker(args: argparse.Namespace) -> int:
    module = importlib.import_module(f"workers.{args.name}.app")
    return int(module.main())


def _schemas_export(args: argparse.Namespace) -> int:
    from melancia.export import export_schemas

    written = export_schemas(Path(args.out))
    print(f"wrote {len(written)} files to {args.out}")
    return 0


def _models_prepare(args: argparse.Namespace) -> int:
    from workers.inference.models import ensure_model
    from workers.inference.settings import InferenceSettings

    settings = InferenceSettings()
    for name in args.names or [settings.base_model]:
        path = ensure_model(name, settings.models_dir)
        print(f"{name}: {path}")
    return 0


def _config(args: argparse.Namespace) -> int:
    from melancia.config_doc import markdown, sync_readme

    if args.write_readme:
        print("README.md updated" if sync_readme() else "README.md already current")
    else:
        print(markdown())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="melancia", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("broker", help="run the embedded Kafka-protocol broker (Tansu)")
    p.add_argument("--port", type=int, default=9092)
    p.set_defaults(func=_broker, service="broker")

    p = sub.add_parser("up", help="run broker (if no Kafka is configured), gateway and workers")
    p.add_argument("--port", type=int, default=None, help="gateway port (MELANCIA_PORT)")
    p.add_argument("--workers", default=None, help="comma-separated workers (default: all)")
    p.add_argument("--replicas", type=int, default=1, help="inference worker processes")
    p.add_argument("--broker-port", type=int, default=9092, help="embedded broker port")
    p.set_defaults(func=_up, service="up")

    p = sub.add_parser("gateway", help="run the HTTP gateway alone")
    p.set_defaults(func=_gateway, service="gateway")

    p = sub.add_parser("worker", help="run one worker alone")
    p.add_argument("name", choices=worker_names())
    p.set_defaults(func=_worker, service="worker")

    p = sub.add_parser("config", help="print every environment variable with its default")
    p.add_argument("--write-readme", action="store_true", help="refresh README's table")
    p.set_defaults(func=_config, service="cli")

    schemas = sub.add_parser("schemas", help="the event contract").add_subparsers(
        dest="action", required=True
    )
    p = schemas.add_parser("export", help="write JSON Schema of every event and the AsyncAPI doc")
    p.add_argument("--out", default="schemas/generated")
    p.set_defaults(func=_schemas_export, service="cli")

    models = sub.add_parser("models", help="model weights").add_subparsers(
        dest="action", required=True
    )
    p = models.add_parser("prepare", help="convert and cache model weights once")
    p.add_argument("names", nargs="*", help="model names (default: MELANCIA_BASE_MODEL)")
    p.set_defaults(func=_models_prepare, service="cli")

    for module in cli_modules():
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    service = getattr(args, "service", "cli")
    if args.command == "worker":
        service = f"{args.name}-{os.environ.get('MELANCIA_WORKER_INDEX', '0')}"
    configure(service)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
