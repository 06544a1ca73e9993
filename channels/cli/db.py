"""`creneau db`: schema migrations (the Procfile's release step runs `creneau db upgrade`)."""

from __future__ import annotations

import click
from sqlalchemy.engine import make_url

from channels.cli._common import settings


def _url() -> str:
    """The configured DATABASE_URL (the same settings as every other process)."""
    return settings().database_url


def _shown(url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


@click.group()
def db() -> None:
    """Database schema: migrations (PostgreSQL in production; SQLite works too)."""


@db.command()
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def upgrade(revision: str) -> None:
    """Apply the migrations up to the newest (safe to run at every release)."""
    from store.migrations import MigrationError
    from store.migrations import upgrade as run_upgrade

    url = _url()
    try:
        rev = run_upgrade(url, revision)
    except MigrationError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{_shown(url)}: at revision {rev}")


@db.command()
def current() -> None:
    """Print the database's revision and whether it is the newest."""
    from store.migrations import current as revision_of
    from store.migrations import head

    url, newest = _url(), head()
    rev = revision_of(url)
    state = "up to date" if rev == newest else f"behind: run `creneau db upgrade` (head {newest})"
    click.echo(f"{_shown(url)}: {rev or 'not migrated'} ({state})")
