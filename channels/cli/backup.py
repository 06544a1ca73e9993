"""`creneau backup FILE` and `creneau restore FILE`: the SQLite deployment's backups.

A backup is taken online, while the service runs, and holds the values encrypted as stored;
the keys are never in it, so keep them (the platform's config) apart from the backups and
restore with the same keys. PostgreSQL deployments use pg_dump / pg_restore (README).
Both commands are audited in the operator's name.
"""

from __future__ import annotations

from pathlib import Path

import click

from channels.cli._common import Refused, operator_option, record, runtime
from store.backup import BackupError, Summary
from store.backup import backup as take_backup
from store.backup import restore as run_restore

FILE = click.Path(dir_okay=False, path_type=Path)


def _counts(summary: Summary) -> str:
    return f"{summary.rows} row(s) in {len(summary.tables)} table(s), revision {summary.revision}"


@click.command()
@click.argument("file", type=FILE)
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@operator_option
def backup(file: Path, force: bool) -> None:
    """Write a consistent copy of the SQLite database to FILE while the service runs
    (encrypted values as stored; the keys are not in it)."""
    rt = runtime()
    try:
        summary = take_backup(rt.db, file, overwrite=force)
    except BackupError as exc:
        raise Refused([str(exc)]) from None
    record(rt, "backup", None, f"rows={summary.rows} revision={summary.revision}")
    click.echo(f"backup written to {file} (mode 600): {_counts(summary)}")
    click.echo("Restore it with the same CRENEAU_DATA_KEYS and CRENEAU_INDEX_KEY.")


@click.command()
@click.argument("file", type=FILE)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@operator_option
def restore(file: Path, yes: bool) -> None:
    """Replace the SQLite database's content with the backup in FILE (stop the service
    first; the keys must be those the backup was written with)."""
    rt = runtime()
    if not yes:
        click.confirm(
            f"Replace every row of {rt.db.url.database} with the backup {file}? "
            "Stop the service first",
            abort=True,
        )
    try:
        summary = run_restore(rt.db, file, rt.vault)
    except BackupError as exc:
        raise Refused([str(exc)]) from None
    rt.db.dispose()  # connections opened before the restore
    record(rt, "restore", None, f"rows={summary.rows} revision={summary.revision}")
    click.echo(f"restored from {file}: {_counts(summary)}")
    click.echo("Then run `creneau db upgrade` and `creneau doctor` before starting the service.")
