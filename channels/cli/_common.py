"""What every `creneau` command shares: the runtime, the named operator, the audit, signals,
and errors in one line.

The runtime is built when a command runs, never at import time; a configuration or
practice-file problem, an unreachable database or an undecryptable value ends the command
with one line per problem naming the fix, never a traceback.
"""

from __future__ import annotations

import getpass
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
from sqlalchemy.exc import DBAPIError

from bot.practice_file import PracticeError
from channels.preflight import practice_lines, startup_runtime
from channels.runtime import Runtime
from channels.settings import Settings, SettingsError, shown_url
from store import audit
from store.crypto import CryptoError
from store.db import BATCH

F = TypeVar("F", bound=Callable[..., Any])
OPERATOR_KEY = "creneau_operator"


# ---------------------------------------------------------------- errors in one line


class Refused(click.ClickException):
    """A command stopped by its configuration or its data: one `Error:` line per problem."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines

    def show(self, file: Any = None) -> None:
        for line in self.lines:
            click.echo(f"Error: {line}", err=True)


def as_refusal(exc: BaseException) -> Refused | None:
    """The one-line form of an operator-facing error, or None for anything else (a bug)."""
    if isinstance(exc, SettingsError):
        return configuration_refused(exc)
    if isinstance(exc, PracticeError):
        return Refused(practice_lines(exc))
    if isinstance(exc, CryptoError):
        return Refused(
            [
                f"a stored value cannot be decrypted ({exc}): CRENEAU_DATA_KEYS lacks the key "
                "it was written with; `creneau doctor` checks every column"
            ]
        )
    if isinstance(exc, DBAPIError):
        return Refused([database_line(exc)])
    return None


def configuration_refused(exc: SettingsError) -> Refused:
    return Refused([f"configuration: {line}" for line in str(exc).splitlines()])


def database_line(exc: DBAPIError) -> str:
    """A database error in one line: its type and the driver's first line (which names no
    value), and where to look."""
    original = exc.orig if exc.orig is not None else exc
    first = (str(original).strip().splitlines() or [""])[0][:200]
    ctx = click.get_current_context(silent=True)
    url = ctx.find_root().meta.get(URL_KEY, "") if ctx is not None else ""
    where = f" at {url}" if url else ""
    return (
        f"database{where}: {type(original).__name__}: {first} (check DATABASE_URL, that the "
        "server answers, and `creneau db current`)"
    )


class Group(click.Group):
    """A click group whose commands end with one line per problem on an operator's error
    (configuration, practice file, database, keys) instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            refusal = as_refusal(exc)
            if refusal is None:
                raise
            raise refusal from None


# ---------------------------------------------------------------- settings and runtime

URL_KEY = "creneau_database_url"


def settings(*, enforce: bool = True) -> Settings:
    """The settings from the environment, or one error line per problem naming the fix."""
    try:
        found = Settings.from_env(enforce=enforce)
    except SettingsError as exc:
        raise configuration_refused(exc) from None
    _remember_url(found)
    return found


def runtime() -> Runtime:
    """The runtime of an operator's command (its database waits may be long), its practice
    file validated now."""
    rt = Runtime(settings(), timeouts=BATCH)
    try:
        rt.practice  # noqa: B018  (validate the practice file at start)
    except PracticeError as exc:
        raise Refused(practice_lines(exc)) from None
    return rt


def service_runtime(*, no_channels: bool = False) -> Runtime:
    """The runtime of a service process (serve, web, worker, clock, poll): bounded database
    waits, and in production every start check passed, else one line per problem."""
    try:
        rt = startup_runtime(no_channels=no_channels)
    except SettingsError as exc:
        raise configuration_refused(exc) from None
    _remember_url(rt.settings)
    return rt


def _remember_url(found: Settings) -> None:
    """The database URL (no password), for a database error's one line."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.find_root().meta[URL_KEY] = shown_url(found.database_url)


NO_CHANNELS_HELP = "Start even though no patient channel (SMS, Telegram) is configured."


def no_channels_option(func: F) -> F:
    """`--no-channels`: production refuses a service without a channel unless told."""
    return click.option("--no-channels", is_flag=True, help=NO_CHANNELS_HELP)(func)


# ---------------------------------------------------------------- the named operator


def _remember_operator(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.find_root().meta[OPERATOR_KEY] = value.strip()


OPERATOR_HELP = "Who runs this command, for the audit log (default: $CRENEAU_OPERATOR)."


def operator_option(func: F) -> F:
    """`--operator NAME` on a command that reads or changes personal data."""
    return click.option(
        "--operator",
        metavar="NAME",
        expose_value=False,
        callback=_remember_operator,
        help=OPERATOR_HELP,
    )(func)


def group_operator_option(func: F) -> F:
    """The same option on the main group: `creneau --operator NAME COMMAND`."""
    return click.option(
        "--operator",
        metavar="NAME",
        expose_value=False,
        is_eager=True,
        callback=_remember_operator,
        help=OPERATOR_HELP,
    )(func)


def operator(rt: Runtime) -> str:
    """The named operator: --operator, else CRENEAU_OPERATOR, else (development only) the
    OS user. Production refuses an unnamed access to personal data."""
    ctx = click.get_current_context(silent=True)
    given = ctx.find_root().meta.get(OPERATOR_KEY) if ctx is not None else None
    name = given or rt.settings.operator
    if not name:
        if rt.settings.production:
            raise click.ClickException(
                "production needs a named operator for the audit log: "
                "set CRENEAU_OPERATOR or pass --operator NAME"
            )
        name = _os_user()
    return name


def actor(rt: Runtime) -> str:
    """`cli:<operator>`: who ran the command, as the audit log records it."""
    return f"cli:{operator(rt)}"[:64]


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid{os.getuid()}"


def record(rt: Runtime, action: str, subject: str | None = None, detail: str | None = None) -> None:
    """One audit event in its own transaction, in the operator's name."""
    who = actor(rt)
    with rt.db.write() as session:
        audit.record(session, rt.practice.id, who, action, subject, detail)


# ---------------------------------------------------------------- signals


@contextmanager
def until_signal() -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT (handlers restored afterwards)."""
    stop = threading.Event()
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        for sig in previous:
            signal.signal(sig, lambda *_: stop.set())
    try:
        yield stop
    finally:
        if in_main:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
