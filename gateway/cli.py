"""`melancia chat`: ask a running gateway from the terminal; answers stream as they come."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from typing import Any, TextIO

DEFAULT_URL = "http://127.0.0.1:8000"
HISTORY_MESSAGES = 6


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event, data) pairs from SSE lines; comments (keep-alive pings) are skipped."""
    event, data = "message", list[str]()
    for line in lines:
        if line == "":
            if data:
                yield event, json.loads("\n".join(data))
            event, data = "message", list[str]()
        elif not line.startswith(":"):
            key, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if key == "event":
                event = value
            elif key == "data":
                data.append(value)


def ask(
    client: Any, question: str, history: list[dict[str, str]], args: argparse.Namespace, out: TextIO
) -> str | None:
    """Stream one answer to `out`; returns the answer, or None when the gateway refused."""
    body = {
        "question": question,
        "history": history[-HISTORY_MESSAGES:],
        "max_new_tokens": args.max_new_tokens,
        "temperature": args.temperature,
    }
    if args.model:
        body["model"] = args.model
    answer: list[str] = []
    sources: list[dict[str, Any]] = []
    with client.stream("POST", "/api/v1/query/stream", json=body) as response:
        if response.status_code != 200:
            response.read()
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            out.write(f"erro {response.status_code}: {detail}\n")
            return None
        for event, data in sse_events(response.iter_lines()):
            if event == "sources":
                sources = data["sources"]
            elif event == "token":
                answer.append(data["text"])
                out.write(data["text"])
                out.flush()
            elif event == "done":
                out.write("\n")
                for i, source in enumerate(sources, start=1):
                    out.write(
                        f"  [{i}] {source['title']} ({source['article_id']}, {source['score']:.2f})\n"
                    )
                usage = data["usage"]
                cached = ", do cache" if data.get("cached") else ""
                out.write(
                    f"  — {data['model']} ({data['variant']}), {usage['latency_ms'] / 1000:.1f} s, "
                    f"{usage['completion_tokens']} tokens{cached}\n"
                )
            elif event == "error":
                out.write(f"\nerro: {data['error']}\n")
                return None
    return "".join(answer)


def _chat(args: argparse.Namespace) -> int:
    import httpx

    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    history: list[dict[str, str]] = []
    out = sys.stdout
    with httpx.Client(
        base_url=args.url, headers=headers, timeout=httpx.Timeout(30, read=300)
    ) as client:
        questions = [" ".join(args.question)] if args.question else None
        if questions is None:
            out.write("MelancIA — pergunte sobre Retail Media (Ctrl-D ou 'sair' encerra).\n")
        while True:
            if questions is not None:
                if not questions:
                    return 0
                question = questions.pop()
            else:
                try:
                    question = input("\nvocê> ").strip()
                except (EOFError, KeyboardInterrupt):
                    out.write("\n")
                    return 0
                if question.lower() in {"sair", "exit", "quit"}:
                    return 0
                if not question:
                    continue
            try:
                answer = ask(client, question, history, args, out)
            except httpx.HTTPError as exc:
                out.write(f"erro: gateway {args.url} inacessível ({exc})\n")
                if questions is not None:
                    return 1
                continue
            except KeyboardInterrupt:
                out.write("\n(interrompida)\n")  # closing the stream cancels the generation
                continue
            if answer is None and questions is not None:
                return 1
            if answer:
                history += [
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": answer},
                ]


def register(subparsers: Any) -> None:
    """Add `melancia chat`."""
    p = subparsers.add_parser("chat", help="chat with a running gateway in the terminal")
    p.add_argument("question", nargs="*", help="ask once and exit (default: interactive)")
    p.add_argument("--url", default=DEFAULT_URL, help=f"gateway address (default {DEFAULT_URL})")
    p.add_argument("--model", default=None, help="model or variant to ask (default: any)")
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument(
        "--api-key",
        default=os.environ.get("MELANCIA_API_KEY"),
        help="API key or token when the gateway requires one (env MELANCIA_API_KEY)",
    )
    p.set_defaults(func=_chat, service="cli")
