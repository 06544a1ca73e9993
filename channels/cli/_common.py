"""What every `creneau` command shares: the runtime, the named operator, the audit, signals.

The runtime is built when a command runs, never at import time; a configuration or
practice-file problem ends the command with one clear message, not a traceback.
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

from bot.practice_file import PracticeError
from channels.runtime import Runtime
from channels.settings import Settings, SettingsError
from store import audit

F = TypeVar("F", bound=Callable[..., Any])
OPERATOR_KEY = "creneau_operator"


def settings() -> Settings:
    """The settings from the environment, or a one-line error naming the fix."""
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(f"configuration: {exc}") from None


def runtime() -> Runtime:
    """The runtime of this command, its practice file validated now."""
    rt = Runtime(settings())
    try:
        rt.practice  # noqa: B018  (validate the practice file at start)
    except PracticeError as exc:
        raise click.ClickException(f"practice file {exc.source}:\n{exc}") from None
    return rt


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
