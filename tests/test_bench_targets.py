"""How `make bench` prints a figure next to its target: never rounded onto the target."""

from __future__ import annotations

from bench.targets import at_least, at_most


def test_a_ratio_just_short_of_its_target_does_not_print_as_the_target() -> None:
    assert at_least(0.5999, 0.6) == "0.5999 (target >= 0.6: not met)"
    assert at_least(0.597, 0.6) == "0.597 (target >= 0.6: not met)"


def test_a_ratio_clear_of_its_target_keeps_two_decimals() -> None:
    assert at_least(0.6104, 0.6) == "0.61 (target >= 0.6: met)"
    assert at_least(0.6, 0.6) == "0.60 (target >= 0.6: met)"
    assert at_least(0.31, 0.6) == "0.31 (target >= 0.6: not met)"


def test_a_latency_just_over_its_target_shows_by_how_much() -> None:
    assert at_most(50.04, 50, unit=" ms") == "50.040 ms (target <= 50 ms: not met)"
    assert at_most(46.0, 50, unit=" ms") == "46.0 ms (target <= 50 ms: met)"
