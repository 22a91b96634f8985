"""Telling a customer how their rate change ended, by the channel they chose (issue 13).

The passcode goes by e-mail or text message (concept design 7.6); the outcome that follows
it -- accepted, refused, cancelled with the grant -- must reach the same customer the same
way, or a customer without e-mail who confirmed by SMS never learns what happened.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..outbox.queue import enqueue_email, enqueue_sms
from ..storage.models import RetailCustomer
from ._creation import EMAIL, SMS, passcode_channel


def tell_customer(
    session: Session,
    customer: RetailCustomer,
    *,
    subject: str,
    text: str,
    sms_text: str,
    now: int,
) -> None:
    """Queue ``text`` by e-mail, or ``sms_text`` by SMS, whichever the customer's passcode
    went by; nothing when the utility has neither address."""
    channel = passcode_channel(customer)
    if channel == SMS:
        assert customer.phone
        enqueue_sms(session, to=customer.phone, text=sms_text, now=now)
    elif channel == EMAIL:
        assert customer.email
        enqueue_email(session, to=customer.email, subject=subject, text=text, now=now)
