"""The `creneau` command line: the main group and the commands that run the service.

Other commands live in this package's modules (data, practitioner, telegram, db), each
attached here; what they share (runtime, operator, signals) is in `_common`.
"""

from __future__ import annotations

import sys

import click

from bot.practice import Practice
from bot.practice_file import PracticeError, load_practice
from channels.cli import backup, data, db, desk, doctor, practitioner, telegram
from channels.cli._common import (
    Group,
    group_operator_option,
    no_channels_option,
    runtime,
    service_runtime,
    settings,
)
from channels.runtime import configure_logging
from store.crypto import generate_key


@click.group(cls=Group)
@group_operator_option
def main() -> None:
    """Créneau: book, move and cancel appointments by SMS or Telegram."""


@main.command()
@click.option(
    "--as",
    "ident",
    default="console-user",
    show_default=True,
    help="Who you are (a patient id for this terminal).",
)
@click.option(
    "--lang",
    type=click.Choice(["fr", "en"]),
    default=None,
    help="Language of a new patient (default: the practice's).",
)
def chat(ident: str, lang: str | None) -> None:
    """Talk to the bot as a patient, on the same engine and store."""
    from channels.console import chat as run_chat

    configure_logging(level=40)
    run_chat(runtime().assistant, ident, lang)


@main.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
def check(file: str | None) -> None:
    """Validate the practice file; every error names the field and the fix."""
    path = file or str(settings().practice_file)
    try:
        practice = load_practice(path)
    except PracticeError as exc:
        click.echo(f"{path}: {len(exc.problems)} problem(s):", err=True)
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(
        f"{path}: OK ({practice.name}: {len(practice.practitioners)} practitioner(s), "
        f"{len(practice.consultation_types)} consultation type(s))"
    )
    _warn_first_sms(path, practice)


FIRST_SMS_BUDGET = 2


def _warn_first_sms(path: str, practice: Practice) -> None:
    """A warning (not an error) when a newcomer's first SMS outgrows two segments."""
    from bot.i18n import Catalogs
    from channels.sms import first_reply_segments

    for lang, count in first_reply_segments(practice, Catalogs()).items():
        if count > FIRST_SMS_BUDGET:
            click.echo(
                f"{path}: warning: a newcomer's first SMS (privacy notice and menu) takes "
                f"{count} segments in {lang}, the budget is {FIRST_SMS_BUDGET}: shorten "
                f"[practice] name ({len(practice.name)} characters), contact or "
                "privacy_notice_url",
                err=True,
            )


@main.group()
def keys() -> None:
    """Encryption keys."""


@keys.command("generate")
def keys_generate() -> None:
    """Print new keys and a desk secret in the settings format (keep them secret, never
    commit them)."""
    from datetime import UTC, datetime

    kid = "k" + datetime.now(UTC).strftime("%Y%m%d%H%M")
    click.echo(f"CRENEAU_DATA_KEYS={kid}:{generate_key()}")
    click.echo(f"CRENEAU_INDEX_KEY={generate_key()}")
    click.echo(f"CRENEAU_SECRET_KEY={generate_key()}")


@main.command()
@click.option("--port", type=int, default=None, help="Web port (default: $PORT or 8000).")
@no_channels_option
def serve(port: int | None, no_channels: bool) -> None:
    """Everything in one process for one machine: web, outbound sender, scheduler."""
    from channels.serve import serve as run

    configure_logging()
    run(service_runtime(no_channels=no_channels), port)


@main.command()
@click.option("--port", type=int, default=None)
@no_channels_option
def web(port: int | None, no_channels: bool) -> None:
    """The web process alone (the Procfile runs gunicorn on the factory instead)."""
    from channels.serve import serve as run

    configure_logging()
    run(service_runtime(no_channels=no_channels), port, background=False)


for _command in practitioner.COMMANDS:
    main.add_command(_command)
data.attach(main)
main.add_command(telegram.telegram)
main.add_command(telegram.worker)
main.add_command(db.db)
main.add_command(desk.desk)
main.add_command(doctor.doctor)
main.add_command(backup.backup)
main.add_command(backup.restore)
