"""The `creneau` command line."""

from __future__ import annotations

import sys

import click

from bot.practice_file import PracticeError, load_practice
from channels.runtime import Runtime, configure_logging
from channels.settings import Settings, SettingsError
from store.crypto import generate_key


def _runtime() -> Runtime:
    try:
        runtime = Runtime(Settings.from_env())
        runtime.practice  # noqa: B018  (validate the practice file at start)
    except SettingsError as exc:
        raise click.ClickException(f"configuration: {exc}") from exc
    except PracticeError as exc:
        raise click.ClickException(f"practice file {exc.source}:\n{exc}") from exc
    return runtime


@click.group()
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
    run_chat(_runtime().assistant, ident, lang)


@main.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
def check(file: str | None) -> None:
    """Validate the practice file; every error names the field and the fix."""
    path = file or str(Settings.from_env().practice_file)
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


@main.group()
def keys() -> None:
    """Encryption keys."""


@keys.command("generate")
def keys_generate() -> None:
    """Print new keys in the settings format (keep them secret, never commit them)."""
    from datetime import UTC, datetime

    kid = "k" + datetime.now(UTC).strftime("%Y%m%d%H%M")
    click.echo(f"CRENEAU_DATA_KEYS={kid}:{generate_key()}")
    click.echo(f"CRENEAU_INDEX_KEY={generate_key()}")


@main.command()
@click.option("--port", type=int, default=None, help="Web port (default: $PORT or 8000).")
def serve(port: int | None) -> None:
    """Everything in one process for one machine: web, outbound sender, scheduler."""
    from channels.serve import serve as run

    configure_logging()
    run(_runtime(), port)


@main.command()
@click.option("--port", type=int, default=None)
def web(port: int | None) -> None:
    """The web process alone (the Procfile runs gunicorn on the factory instead)."""
    from channels.serve import serve as run

    configure_logging()
    run(_runtime(), port, background=False)


from channels.cli_practitioner import COMMANDS as _PRACTITIONER_COMMANDS  # noqa: E402

for _command in _PRACTITIONER_COMMANDS:
    main.add_command(_command)

from channels.cli_data import attach as _attach_data_commands  # noqa: E402

_attach_data_commands(main)

from channels.cli_telegram import telegram as _telegram  # noqa: E402
from channels.cli_telegram import worker as _worker  # noqa: E402

main.add_command(_telegram)
main.add_command(_worker)

from channels.cli_db import db as _db  # noqa: E402

main.add_command(_db)
