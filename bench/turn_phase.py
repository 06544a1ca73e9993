"""One measured phase of the turn-cost benchmark: Créneau's turns next to the floor measured
just before and just after them (the ratio is against the mean of the two: on a shared
machine the floor itself moves from one run to the next), with what the phase was checked
to have done.

Requests are split round-robin over the wrk threads (`wrk.split`); after a run, wrk says
how far each thread went. Every request it wrote reaches the server, which handles it
even if wrk closed the connection first (sync workers read whole requests), so once the
server has drained, the database holds between the answers wrk read and the requests it
made (the last one of a connection may be made and never written).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

from bench import targets, wrk
from bench.sms_webhook import PATH

NOT_EXPECTED = "  <-- NOT as expected"
THREADS = 2  # wrk threads; requests of one patient stay in one thread's share
DRAIN_SECONDS = 1.0  # the server finishes what wrk sent before it stopped


@dataclass
class Phase:
    """Créneau's turns of one kind, against the floor of the same run (before and after)."""

    name: str
    turns: wrk.Result
    floor: wrk.Result  # measured right before the turns
    floor_after: wrk.Result  # and right after them
    ratio_target: float
    checks: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def floor_rate(self) -> float:
        """The floor's rate: the mean of the runs before and after Créneau's."""
        return (self.floor.rate + self.floor_after.rate) / 2

    @property
    def ratio(self) -> float:
        return self.turns.rate / self.floor_rate if self.floor_rate else 0.0

    def lines(self) -> list[str]:
        """The phase as printed: the runs, the ratio and p99 against their targets."""
        return [
            "  " + self.floor.line("floor before (durable write)"),
            "  " + self.turns.line(f"Créneau {self.name}"),
            "  " + self.floor_after.line("floor, after"),
            f"      ratio {targets.at_least(self.ratio, self.ratio_target)} of the floor's "
            f"mean {self.floor_rate:.1f} req/s, "
            f"p99 {targets.at_most(self.turns.p99_ms, targets.P99_MS, unit=' ms')}",
            *(f"      {line}" for line in self.extra),
            *(f"      check: {line}" for line in self.checks),
        ]


def load(
    port: int,
    requests: Sequence[tuple[str, str]],
    args: argparse.Namespace,
    seconds: int,
    markers: Sequence[str] = (),
) -> wrk.Result:
    """One wrk run of `requests` (split round-robin over the threads), then the drain."""
    return load_shares(port, wrk.split(requests, THREADS), args, seconds, markers)


def load_shares(
    port: int,
    shares: Sequence[Sequence[tuple[str, str]]],
    args: argparse.Namespace,
    seconds: int,
    markers: Sequence[str] = (),
) -> wrk.Result:
    """One wrk run, a share per thread, then the server's drain."""
    result = wrk.run(port, PATH, shares, args.connections, seconds, markers)
    time.sleep(DRAIN_SECONDS)
    return result


class Sent(Enum):
    """Whether wrk sent a request of its list."""

    YES = "yes"
    NO = "no"
    MAYBE = "maybe"  # among the last a thread made: it may have stopped before writing it


def sent(result: wrk.Result, count: int, connections: int) -> list[Sent]:
    """For each of `count` requests given to `load`, whether wrk sent it.

    wrk may stop between making a connection's next request and writing it, so the last
    few requests each thread made (one per connection at most) are uncertain."""
    shares = sent_in_shares(
        result, [len(range(n, count, THREADS)) for n in range(THREADS)], connections
    )
    return [shares[j % THREADS][j // THREADS] for j in range(count)]


def sent_in_shares(
    result: wrk.Result, lengths: Sequence[int], connections: int
) -> list[list[Sent]]:
    """For each request of each share given to `load_shares`, whether wrk sent it."""
    per_thread = -(-connections // THREADS)
    out = []
    for made, length in zip(result.sent, lengths, strict=True):
        out.append(
            [
                Sent.NO if i >= made else Sent.YES if i < made - per_thread else Sent.MAYBE
                for i in range(length)
            ]
        )
    return out


def within(count: int, result: wrk.Result, *more: wrk.Result) -> bool:
    """Whether `count` rows can be what the runs did: at least the answers wrk read, at
    most the requests it made."""
    runs = (result, *more)
    return sum(r.requests for r in runs) <= count <= sum(sum(r.sent) for r in runs)


def size(rate: float, seconds: float, headroom: float) -> int:
    """Requests enough for `seconds` at `headroom` times `rate`, in whole thread shares."""
    n = math.ceil(headroom * max(rate, 1.0) * seconds) + 50
    return n + (-n) % THREADS


def answered(result: wrk.Result, marker: str, what: str) -> str:
    """'N of N answers held <what>' for a marker counted by wrk."""
    n = result.found.get(marker, 0)
    ok = n == result.requests and result.errors == 0
    shown = f"{n} of {result.requests} answers {what}, {result.errors} errors"
    return shown + ("" if ok else NOT_EXPECTED)
