"""Drive a server with wrk from a list of pre-signed requests, and read what wrk measured.

wrk generates load in C (Python client threads saturate before a fast server does). Each
wrk thread sends its own share of the list, in order, each request once; a thread stops
when its share is done. Requests of one conversation are spread so that a patient's next
message is only sent long after the previous one was answered.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
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
local i = 0

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
end

request = function()
  i = i + 1
  if i > #requests then
    wrk.thread:stop()
    i = #requests
  end
  return requests[i]
end

done = function(summary, latency, requests)
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d non2xx=%d socket_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.status, summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout))
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

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def line(self, name: str) -> str:
        return (
            f"{name:28s} {self.requests:7d} requests in {self.seconds:5.1f} s: "
            f"{self.rate:8.1f} req/s, p50 {self.p50_ms:6.1f} ms, p99 {self.p99_ms:6.1f} ms, "
            f"{self.errors} errors"
        )


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
) -> Result:
    """Send each share from its own wrk thread over `connections` connections in all, for
    `seconds`; SystemExit if a share ran out before the end."""
    exe = require_wrk()
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
        ]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    found = RESULT.search(out)
    if found is None:
        raise SystemExit(f"wrk printed no result:\n{out}")
    values = dict(item.split("=") for item in found.group(1).split())
    if int(values["requests"]) >= sum(len(s) for s in shares):
        raise SystemExit(f"the {sum(len(s) for s in shares)} requests ran out: give more")
    return Result(
        requests=int(values["requests"]),
        seconds=int(values["duration_us"]) / 1e6,
        p50_ms=int(values["p50_us"]) / 1000,
        p99_ms=int(values["p99_us"]) / 1000,
        errors=int(values["non2xx"]) + int(values["socket_errors"]),
    )


def split(items: Sequence[tuple[str, str]], parts: int) -> list[list[tuple[str, str]]]:
    """Round-robin shares, one per wrk thread, keeping each share in the original order."""
    return [list(items[n::parts]) for n in range(parts)]
