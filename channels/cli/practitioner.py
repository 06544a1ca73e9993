"""`creneau agenda`, `summary`, `clock` and `practitioner link|unlink`.

Attached to the main group in channels/cli/__init__.py. The runtime is read from the environment
when a command runs, never at import time. Reading an agenda is an audited access.
"""

from __future__ import annotations

import sys
from datetime import date, datetime

import click

from bot.practice import Practitioner
from channels.cli._common import actor, operator_option, service_runtime, until_signal
from channels.cli._common import runtime as cli_runtime
from channels.runtime import Runtime, configure_logging
from store import audit
from store.agenda import agenda_text, audit_unreadable, day_agenda
from store.models import utcnow
from store.scheduler import queue_summary


def _practitioners(runtime: Runtime, pid: str | None) -> list[Practitioner]:
    """The named practitioner, or all of them."""
    practice = runtime.practice
    if pid is None:
        return list(practice.practitioners)
    try:
        return [practice.practitioner(pid)]
    except KeyError:
        known = ", ".join(p.id for p in practice.practitioners)
        raise click.BadParameter(f"unknown practitioner {pid!r} (known: {known})") from None


def _day(runtime: Runtime, value: str | None, now: datetime) -> date:
    """--date as YYYY-MM-DD (or 'demain', '7/12'...); default today in the practice zone."""
    from channels.practitioner_bot import parse_day

    today = now.astimezone(runtime.practice.tz).date()
    day = parse_day(value or "", runtime.practice.locale, today)
    if day is None:
        raise click.BadParameter(f"cannot read the date {value!r}: use YYYY-MM-DD")
    return day


DATE_OPTION = click.option("--date", "day_text", default=None, help="Day (YYYY-MM-DD); today.")
PRACTITIONER_OPTION = click.option(
    "--practitioner", "pid", default=None, help="Practitioner id (default: all)."
)


@click.command()
@DATE_OPTION
@PRACTITIONER_OPTION
@operator_option
def agenda(day_text: str | None, pid: str | None) -> None:
    """Print a day's agenda at full detail (an audited access)."""
    runtime = cli_runtime()
    now = utcnow()
    day = _day(runtime, day_text, now)
    practice = runtime.practice
    bad = 0
    with runtime.db.write() as session:
        for practitioner in _practitioners(runtime, pid):
            entries = day_agenda(session, runtime.vault, practice, practitioner.id, day)
            who = actor(runtime)
            detail = f"day={day.isoformat()} entries={len(entries)}"
            audit.record(session, practice.id, who, "agenda_access", practitioner.id, detail)
            bad += audit_unreadable(session, practice.id, who, entries)
            text = agenda_text(
                runtime.catalogs, practice, practitioner, day, entries, practice.locale
            )
            click.echo(text + "\n")
    if bad:
        click.echo(f"warning: {bad} unreadable cell(s), shown as such (audited)", err=True)
        sys.exit(3)


@click.command()
@DATE_OPTION
@PRACTITIONER_OPTION
@operator_option
def summary(day_text: str | None, pid: str | None) -> None:
    """Queue the daily summary now (whatever was already sent today)."""
    runtime = cli_runtime()
    now = utcnow()
    day = _day(runtime, day_text, now) if day_text else None
    with runtime.db.write() as session:
        for practitioner in _practitioners(runtime, pid):
            queued = queue_summary(
                session, runtime.vault, runtime.catalogs, runtime.practice, practitioner, now, day,
                base_url=runtime.settings.public_base_url, actor=actor(runtime),
            )  # fmt: skip
            state = "queued" if queued else "not queued: no Telegram link nor summary_phone"
            click.echo(f"{practitioner.id}: summary {state}")


@click.command()
def clock() -> None:
    """Run the scheduler (summaries, reminders, daily purge) until SIGTERM."""
    from channels.clock import run_clock

    configure_logging()
    runtime = service_runtime(no_channels=True)  # the clock purges even without a channel
    with until_signal() as stop:
        run_clock(runtime, stop)


@click.group()
def practitioner() -> None:
    """Link or unlink a practitioner's Telegram chat."""


@practitioner.command("link")
@click.argument("practitioner_id")
@click.option(
    "--bot-username",
    envvar="TELEGRAM_BOT_USERNAME",
    default="",
    help="The bot's @username, for a t.me deep link ($TELEGRAM_BOT_USERNAME).",
)
@operator_option
def link(practitioner_id: str, bot_username: str) -> None:
    """Print a one-time code (24 h, single use) to send to the bot from the practitioner's chat."""
    from store.practitioners import CODE_TTL, create_link_code

    runtime = cli_runtime()
    _practitioners(runtime, practitioner_id)
    now = utcnow()
    with runtime.db.write() as session:
        code = create_link_code(session, runtime.practice, practitioner_id, now)
        audit.record(
            session, runtime.practice.id, actor(runtime), "link_code_created", practitioner_id
        )
    hours = int(CODE_TTL.total_seconds() // 3600)
    click.echo(f"One-time code for {practitioner_id}, valid {hours} h, single use.")
    username = bot_username.lstrip("@")
    if username:
        click.echo(f"Open on the practitioner's phone: https://t.me/{username}?start={code}")
    click.echo(f"Or send this to the bot: /start {code}")


@practitioner.command("unlink")
@click.argument("practitioner_id")
@operator_option
def unlink_command(practitioner_id: str) -> None:
    """Forget the practitioner's Telegram chat (and any pending code)."""
    from store.practitioners import unlink

    runtime = cli_runtime()
    _practitioners(runtime, practitioner_id)
    with runtime.db.write() as session:
        done = unlink(session, runtime.practice, practitioner_id)
        audit.record(
            session, runtime.practice.id, actor(runtime), "practitioner_unlink", practitioner_id
        )
    click.echo(f"{practitioner_id}: {'unlinked' if done else 'was not linked'}")


COMMANDS = (agenda, summary, clock, practitioner)
