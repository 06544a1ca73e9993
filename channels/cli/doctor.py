"""`creneau doctor`: every check production makes, and those that need the network, one line
each; the exit code is 1 when any fails (the Procfile's release step runs it after
`creneau db upgrade`, so a bad deployment never replaces a good one).

In development the checks only production enforces print as `warn` and do not fail.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import click

from channels import preflight
from channels.cli._common import OPERATOR_KEY, no_channels_option, settings
from channels.runtime import Runtime
from channels.settings import Finding, production_findings
from store.db import SERVICE

Check = Callable[[], list[Finding]]


@click.command()
@no_channels_option
def doctor(no_channels: bool) -> None:
    """Check the deployment: settings, keys, database, migrations, channels, clock."""
    found = settings(enforce=False)
    rt = Runtime(found, timeouts=SERVICE)
    strict = found.production
    failed = 0
    for finding, production_only in _findings(rt, no_channels):
        status = _status(finding, strict or not production_only)
        failed += status == "FAIL"
        text = finding.problem or finding.detail
        click.echo(f"{status:<5} {finding.name}" + (f": {text}" if text else ""))
    rt.db.dispose()
    if failed:
        click.echo(f"{failed} check(s) failed", err=True)
        sys.exit(1)


def _status(finding: Finding, enforced: bool) -> str:
    if finding.ok:
        return "ok"
    return "FAIL" if enforced else "warn"


def _findings(rt: Runtime, no_channels: bool) -> list[tuple[Finding, bool]]:
    """Every check in order, and whether only production enforces it."""
    ctx = click.get_current_context()
    given = ctx.find_root().meta.get(OPERATOR_KEY)
    out: list[tuple[Finding, bool]] = []
    practice = preflight.practice_finding(rt)
    out.append((practice, False))
    out += [(f, True) for f in production_findings(rt.settings, os.environ)]
    if practice.ok:
        out.append((preflight.legal_basis_finding(rt), True))
    out.append((preflight.operator_finding(rt.settings, given), True))
    out.append((preflight.channels_finding(rt.settings, no_channels), True))
    database = preflight.database_finding(rt)
    out.append((database, False))
    if database.ok:
        out += [(f, False) for f in preflight.stored_data_findings(rt)]
        out.append((preflight.migrations_finding(rt), False))
    else:
        for name in ("stored data", "blind index", "migrations"):
            out.append((Finding(name, detail="skipped: no database"), False))
    out.append((preflight.webhook_finding(rt.settings), False))
    out.append((preflight.twilio_finding(rt.settings), False))
    if database.ok and practice.ok:
        out += [(f, False) for f in preflight.clock_findings(rt)]
    return out
