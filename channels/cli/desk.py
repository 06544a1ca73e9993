"""`creneau desk user add|list|disable|enable|reset-2fa|reset-password`: the practice desk's
users.

A password is read from standard input (one line) when it is not a terminal, else asked
twice without echo. The second factor's `otpauth://totp/...` URI is printed (and a QR code
on a terminal) once: only the sealed secret is kept. Each change is audited in the
operator's name (`--operator` or CRENEAU_OPERATOR).
"""

from __future__ import annotations

import sys

import click
from sqlmodel import Session

from channels.cli._common import actor, operator_option, runtime
from store import audit
from store.desk import (
    ROLES,
    DeskUserError,
    Enrolment,
    add_user,
    disable_user,
    enable_user,
    find_user,
    list_users,
    reset_second_factor,
    set_password,
)
from store.models import DeskUser, utcnow


@click.group()
def desk() -> None:
    """The practice desk (web): its users."""


@desk.group()
def user() -> None:
    """Desk users: add, list, disable, enable, reset the second factor or the password."""


def _password() -> str:
    """One line from standard input, or a hidden prompt (twice) on a terminal."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


def _show(enrolment: Enrolment) -> None:
    """The second factor, once: the URI for an authenticator app and, on a terminal, a QR."""
    click.echo("Second factor (scan it now, it is not shown again):")
    click.echo(enrolment.uri)
    if sys.stdout.isatty():
        import segno

        segno.make(enrolment.uri, error="m").terminal(compact=True)


@user.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the user may do.")
@click.option(
    "--practitioner",
    "practitioner_id",
    default=None,
    metavar="ID",
    help="The practitioner this user is (role practitioner; optional for admin).",
)
@operator_option
def add(email: str, role: str, practitioner_id: str | None) -> None:
    """Create a desk user; the password comes from standard input or a prompt."""
    rt = runtime()
    who = actor(rt)  # a named operator first: production refuses an anonymous change
    password = _password()
    try:
        with rt.db.write() as session:
            enrolment = add_user(
                session, rt.vault, rt.practice, email, role, password, utcnow(), practitioner_id
            )
            audit.record(
                session, rt.practice.id, who, "desk_user_add", enrolment.user.id, f"role={role}"
            )
    except DeskUserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Desk user {enrolment.user.email} ({role}) created.")
    _show(enrolment)


@user.command("list")
@operator_option
def list_command() -> None:
    """Every desk user: e-mail, role, practitioner, state, last login."""
    rt = runtime()
    who = actor(rt)
    with rt.db.write() as session:
        users = list_users(session, rt.practice.id)
        audit.record(session, rt.practice.id, who, "desk_users_view", None, f"users={len(users)}")
    if not users:
        click.echo("No desk user yet: `creneau desk user add EMAIL --role admin`.")
        return
    for u in users:
        state = "disabled" if u.disabled_at else "active"
        last = u.last_login_at.isoformat(timespec="minutes") if u.last_login_at else "never"
        who = f" practitioner={u.practitioner_id}" if u.practitioner_id else ""
        click.echo(f"{u.email}  {u.role}{who}  {state}  last login: {last}")


@user.command("disable")
@click.argument("email")
@operator_option
def disable(email: str) -> None:
    """Disable a user: no more logins, open sessions end now."""
    rt = runtime()
    who = actor(rt)
    with rt.db.write() as session:
        found = _user(session, rt.practice.id, email)
        disable_user(session, found, utcnow())
        audit.record(session, rt.practice.id, who, "desk_user_disable", found.id)
    click.echo(f"{found.email}: disabled")


@user.command("enable")
@click.argument("email")
@operator_option
def enable(email: str) -> None:
    """Allow a disabled user to log in again."""
    rt = runtime()
    who = actor(rt)
    with rt.db.write() as session:
        found = _user(session, rt.practice.id, email)
        enable_user(session, found)
        audit.record(session, rt.practice.id, who, "desk_user_enable", found.id)
    click.echo(f"{found.email}: enabled")


@user.command("reset-2fa")
@click.argument("email")
@operator_option
def reset_2fa(email: str) -> None:
    """A new second factor (the old one stops working, open sessions end)."""
    rt = runtime()
    who = actor(rt)
    with rt.db.write() as session:
        found = _user(session, rt.practice.id, email)
        enrolment = reset_second_factor(session, rt.vault, rt.practice, found)
        audit.record(session, rt.practice.id, who, "desk_user_reset_2fa", found.id)
    click.echo(f"{found.email}: new second factor.")
    _show(enrolment)


@user.command("reset-password")
@click.argument("email")
@operator_option
def reset_password(email: str) -> None:
    """A new password, from standard input or a prompt (open sessions end)."""
    rt = runtime()
    who = actor(rt)
    password = _password()
    try:
        with rt.db.write() as session:
            found = _user(session, rt.practice.id, email)
            set_password(session, found, password)
            audit.record(session, rt.practice.id, who, "desk_user_reset_password", found.id)
    except DeskUserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{found.email}: new password set.")


def _user(session: Session, practice_id: str, email: str) -> DeskUser:
    """The practice's desk user with this e-mail, or a one-line refusal."""
    found = find_user(session, practice_id, email)
    if found is None:
        raise click.ClickException("no desk user with this e-mail")
    return found
