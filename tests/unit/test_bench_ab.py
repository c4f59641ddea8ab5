"""The A/B comparison of ``python -m bench ab`` (docs/benchmark.md): medians over rounds, so one
slow round on a drifting machine does not decide the result."""

from __future__ import annotations

from bench import load
from bench.ab import Comparison


def _result(per_second: float, latency_ms: float) -> load.Result:
    result = load.Result("baseline", "baseline", 8)
    result.seconds = 10.0
    result.latencies_ms = [latency_ms] * int(per_second * 10)
    result.requests = len(result.latencies_ms)
    return result


def test_medians_over_rounds_decide_and_the_table_shows_the_change() -> None:
    comparison = Comparison(rounds=3)
    for rate in (100.0, 300.0, 110.0):  # one round on a fast moment of the machine
        comparison.add("baseline", "A", _result(rate, 40.0))
    for rate in (120.0, 90.0, 121.0):  # one slow round
        comparison.add("baseline", "B", _result(rate, 30.0))
    table = comparison.table()
    row = next(line for line in table.splitlines() if line.startswith("| baseline"))
    assert row == "| baseline | 110.0 | 120.0 | +9 % | 40 | 30 | -25 % |"
