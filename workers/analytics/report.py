"""Plain-text rendering of the query-log statistics for `melancia stats`."""

from __future__ import annotations

from schemas.stats import GroupStats, Percentiles, StatsResponse

HEADER = (
    f"{'':<22}{'queries':>8}{'errors':>7}{'cached':>7}{'tokens':>9}"
    f"{'lat p50/p95/p99 ms':>22}{'ttft p50/p95/p99 ms':>22}{'cost':>10}{'cost/q':>10}"
)


def _ms(p: Percentiles) -> str:
    values = (p.p50, p.p95, p.p99)
    return "/".join("-" if v is None else f"{v:.0f}" for v in values)


def _row(label: str, g: GroupStats) -> str:
    tokens = g.prompt_tokens + g.completion_tokens
    return (
        f"{label[:22]:<22}{g.queries:>8}{g.errors:>7}{g.cache_hits:>7}{tokens:>9}"
        f"{_ms(g.latency_ms):>22}{_ms(g.ttft_ms):>22}{g.cost:>10.4f}{g.cost_per_query:>10.6f}"
    )


def render(stats: StatsResponse) -> str:
    """The same figures as `GET /api/v1/stats`, as tables."""
    lines = [
        f"query log {stats.since:%Y-%m-%d %H:%M} .. {stats.until:%Y-%m-%d %H:%M} UTC",
        "",
        HEADER,
        _row("all", stats.total),
    ]
    for title, groups in (
        ("model", stats.by_model),
        ("variant", stats.by_variant),
        ("tier", stats.by_tier),
    ):
        lines += [f"-- by {title}"] + [_row(g.key, g) for g in groups]
    lines += ["", f"{'hour (UTC)':<18}{'queries':>8}{'errors':>7}{'tokens':>9}"]
    lines += [
        f"{h.hour:%Y-%m-%d %H:00}  {h.queries:>8}{h.errors:>7}{h.tokens:>9}" for h in stats.per_hour
    ]
    fb = stats.feedback
    lines += ["", f"feedback: {fb.get('up', 0)} up, {fb.get('down', 0)} down"]
    prices = ", ".join(f"{m}={p}" for m, p in stats.prices_per_1k_tokens.items())
    lines.append(f"prices per 1k tokens: {prices}")
    return "\n".join(lines)
