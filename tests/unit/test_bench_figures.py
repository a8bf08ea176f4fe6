"""The streaming benchmark's figures (the benchmark itself runs with `make bench`)."""

from __future__ import annotations

from bench.streaming_bench import overhead_interval, pct


def test_a_constant_overhead_has_an_interval_of_exactly_that_constant() -> None:
    local = [300.0 + 7 * i % 53 for i in range(40)]
    bus = [x + 12.0 for x in local]
    assert overhead_interval(bus, local, 50) == (12.0, 12.0)
    assert overhead_interval(bus, local, 95) == (12.0, 12.0)


def test_the_interval_holds_the_measured_overhead_and_widens_with_noise() -> None:
    local = [300.0 + (37 * i) % 101 for i in range(50)]
    quiet = [x + 10.0 + (i % 3) for i, x in enumerate(local)]
    noisy = [x + 10.0 + 40.0 * ((i * 7) % 5 - 2) for i, x in enumerate(local)]
    for bus in (quiet, noisy):
        lo, hi = overhead_interval(bus, local, 50)
        assert lo <= pct(bus, 50) - pct(local, 50) <= hi
    width = [hi - lo for lo, hi in (overhead_interval(b, local, 50) for b in (quiet, noisy))]
    assert width[0] < width[1]
