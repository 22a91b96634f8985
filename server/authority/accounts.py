"""ASP organisations and staff accounts: sign-up with a verified e-mail address, sign-in with a
password (argon2, like the server's passcodes) and a TOTP code (RFC 6238, pyotp).

The verification link carries a token signed with the app's secret and a timestamp
(itsdangerous), so it needs no table and stops working after ``AUTHORITY_EMAIL_LINK_HOURS``.
"""

from __future__ import annotations

import hashlib
import smtplib
from email.message import EmailMessage
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..errors import DeliveryError
from ..security import now
from .errors import AccountError
from .models import Organisation, Registration, StaffUser

_HASHER = PasswordHasher()
_LINK_SALT = "espi-sst-authority-email"
MIN_PASSWORD = 12
MAX_FAILED_SIGN_INS = 5  # then the account waits LOCK_SECONDS: a 6-digit TOTP cannot be guessed
LOCK_SECONDS = 900


def _normalised_email(email: str) -> str:
    email = email.strip().lower()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or any(c.isspace() for c in email) or len(email) > 320:
        raise AccountError(f"e-mail {email!r}: give an address like staff@asp.example")
    return email


def new_user(
    session: Session, email: str, password: str, organisation: Organisation | None
) -> tuple[StaffUser, str]:
    """A user and their TOTP secret (shown once, to enrol an authenticator app)."""
    email = _normalised_email(email)
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password: use at least {MIN_PASSWORD} characters")
    if session.scalar(select(StaffUser.id).where(func.lower(StaffUser.email) == email)):
        raise AccountError(f"e-mail {email!r} already has an account: sign in instead")
    secret = pyotp.random_base32()
    user = StaffUser(
        organisation_id=None if organisation is None else organisation.id,
        email=email,
        password_hash=_HASHER.hash(password),
        totp_secret=secret,
        email_verified_at=None,
        created_at=now(),
    )
    session.add(user)
    session.flush()
    return user, secret


def sign_up(
    session: Session, organisation_name: str, email: str, password: str
) -> tuple[StaffUser, str]:
    """A new ASP organisation with its first staff member (unverified until the link is used)."""
    if not organisation_name.strip():
        raise AccountError("organisation: give the organisation's name")
    _forget_unconfirmed(session, _normalised_email(email))
    organisation = Organisation(name=organisation_name.strip()[:200], created_at=now())
    session.add(organisation)
    session.flush()
    return new_user(session, email, password, organisation)


def _forget_unconfirmed(session: Session, email: str) -> None:
    """An earlier sign-up for ``email`` that was never confirmed gives way to this one.

    Otherwise whoever signs up first with someone else's address holds it: the owner's own
    sign-up would be refused ("already has an account") and the link, once expired, is a dead
    end.  Only the mailbox's owner can confirm either sign-up, and the earlier one's link
    stops working (it names the earlier account: :func:`verification_link`); how often one
    mailbox gets links is capped per day (limits.count_verification_email).  An account with a
    registration is never dropped (none can have one before confirming: sign-in needs it).
    """
    user = session.scalar(
        select(StaffUser).where(
            func.lower(StaffUser.email) == email, StaffUser.email_verified_at.is_(None)
        )
    )
    if user is None or user.organisation_id is None:
        return
    organisation_id = user.organisation_id
    if session.scalar(
        select(func.count(Registration.id)).where(Registration.organisation_id == organisation_id)
    ):
        return
    session.delete(user)
    session.flush()
    if not session.scalar(
        select(func.count(StaffUser.id)).where(StaffUser.organisation_id == organisation_id)
    ):
        organisation = session.get(Organisation, organisation_id)
        if organisation is not None:
            session.delete(organisation)
            session.flush()


def _sign_up_mark(user: StaffUser) -> str:
    """What tells one sign-up of an address from another: a digest of its password hash,
    whose salt is new at each sign-up (row ids are not: SQLite reuses a deleted row's id)."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:24]


def verification_link(settings: dict[str, Any], user: StaffUser) -> str:
    """The link for this account: it names this sign-up as well as its address, so the link
    of an earlier sign-up of the same address (since replaced) confirms nothing."""
    token = URLSafeTimedSerializer(settings["SECRET_KEY"], salt=_LINK_SALT).dumps(
        {"email": user.email, "sign_up": _sign_up_mark(user)}
    )
    return f"{settings['AUTHORITY_ISSUER']}/verify?token={token}"


def send_verification(settings: dict[str, Any], user: StaffUser) -> None:
    """The signed link by SMTP (a DeliveryError when the mail server cannot be reached)."""
    message = EmailMessage()
    message["From"] = settings["AUTHORITY_MAIL_FROM"]
    message["To"] = user.email
    message["Subject"] = "Confirm your e-mail address for the SST central authority"
    hours = settings["AUTHORITY_EMAIL_LINK_HOURS"]
    message.set_content(
        "Open this link to confirm your address (it works for "
        f"{hours} hours):\n\n{verification_link(settings, user)}\n"
    )
    try:
        with smtplib.SMTP(
            settings["AUTHORITY_SMTP_HOST"], settings["AUTHORITY_SMTP_PORT"], timeout=10
        ) as smtp:
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"the verification e-mail could not be sent: {exc}") from None


def verify_email(session: Session, settings: dict[str, Any], token: str) -> StaffUser:
    serializer = URLSafeTimedSerializer(settings["SECRET_KEY"], salt=_LINK_SALT)
    try:
        email = serializer.loads(token, max_age=settings["AUTHORITY_EMAIL_LINK_HOURS"] * 3600)
    except SignatureExpired:
        raise AccountError("this link has expired: sign up again for a new one") from None
    except BadSignature:
        raise AccountError(
            "this link is not one the authority sent: check it was copied whole"
        ) from None
    if isinstance(email, dict):  # {"email", "sign_up"}: this sign-up's link
        mark, email = email.get("sign_up"), email.get("email")
    else:  # a link sent before links named their sign-up
        mark = None
    user = session.scalar(select(StaffUser).where(StaffUser.email == email))
    if user is None or (mark is not None and _sign_up_mark(user) != mark):
        raise AccountError(
            "this link is for an earlier sign-up of this address: open the newest e-mail's "
            "link, or sign up again"
        )
    if user.email_verified_at is None:
        user.email_verified_at = now()
        session.commit()
    return user


def sign_in(session: Session, email: str, password: str, code: str) -> StaffUser:
    """The user, when password and TOTP code (RFC 6238, one step of drift) are right and the
    e-mail address is verified; otherwise one refusal that does not say which was wrong.
    After MAX_FAILED_SIGN_INS wrong tries in a row the account refuses every try (even a right
    one) for LOCK_SECONDS: three codes are valid at a time, so guessing needs ~333,000 tries."""
    refused = AccountError(
        "e-mail, password or authenticator code not right", status=401, code="sign_in_refused"
    )
    user = session.scalar(select(StaffUser).where(StaffUser.email == email.strip().lower()))
    if user is None:
        raise refused
    moment = now()
    if user.locked_until is not None and moment < user.locked_until:
        raise AccountError(
            f"too many failed sign-ins: try again in {(user.locked_until - moment) // 60 + 1} minutes",
            status=429,
            code="locked",
        )
    try:
        _HASHER.verify(user.password_hash, password)
        right = pyotp.TOTP(user.totp_secret).verify(code.strip(), valid_window=1)
    except (VerificationError, InvalidHashError):
        right = False
    if not right:
        user.failed_sign_ins += 1
        if user.failed_sign_ins >= MAX_FAILED_SIGN_INS:
            user.failed_sign_ins, user.locked_until = 0, moment + LOCK_SECONDS
        session.commit()
        raise refused
    if user.failed_sign_ins or user.locked_until:
        user.failed_sign_ins, user.locked_until = 0, None
        session.commit()
    if user.email_verified_at is None:
        raise AccountError(
            "confirm your e-mail address first: open the link we sent",
            status=403,
            code="unverified",
        )
    return user


def provisioning_uri(user: StaffUser) -> str:
    """The otpauth:// URI an authenticator app enrols from (shown once at sign-up)."""
    return pyotp.TOTP(user.totp_secret).provisioning_uri(
        name=user.email, issuer_name="SST authority"
    )
