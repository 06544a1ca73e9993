"""A web process settles before it serves: what every turn uses is built once, then kept
out of the garbage collector's walks."""

from __future__ import annotations

import gc

from channels.runtime import GC_THRESHOLDS, settle


def test_settle_builds_the_turn_and_freezes_it(runtime) -> None:
    thresholds = gc.get_threshold()
    try:
        settle(runtime)
        assert "assistant" in runtime.__dict__ and "catalogs" in runtime.__dict__
        assert gc.get_freeze_count() > 10_000  # the store, the engine, locale data...
        assert gc.get_threshold() == GC_THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
