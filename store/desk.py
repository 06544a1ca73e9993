"""Desk users, their logins and sessions.

A desk user has an e-mail (the staff login), a role, an Argon2id password hash and a TOTP
second factor whose secret is sealed like every personal cell (AES-GCM bound to
desk_user/totp/row). A login needs all three; whatever is wrong, the answer is the same.
Five failures within 15 minutes lock the e-mail for 15 minutes (the sixth attempt is
refused even when right); failures are kept under a keyed hash of the e-mail, never the
typed value. A TOTP code works once. A session lives 15 minutes idle and 12 hours at most;
disabling a user or resetting their second factor ends their sessions at once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, col, delete, func, select

from bot.practice import Practice
from store import audit
from store.crypto import CryptoError
from store.models import DeskSession, DeskUser, LoginAttempt
from store.vault import Vault

ROLES = ("admin", "secretary", "practitioner")
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCK_FOR = timedelta(minutes=15)
ATTEMPT_KEEP = timedelta(days=1)
IDLE_TIMEOUT = timedelta(minutes=15)
MAX_SESSION = timedelta(hours=12)
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
TOTP_STEP = 30
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{2,63}$")


class DeskUserError(ValueError):
    """A desk user that cannot be created or changed; the message says why (no secret)."""


@dataclass(frozen=True)
class Enrolment:
    """A user and their new second factor: shown once, never stored in clear."""

    user: DeskUser
    secret: str
    uri: str


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()  # Argon2id with the library's recommended parameters


@cache
def _dummy_hash() -> str:
    """A hash to verify against when the e-mail is unknown, so timing says nothing."""
    return _hasher().hash(secrets.token_urlsafe(16))


def normalise_email(email: str) -> str:
    """The login form of an e-mail (trimmed, lowercased); DeskUserError if it is not one."""
    value = (email or "").strip().lower()
    if len(value) > 254 or not EMAIL.match(value):
        raise DeskUserError("not an e-mail address")
    return value


def check_password(password: str) -> str:
    """The password if it is long enough; DeskUserError otherwise."""
    if not MIN_PASSWORD <= len(password or "") <= MAX_PASSWORD:
        raise DeskUserError(f"the password must have {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return password


def _check_role(practice: Practice, role: str, practitioner_id: str | None) -> None:
    if role not in ROLES:
        raise DeskUserError(f"role must be one of {', '.join(ROLES)}")
    if role == "practitioner" and not practitioner_id:
        raise DeskUserError("a practitioner user needs --practitioner ID")
    if role == "secretary" and practitioner_id:
        raise DeskUserError("a secretary is nobody's practitioner: leave out --practitioner")
    if practitioner_id:
        try:
            practice.practitioner(practitioner_id)
        except KeyError:
            known = ", ".join(p.id for p in practice.practitioners)
            raise DeskUserError(
                f"unknown practitioner {practitioner_id!r} (known: {known})"
            ) from None


def provisioning_uri(secret: str, email: str, practice: Practice) -> str:
    """The `otpauth://totp/...` URI an authenticator app reads (SHA-1, 6 digits, 30 s)."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=f"Créneau {practice.name}")


def _enrol(vault: Vault, practice: Practice, user: DeskUser) -> Enrolment:
    """A fresh TOTP secret (160 bits) sealed into the user's row."""
    secret = pyotp.random_base32()
    user.totp_enc = vault.seal("desk_user", "totp", user.id, secret)
    user.totp_last_step = 0
    return Enrolment(user, secret, provisioning_uri(secret, user.email, practice))


# ---------------------------------------------------------------- users


def find_user(session: Session, practice_id: str, email: str) -> DeskUser | None:
    """The desk user with this e-mail (any case), or None."""
    try:
        value = normalise_email(email)
    except DeskUserError:
        return None
    return session.exec(
        select(DeskUser).where(DeskUser.practice_id == practice_id, DeskUser.email == value)
    ).first()


def list_users(session: Session, practice_id: str) -> list[DeskUser]:
    """Every desk user of the practice, by e-mail."""
    return list(
        session.exec(
            select(DeskUser)
            .where(DeskUser.practice_id == practice_id)
            .order_by(col(DeskUser.email))
        )
    )


def add_user(
    session: Session,
    vault: Vault,
    practice: Practice,
    email: str,
    role: str,
    password: str,
    now: datetime,
    practitioner_id: str | None = None,
) -> Enrolment:
    """Create a desk user with their second factor; DeskUserError names what is wrong."""
    value = normalise_email(email)
    _check_role(practice, role, practitioner_id)
    check_password(password)
    if find_user(session, practice.id, value) is not None:
        raise DeskUserError("a desk user with this e-mail exists already")
    user = DeskUser(
        practice_id=practice.id,
        email=value,
        role=role,
        practitioner_id=practitioner_id or None,
        password_hash=_hasher().hash(password),
        totp_enc=b"",
        created_at=now,
    )
    enrolment = _enrol(vault, practice, user)
    session.add(user)
    session.flush()
    return enrolment


def _end_sessions(session: Session, user: DeskUser) -> None:
    user.session_version += 1
    session.exec(delete(DeskSession).where(col(DeskSession.user_id) == user.id))


def disable_user(session: Session, user: DeskUser, now: datetime) -> None:
    """Disable a user: no more logins, open sessions end now."""
    user.disabled_at = user.disabled_at or now
    _end_sessions(session, user)
    session.add(user)


def enable_user(session: Session, user: DeskUser) -> None:
    """Allow a disabled user to log in again."""
    user.disabled_at = None
    session.add(user)


def reset_second_factor(
    session: Session, vault: Vault, practice: Practice, user: DeskUser
) -> Enrolment:
    """A new TOTP secret (the old one stops working), open sessions end now."""
    enrolment = _enrol(vault, practice, user)
    _end_sessions(session, user)
    session.add(user)
    return enrolment


def set_password(session: Session, user: DeskUser, password: str) -> None:
    """A new password (open sessions end now)."""
    user.password_hash = _hasher().hash(check_password(password))
    _end_sessions(session, user)
    session.add(user)


# ---------------------------------------------------------------- login


def login_key(vault: Vault, practice_id: str, email: str) -> str:
    """The keyed hash failures are counted under (never the typed value)."""
    value = (email or "").strip().lower()[:254]
    return vault.index(practice_id, f"desk-login:{value}")


def locked(session: Session, practice_id: str, key: str, now: datetime) -> bool:
    """Whether this login is locked now (five failures within 15 minutes, 15 minutes ago
    at most)."""
    found = session.exec(
        select(LoginAttempt.id).where(
            LoginAttempt.practice_id == practice_id,
            LoginAttempt.key == key,
            LoginAttempt.kind == "lock",
            col(LoginAttempt.at) > now - LOCK_FOR,
        )
    ).first()
    return found is not None


def _fail(session: Session, practice_id: str, key: str, now: datetime) -> bool:
    """Count a failure; lock when it is the fifth within the window. True if now locked."""
    session.add(LoginAttempt(practice_id=practice_id, key=key, kind="failure", at=now))
    session.flush()
    recent = session.exec(
        select(func.count()).where(
            LoginAttempt.practice_id == practice_id,
            LoginAttempt.key == key,
            LoginAttempt.kind == "failure",
            col(LoginAttempt.at) > now - FAILURE_WINDOW,
        )
    ).one()
    if recent >= MAX_FAILURES:
        session.add(LoginAttempt(practice_id=practice_id, key=key, kind="lock", at=now))
        return True
    return False


def _forget_old_attempts(session: Session, practice_id: str, now: datetime) -> None:
    session.exec(
        delete(LoginAttempt).where(
            col(LoginAttempt.practice_id) == practice_id,
            col(LoginAttempt.at) < now - ATTEMPT_KEEP,
        )
    )


def _password_ok(user: DeskUser | None, password: str) -> bool:
    """Argon2 verification; an unknown user costs the same time."""
    stored = user.password_hash if user is not None else _dummy_hash()
    try:
        return _hasher().verify(stored, password or "") and user is not None
    except (VerificationError, InvalidHashError):
        return False


def _code_ok(vault: Vault, user: DeskUser, code: str, now: datetime) -> bool:
    """The TOTP code of now (one step of drift either way), never one already used."""
    code = (code or "").strip().replace(" ", "")
    if not (len(code) == 6 and code.isdigit()):
        return False
    secret = vault.open("desk_user", "totp", user.id, user.totp_enc)  # CryptoError: caller
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // TOTP_STEP
    for step in (current - 1, current, current + 1):
        if step > user.totp_last_step and hmac.compare_digest(totp.at(step * TOTP_STEP), code):
            user.totp_last_step = step
            return True
    return False


def authenticate(
    session: Session,
    vault: Vault,
    practice: Practice,
    email: str,
    password: str,
    code: str,
    now: datetime,
) -> DeskUser | None:
    """The user if e-mail, password and code are right and the login is not locked; None
    otherwise, whatever was wrong. Every outcome is audited (no typed value kept)."""
    housekeeping(session, practice, now)
    key = login_key(vault, practice.id, email)
    user = find_user(session, practice.id, email)
    actor = f"desk:{user.email}"[:64] if user is not None else "desk:unknown"
    subject = user.id if user is not None else None
    if locked(session, practice.id, key, now):
        _password_ok(None, password)  # same cost as a real try
        audit.record(session, practice.id, actor, "desk_login_refused", subject, "locked")
        return None
    ok = _password_ok(user, password) and user is not None and user.disabled_at is None
    if ok and user is not None:
        try:
            ok = _code_ok(vault, user, code, now)
        except CryptoError:
            audit.record(
                session,
                practice.id,
                "system",
                "unreadable_cell",
                user.id,
                "table=desk_user column=totp",
            )
            ok = False
    if not ok or user is None:
        now_locked = _fail(session, practice.id, key, now)
        audit.record(session, practice.id, actor, "desk_login_failed", subject)
        if now_locked:
            audit.record(session, practice.id, actor, "desk_login_locked", subject)
        return None
    session.exec(
        delete(LoginAttempt).where(
            col(LoginAttempt.practice_id) == practice.id,
            col(LoginAttempt.key) == key,
            col(LoginAttempt.kind) == "failure",
        )
    )
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = _hasher().hash(password)
    user.last_login_at = now
    session.add(user)
    audit.record(session, practice.id, actor, "desk_login", user.id)
    return user


# ---------------------------------------------------------------- sessions


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(session: Session, user: DeskUser, now: datetime) -> str:
    """A new session for the user; returns the token for the (signed) cookie."""
    token = secrets.token_urlsafe(32)
    session.add(
        DeskSession(
            practice_id=user.practice_id,
            token_hash=_token_hash(token),
            user_id=user.id,
            user_version=user.session_version,
            created_at=now,
            last_seen_at=now,
        )
    )
    return token


def session_user(session: Session, practice_id: str, token: str, now: datetime) -> DeskUser | None:
    """The user of a live session (its idle time restarted), or None: unknown, idle over 15
    minutes, older than 12 hours, or its user disabled or changed since."""
    if not token:
        return None
    row = session.exec(
        select(DeskSession).where(
            DeskSession.practice_id == practice_id, DeskSession.token_hash == _token_hash(token)
        )
    ).first()
    if row is None:
        return None
    user = session.get(DeskUser, row.user_id)
    expired = now - row.last_seen_at > IDLE_TIMEOUT or now - row.created_at > MAX_SESSION
    if user is None or expired or user.disabled_at is not None:
        session.delete(row)
        return None
    if user.session_version != row.user_version:
        session.delete(row)
        return None
    row.last_seen_at = now
    session.add(row)
    return user


def close_session(session: Session, practice_id: str, token: str) -> None:
    """End a session (logout)."""
    session.exec(
        delete(DeskSession).where(
            col(DeskSession.practice_id) == practice_id,
            col(DeskSession.token_hash) == _token_hash(token or ""),
        )
    )


def housekeeping(session: Session, practice: Practice, now: datetime) -> None:
    """Forget what has run its course: sessions idle past the timeout, failed logins older
    than a day, users disabled longer ago than the audit log is kept (until then the log
    can name them). Runs at each login; the daily purge may call it too."""
    session.exec(
        delete(DeskSession).where(
            col(DeskSession.practice_id) == practice.id,
            col(DeskSession.last_seen_at) < now - IDLE_TIMEOUT,
        )
    )
    _forget_old_attempts(session, practice.id, now)
    gone = select(DeskUser.id).where(
        DeskUser.practice_id == practice.id,
        col(DeskUser.disabled_at) < now - timedelta(days=practice.audit_retention_days),
    )
    session.exec(delete(DeskSession).where(col(DeskSession.user_id).in_(gone)))
    session.exec(
        delete(DeskUser).where(
            col(DeskUser.practice_id) == practice.id,
            col(DeskUser.disabled_at) < now - timedelta(days=practice.audit_retention_days),
        )
    )
