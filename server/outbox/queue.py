"""The outbox: messages written in the same transaction as the change they announce, sent later.

A rate change moving to "accepted" and the e-mail telling the customer, or the ESPI
``BatchList`` telling the ASP, must not part ways: sending inside the request would block it
on a mail server or an ASP's endpoint, and sending after the commit would lose the message if
the process died in between.  So the change and an :class:`OutboxMessage` row commit
together, and the worker (``espi-sst worker``) delivers due rows with bounded retries and
exponential backoff.

Bodies are encrypted at rest (``server/outbox/_seal.py``: Fernet, the key derived from
``SECRET_KEY`` or set as ``OUTBOX_KEY``) and purged once the message is delivered or given
up: a passcode e-mail is readable in the database neither while it waits nor after
(issue 11, item 4).  A given-up ASP notification keeps its sealed list of URLs, so
``espi-sst outbox retry`` can send it again.  What operations need stays in clear: kind,
destination, the e-mail's subject or the ASP's client id, times, attempts, the last error.

Delivery is at-least-once: a crash after sending and before recording it sends again.  (A
database that does not answer at that moment is not a crash: the worker records the send
again while the row is still claimed -- :func:`_record`.)  Both
kinds tolerate that -- a ``BatchList`` only lists URLs the ASP then GETs, and an e-mail says
the same thing twice -- and both carry an id that is the same on every attempt, so a
receiver that keeps ids can drop the repeat: the ``Idempotency-Key`` header of the POST
(:func:`notification_key`) and the e-mail's Message-ID (:func:`mail_message_id`).  With
that, "exactly once" means exactly once per id at the receiver.  Two workers never send the same row at once: each claims a row by
moving its ``next_attempt_at`` forward with a conditional UPDATE before sending.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import requests
from flask import Flask, current_app
from requests_hardened.ip_filter import InvalidIPAddress
from sqlalchemy import select, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

import espi_sst
from espi_sst.model import espi as m

from ..observability import logs
from ..security import running_clock
from ..storage.models import Application, OutboxMessage
from ..storage.rows import audit, rowcount
from . import outbound
from ._seal import SealError, seal, unseal
from .mail import NotifierError, compose, mail_from, notifier_for
from .sms import SmsError, e164, sms_sender_for

EMAIL = "email"
SMS = "sms"
"""A customer text message (the passcode channel a customer may choose; server/outbox/sms.py).
It travels in the customer lane with e-mail (:data:`CUSTOMER_KINDS`)."""
CUSTOMER_KINDS = (EMAIL, SMS)
ASP_NOTIFICATION = "asp_notification"
MAX_ATTEMPTS = 10
BACKOFF_FIRST_SECONDS = 10
BACKOFF_MAX_SECONDS = 3600
CLAIM_SECONDS = 120
"""A claimed row is not due again for this long (a sender that dies releases it by time);
``OUTBOX_CLAIM_SECONDS`` sets it.  It must outlast one send (longer than the notify
connect + read timeouts and ``SMTP_TIMEOUT``), or a live but slow sender's row is sent
twice."""

NOTIFICATION_ID_HEADER = "Idempotency-Key"
"""The header naming an ASP notification, the same on every attempt of one message
(draft-ietf-httpapi-idempotency-key-header): a sender that dies after the ASP received the
POST and before recording it sends again, and the ASP drops the repeat by this key."""


def notification_key(app: Flask, message_id: int) -> str:
    """``Idempotency-Key`` of outbox message ``message_id``: the issuer and the row id, so
    two utilities (or two databases) never send the same key to one ASP."""
    return f"{app.config.get('ISSUER') or 'espi-sst'}/notification/{message_id}"


def mail_message_id(app: Flask, message_id: int) -> str:
    """The Message-ID of outbox e-mail ``message_id``, the same on every attempt (RFC 5322
    3.6.4): a mail system or reader that drops a repeated Message-ID drops a resend."""
    from email.utils import parseaddr

    domain = parseaddr(mail_from(app))[1].rpartition("@")[2] or "localhost"
    return f"<outbox-{message_id}.{_issuer_tag(app)}@{domain}>"


def _issuer_tag(app: Flask) -> str:
    """A short, stable tag of the issuer: the row id alone repeats across databases."""
    import hashlib

    issuer = str(app.config.get("ISSUER") or "espi-sst")
    return hashlib.sha256(issuer.encode()).hexdigest()[:12]


def sms_message_key(app: Flask, message_id: int) -> str:
    """The idempotency key of outbox text message ``message_id``, the same on every attempt:
    the issuer and the row id, so a gateway that keeps keys sends a resend never."""
    return f"{app.config.get('ISSUER') or 'espi-sst'}/sms/{message_id}"


REQUEST_ID = "request_id"
"""The payload key holding the id of the request that queued the message (clear)."""

SEALED = "sealed"
"""The payload key holding the encrypted body (the other keys are in clear)."""


def enqueue_email(session: Session, *, to: str, subject: str, text: str, now: int) -> None:
    """A customer e-mail, sent by the worker after the caller's transaction commits.

    The body is sealed with the current app's outbox key (call it in an app context).
    """
    compose(to=to, subject=subject, text=text, sender="check@localhost")  # refuse bad headers now
    session.add(
        OutboxMessage(
            kind=EMAIL,
            destination=to,
            payload=_with_request_id(
                {"subject": subject, SEALED: seal(current_app, {"text": text})}
            ),
            created_at=now,
            next_attempt_at=now,
            attempts=0,
        )
    )


def enqueue_sms(session: Session, *, to: str, text: str, now: int) -> None:
    """A customer text message to ``to`` (E.164), sent by the worker after the caller's
    transaction commits; the body is sealed like an e-mail's (call it in an app context)."""
    e164(to)  # refuse a malformed number now, not at every retry
    session.add(
        OutboxMessage(
            kind=SMS,
            destination=to,
            payload=_with_request_id({SEALED: seal(current_app, {"text": text})}),
            created_at=now,
            next_attempt_at=now,
            attempts=0,
        )
    )


def enqueue_asp_notification(
    session: Session, *, application: Application, resources: list[str], now: int
) -> None:
    """An ESPI notification: a BatchList of resource URLs POSTed to the ASP's notify URI."""
    session.add(
        OutboxMessage(
            kind=ASP_NOTIFICATION,
            destination=application.notify_uri,
            payload=_with_request_id(
                {
                    "client_id": application.client_id,
                    SEALED: seal(current_app, {"resources": list(resources)}),
                }
            ),
            created_at=now,
            next_attempt_at=now,
            attempts=0,
        )
    )


def _with_request_id(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with the id of the request that queued it, in clear (an id, no secret):
    the worker's log line for this message carries it (observability/logs.py).  Purged
    with the body once the message is sent."""
    request_id = logs.current_request_id()
    return payload if request_id is None else {**payload, REQUEST_ID: request_id}


def open_payload(app: Flask, message: OutboxMessage) -> dict[str, Any]:
    """The message's payload with its body decrypted (SealError when no key opens it).

    A row written before bodies were sealed is returned as it is; a delivered row has no
    body any more (only the fields kept in clear).
    """
    payload = dict(message.payload)
    token = payload.pop(SEALED, None)
    if token is not None:
        payload.update(unseal(app, str(token)))
    return payload


def _purge(message: OutboxMessage) -> None:
    """Forget the body of a message delivered or given up: keep what operations need.

    A given-up ASP notification keeps its sealed body: it lists only resource URLs the ASP
    must fetch with its own token, and it is the ASP's one news of the change, so an
    operator may send it again once the ASP's endpoint works (``espi-sst outbox retry``,
    server/ops/outbox_admin.py).  A given-up e-mail is purged: it may carry a passcode,
    stale by the time anyone could resend it.
    """
    if message.failed_at is not None and message.kind == ASP_NOTIFICATION:
        return
    kept = ("subject", "client_id")
    message.payload = {key: value for key, value in message.payload.items() if key in kept}


def batch_list_xml(resources: list[str]) -> bytes:
    """The ESPI BatchList document an ASP's notify endpoint receives."""
    return espi_sst.serialize(m.BatchList(resources=list(resources)), pretty=False)


@dataclass(frozen=True)
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0


def backoff_seconds(
    attempts: int, *, first: int = BACKOFF_FIRST_SECONDS, maximum: int = BACKOFF_MAX_SECONDS
) -> int:
    """10 s, 20 s, 40 s ... capped at an hour: an ASP down for a day gets ~10 tries
    (``OUTBOX_BACKOFF_FIRST_SECONDS``, ``OUTBOX_BACKOFF_MAX_SECONDS``)."""
    return int(min(first * 2 ** max(attempts - 1, 0), maximum))


def backoff_settings(app: Flask) -> tuple[int, int]:
    """The first retry delay and the cap, from the app's settings."""
    config = app.config
    return (
        int(config.get("OUTBOX_BACKOFF_FIRST_SECONDS") or BACKOFF_FIRST_SECONDS),
        int(config.get("OUTBOX_BACKOFF_MAX_SECONDS") or BACKOFF_MAX_SECONDS),
    )


def deliver_due(
    app: Flask,
    session: Session,
    *,
    now: int,
    kind: str | tuple[str, ...] | None = None,
    limit: int = 50,
) -> DeliveryReport:
    """Send every due message of ``kind`` (a kind, several, or None: all; at most ``limit``);
    each outcome commits on its own.

    The worker runs the two kinds as separate lanes (server/worker.py): customer e-mail
    never waits behind an ASP's endpoint (issue 11, item 11).  An ASP notification that
    fails for a reason a retry may cure defers every other due notification to the same
    notify URI by the same backoff: a destination that is down costs one attempt (and at
    most one timeout) per pass, however many messages wait for it -- unless this worker has
    just delivered there (it is up; one refusal is that message's alone: :func:`_apply`).
    """
    due = [
        OutboxMessage.sent_at.is_(None),
        OutboxMessage.failed_at.is_(None),
        OutboxMessage.next_attempt_at <= now,
    ]
    if isinstance(kind, str):
        due.append(OutboxMessage.kind == kind)
    elif kind is not None:
        due.append(OutboxMessage.kind.in_(kind))
    rows = session.execute(
        select(OutboxMessage.id, OutboxMessage.next_attempt_at)
        .where(*due)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    ).all()
    session.rollback()
    sent = retried = failed = 0
    clock = running_clock(now)  # each claim from the time it is made, not the pass's start
    taking = _destinations_taking(app)
    for message_id, due_at in rows:
        now = clock()
        claimed = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.next_attempt_at == due_at)
            .values(next_attempt_at=now + claim_seconds(app))
        )
        session.commit()
        if rowcount(claimed) != 1:
            continue  # another worker took it, or its destination was backed off
        claimed_at = time.monotonic()
        message = session.get(OutboxMessage, message_id)
        assert message is not None
        destination, message_kind = message.destination, message.kind
        started = time.perf_counter()
        request_id = message.payload.get(REQUEST_ID)
        bound = logs.bind_request_id(request_id)
        try:
            error = _send(app, message)
        finally:
            logs.unbind_request_id(bound)
        job: dict[str, Any] = {
            "lane": message.kind,
            "job": f"outbox:{message.id}",
            "started": started,
            "request_id": request_id,
        }
        if message.kind == ASP_NOTIFICATION:
            job["client_id"] = message.payload.get("client_id")
        moment = clock()
        first_step = backoff_settings(app)[0]
        outcome = _record(
            app,
            session,
            message_id,
            error,
            now=moment,
            claimed_at=claimed_at,
            destination_up=taking.get(destination, moment - first_step - 1) >= moment - first_step,
        )
        job["attempt"] = outcome.attempts
        if outcome.kind == "sent":
            if message_kind == ASP_NOTIFICATION:
                taking[destination] = moment
            sent += 1
            logs.log_job(outcome="sent", **job)
        elif outcome.kind == "failed":
            failed += 1
            logs.log_job(outcome="failed", level=logging.ERROR, error=outcome.error, **job)
        else:
            retried += 1
            logs.log_job(outcome="retry", level=logging.WARNING, error=outcome.error, **job)
    return DeliveryReport(sent, retried, failed)


RECORD_RETRY_SECONDS = 1.0
"""Between two tries to record a send's outcome while the database does not answer."""
RECORD_MARGIN_SECONDS = 5
"""Recording stops this long before the row's claim runs out (another worker may take it)."""


@dataclass
class _Outcome:
    kind: str  # sent | failed | retry
    attempts: int
    error: str = ""


def _destinations_taking(app: Flask) -> dict[str, int]:
    """notify URI -> when this worker last delivered a notification there (this process's own
    record: enough to know the destination is up; bounded by the number of ASPs)."""
    taking: dict[str, int] = app.extensions.setdefault("espi_sst_outbox_destinations", {})
    return taking


def _record(
    app: Flask, session: Session, message_id: int, error: str | None, *, now: int,
    claimed_at: float, destination_up: bool = False,
) -> _Outcome:  # fmt: skip
    """Record what became of one send, trying again while the database does not answer.

    The message has left (or not) whatever happens to the database now.  If recording it
    fails -- PostgreSQL restarting, SQLite's disk full -- and the worker gave up, the row
    would stay claimed, unrecorded, and be sent *again* once its claim ran out: a passcode
    mailed twice.  Found by the reliability soak (bench/soak: the database stopped, or the
    disk filled, between a send and its record).  So the worker keeps the outcome and
    tries again every ``RECORD_RETRY_SECONDS`` while the row is still its own (its claim,
    ``OUTBOX_CLAIM_SECONDS``, less ``RECORD_MARGIN_SECONDS``); only past that does the
    database error propagate, and the send may repeat -- at-least-once, with its id.
    """
    deadline = claimed_at + max(0, claim_seconds(app) - RECORD_MARGIN_SECONDS)
    while True:
        try:
            message = session.get(OutboxMessage, message_id)
            assert message is not None
            outcome = _apply(
                session,
                message,
                error,
                now=now,
                backoff=backoff_settings(app),
                destination_up=destination_up,
            )
            session.commit()
            return outcome
        except (OperationalError, InterfaceError):
            try:
                session.rollback()
            except (OperationalError, InterfaceError):
                pass  # the connection is gone; the pool replaces it at the next try
            if time.monotonic() + RECORD_RETRY_SECONDS >= deadline:
                raise
            app.logger.warning(
                "outbox:%s: the database does not answer; recording the send again in %g s",
                message_id,
                RECORD_RETRY_SECONDS,
            )
            time.sleep(RECORD_RETRY_SECONDS)


def _apply(
    session: Session,
    message: OutboxMessage,
    error: str | None,
    *,
    now: int,
    backoff: tuple[int, int] = (BACKOFF_FIRST_SECONDS, BACKOFF_MAX_SECONDS),
    destination_up: bool = False,
) -> _Outcome:
    """The send's outcome on the row (uncommitted): sent, given up, or due again later.

    A notification that failed defers the others due to its notify URI (a destination that
    is down costs one attempt per backoff step, not one per message) -- unless this worker
    delivered one there within the first backoff step (``destination_up``): then the
    destination is up, and one refusal is that message's alone.  Otherwise an ASP that
    refuses one POST in ten has every refusal pause all of its notifications: the lane then
    delivers about ten per pause and falls behind (the reliability soak, issue 15: the
    notification interrupted by a worker's kill took more than 285 s to be delivered again).
    """
    message.attempts += 1
    if error is None:
        message.sent_at = now
        _purge(message)
        return _Outcome("sent", message.attempts)
    if message.attempts >= MAX_ATTEMPTS or error.startswith("permanent: "):
        message.failed_at = now
        message.last_error = error[:512]
        _purge(message)
        audit(
            session,
            at=now,
            actor="system",
            action="outbox_gave_up",
            subject=f"outbox:{message.id}",
            detail={
                "kind": message.kind,
                "destination": message.destination,
                "attempts": message.attempts,
                "error": error[:512],
            },
        )
        return _Outcome("failed", message.attempts, error[:512])
    message.last_error = error[:512]
    first, maximum = backoff
    message.next_attempt_at = now + backoff_seconds(message.attempts, first=first, maximum=maximum)
    if message.kind == ASP_NOTIFICATION and not destination_up:
        _back_off_destination(session, message, now=now)
    return _Outcome("retry", message.attempts, error[:512])


def claim_seconds(app: Flask) -> int:
    """How long a claimed row stays claimed (``OUTBOX_CLAIM_SECONDS``, default 120)."""
    return int(app.config.get("OUTBOX_CLAIM_SECONDS") or CLAIM_SECONDS)


def _back_off_destination(session: Session, failed: OutboxMessage, *, now: int) -> None:
    """Defer the other due notifications to ``failed``'s notify URI until its next try.

    Only pushes times forward, so a row another worker has claimed keeps its claim.  The
    deferred rows keep their attempt count: they were not tried.
    """
    session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.kind == ASP_NOTIFICATION,
            OutboxMessage.destination == failed.destination,
            OutboxMessage.id != failed.id,
            OutboxMessage.sent_at.is_(None),
            OutboxMessage.failed_at.is_(None),
            OutboxMessage.next_attempt_at < failed.next_attempt_at,
        )
        .values(next_attempt_at=failed.next_attempt_at)
        .execution_options(synchronize_session=False)
    )


def _send(app: Flask, message: OutboxMessage) -> str | None:
    """Send one message; None when done, else why not (the caller schedules a retry)."""
    try:
        payload = open_payload(app, message)
    except SealError as exc:
        return f"permanent: {exc}"
    if message.kind == EMAIL:
        try:
            mail = compose(
                to=message.destination,
                subject=payload["subject"],
                text=payload["text"],
                sender=mail_from(app),
            )
            mail.replace_header("Message-ID", mail_message_id(app, message.id))
            notifier_for(app).send(mail)
        except NotifierError as exc:
            return ("permanent: " if exc.permanent else "") + str(exc)
        except Exception as exc:  # a utility's notifier broke its contract: retry, counted
            return f"notifier failed: {type(exc).__name__}: {exc}"
        return None
    if message.kind == SMS:
        try:
            sms_sender_for(app).send(
                message.destination, payload["text"], sms_message_key(app, message.id)
            )
        except SmsError as exc:
            return ("permanent: " if exc.permanent else "") + str(exc)
        except Exception as exc:  # a utility's sender broke its contract: retry, counted
            return f"SMS sender failed: {type(exc).__name__}"
        return None
    if message.kind == ASP_NOTIFICATION:
        try:
            response = outbound.post(
                message.destination,
                batch_list_xml(payload["resources"]),
                {
                    "Content-Type": "application/atom+xml",
                    NOTIFICATION_ID_HEADER: notification_key(app, message.id),
                },
                allow_loopback=bool(app.config["NOTIFY_ALLOW_LOOPBACK"]),
                connect_timeout=float(app.config["NOTIFY_CONNECT_TIMEOUT"]),
                read_timeout=float(app.config["NOTIFY_READ_TIMEOUT"]),
            )
        except (outbound.DestinationRefused, InvalidIPAddress) as exc:  # never contacted
            return f"permanent: POST {message.destination} refused: {exc}"
        except (requests.RequestException, outbound.DestinationUnresolved) as exc:
            return f"POST {message.destination}: {type(exc).__name__}: {exc}"
        if 200 <= response.status_code < 300:
            return None
        if 300 <= response.status_code < 400:
            return f"POST {message.destination}: HTTP {response.status_code} (redirects are not followed)"
        return f"POST {message.destination}: HTTP {response.status_code}"
    return f"unknown outbox message kind {message.kind!r}"
