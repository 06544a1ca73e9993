"""Drive a server with wrk from a list of pre-signed requests, and read what wrk measured.

wrk generates load in C (Python client threads saturate before a fast server does). Each
wrk thread sends its own share of the list, in order, each request once; a thread stops
when its share is done, and a run whose share ran out is refused (it measured less load
than asked). Requests of one conversation are spread so that a patient's next message is
only sent long after the previous one was answered. wrk also reports how far each
thread went (which requests were sent) and how many answers held each given marker (what
the server said, checked without slowing wrk down much).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from twilio.request_validator import RequestValidator

LUA = r"""
local threads = {}
local counter = 0

setup = function(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local requests = {}
-- globals, read back from each thread in done(): how far its share went, and how many
-- answers held each marker (plain substrings, given as "a|b|c")
sent = 0
exhausted = 0
verified = false
markers = {}
found = {}

init = function(args)
  local f = assert(io.open(args[1] .. "." .. id, "r"))
  for line in f:lines() do
    local body, sig = line:match("^(.-)\t(.*)$")
    requests[#requests + 1] = wrk.format("POST", args[2], {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["X-Twilio-Signature"] = sig,
    }, body)
  end
  f:close()
  for marker in string.gmatch(args[3] or "", "[^|]+") do
    markers[#markers + 1] = marker
    found[#found + 1] = 0
  end
end

request = function()
  if id == 0 and not verified then
    -- wrk calls request() once on the first thread to check the script before the run
    -- starts: answer without counting it, so the first request is really sent
    verified = true
    return requests[1]
  end
  if sent >= #requests then
    exhausted = 1
    wrk.thread:stop()
    return requests[#requests]
  end
  sent = sent + 1
  return requests[sent]
end

response = function(status, headers, body)
  if status == 200 then
    for k = 1, #markers do
      if string.find(body, markers[k], 1, true) then
        found[k] = found[k] + 1
      end
    end
  end
end

done = function(summary, latency, requests)
  local progress, matched, ran_out = {}, {}, 0
  for n, thread in ipairs(threads) do
    progress[n] = tostring(thread:get("sent"))
    ran_out = ran_out + thread:get("exhausted")
    local counts = thread:get("found")
    for k = 1, #counts do
      matched[k] = (matched[k] or 0) + counts[k]
    end
  end
  for k = 1, #matched do
    matched[k] = tostring(matched[k])
  end
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d non2xx=%d socket_errors=%d "
      .. "sent=%s found=%s exhausted=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.status, summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout,
    table.concat(progress, ","), table.concat(matched, ","), ran_out))
end
"""
RESULT = re.compile(r"RESULT (.*)")


@dataclass(frozen=True)
class Result:
    """What wrk measured for one run."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    sent: tuple[int, ...] = ()  # how many requests of each share were sent, in order
    found: dict[str, int] = field(default_factory=dict)  # 200 answers holding each marker

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def line(self, name: str) -> str:
        return (
            f"{name:28s} {self.requests:7d} requests in {self.seconds:5.1f} s: "
            f"{self.rate:8.1f} req/s, p50 {self.p50_ms:6.1f} ms, p99 {self.p99_ms:6.1f} ms, "
            f"{self.errors} errors"
        )


class RanOut(SystemExit):
    """A share was used up before the end: the run measured less load than asked."""


def require_wrk() -> str:
    """The wrk executable, or a clear exit saying how to get it."""
    exe = shutil.which("wrk")
    if exe is None:
        raise SystemExit("wrk is needed for this benchmark: apt-get install wrk (as root)")
    return exe


def signed(validator: RequestValidator, url: str, form: dict[str, str]) -> tuple[str, str]:
    """(urlencoded body, X-Twilio-Signature) of one webhook request."""
    return urllib.parse.urlencode(form), validator.compute_signature(url, form)


def run(
    port: int,
    path: str,
    shares: Sequence[Sequence[tuple[str, str]]],
    connections: int,
    seconds: int = 10,
    markers: Sequence[str] = (),
) -> Result:
    """Send each share from its own wrk thread over `connections` connections in all, for
    `seconds`, counting the 200 answers that hold each of `markers`; RanOut if a share
    was used up before the end."""
    exe = require_wrk()
    if any("|" in m for m in markers):
        raise ValueError("a marker may not hold '|'")
    with tempfile.TemporaryDirectory(prefix="creneau-wrk-") as tmp:
        base = Path(tmp) / "requests"
        for n, share in enumerate(shares):
            lines = (f"{body}\t{signature}\n" for body, signature in share)
            Path(f"{base}.{n}").write_text("".join(lines), encoding="utf-8")
        script = Path(tmp) / "load.lua"
        script.write_text(LUA, encoding="utf-8")
        command = [
            exe,
            "-t",
            str(len(shares)),
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--timeout",
            "30s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
            "--",
            str(base),
            path,
            "|".join(markers),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"wrk failed ({done.returncode}): {done.stderr.strip()[-600:]}")
    return _result(done.stdout, shares, markers)


def _result(
    out: str, shares: Sequence[Sequence[tuple[str, str]]], markers: Sequence[str]
) -> Result:
    """Read the RESULT line the Lua script wrote."""
    line = RESULT.search(out)
    if line is None:
        raise SystemExit(f"wrk printed no result:\n{out}")
    values = dict(item.split("=", 1) for item in line.group(1).split())
    sent = tuple(int(n) for n in values["sent"].split(",") if n)
    if int(values["exhausted"]) or any(n >= len(s) for n, s in zip(sent, shares, strict=True)):
        total = sum(len(s) for s in shares)
        raise RanOut(f"the {total} requests ran out before the end of the run")
    counts = [int(n) for n in values["found"].split(",") if n]
    return Result(
        requests=int(values["requests"]),
        seconds=int(values["duration_us"]) / 1e6,
        p50_ms=int(values["p50_us"]) / 1000,
        p99_ms=int(values["p99_us"]) / 1000,
        errors=int(values["non2xx"]) + int(values["socket_errors"]),
        sent=sent,
        found=dict(zip(markers, counts or [0] * len(markers), strict=True)),
    )


def split(items: Sequence[tuple[str, str]], parts: int) -> list[list[tuple[str, str]]]:
    """Round-robin shares, one per wrk thread, keeping each share in the original order."""
    return [list(items[n::parts]) for n in range(parts)]
