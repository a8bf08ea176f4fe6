"""Container health probe: exit 0 when the process's HTTP endpoint answers 200.

`python deploy/healthcheck.py [URL]`. Without a URL the probe reads what PID 1 runs
(`tini -- melancia gateway`, `... worker inference`) and picks the endpoint: the gateway's
`/health` (200 only with a reachable broker and a live inference worker), the analytics
sink's `/health`, or any other worker's `/metrics` on `MELANCIA_METRICS_PORT`.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path


def default_url(cmdline: list[str], env: dict[str, str]) -> str | None:
    """The endpoint that tells whether this container's process is healthy."""
    args = cmdline[cmdline.index("melancia") + 1 :] if "melancia" in cmdline else []
    if args[:1] == ["gateway"]:
        return f"http://127.0.0.1:{env.get('MELANCIA_PORT', '8000')}/health"
    if args[:2] == ["worker", "analytics"]:
        return f"http://127.0.0.1:{env.get('MELANCIA_ANALYTICS_PORT', '8010')}/health"
    if args[:1] == ["worker"]:
        return f"http://127.0.0.1:{env.get('MELANCIA_METRICS_PORT', '9100')}/metrics"
    return None  # a one-shot command (models prepare, replay): nothing to probe


def probe(url: str, timeout_s: float = 4.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        url: str | None = argv[1]
    else:
        raw = Path("/proc/1/cmdline").read_bytes().split(b"\0")
        cmdline = [os.path.basename(a.decode()) for a in raw if a]
        url = default_url(cmdline, dict(os.environ))
    if url is None:
        return 0
    ok = probe(url)
    if not ok:
        sys.stderr.write(f"unhealthy: {url}\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
