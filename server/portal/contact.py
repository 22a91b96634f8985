"""``/portal/contact``: how the customer wants rate-change passcodes sent (concept design 7.6,
Class 2 authentication) -- by e-mail, or by text message to a mobile number.

The passcode is the customer's proof, through a channel the utility trusts, that they asked
an ASP for a rate change (server/sst/_passcode.py).  Customers without e-mail, or who prefer
their phone, choose SMS here and give the number in E.164 (server/outbox/sms.py,
:func:`e164`); the next passcode goes there (server/sst/_creation.py, ``passcode_channel``),
under the same attempt limits.  Each change is audited (``passcode_channel_changed``, the
number's last digits only).
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from flask import make_response, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import RadioField, StringField
from wtforms.validators import Length, ValidationError

from ..outbox.sms import e164
from ..security import now
from ..storage import db
from ..storage.rows import audit
from . import bp
from .session import current_customer

EMAIL = "email"
SMS = "sms"
_SAVED = "contact_saved"


class ContactForm(FlaskForm):
    channel = RadioField(
        "Send my confirmation codes by",
        choices=[EMAIL, SMS],  # labelled in the template (the e-mail address shown)
        default=EMAIL,
    )
    phone = StringField("Mobile phone number", validators=[Length(max=32)])

    def validate_phone(self, field: StringField) -> None:
        """Required for text messages, and then E.164; optional (but checked) for e-mail."""
        typed = (field.data or "").strip()
        if not typed:
            if self.channel.data == SMS:
                raise ValidationError(
                    "Enter the mobile number to text your codes to, e.g. +1 415 555 0123."
                )
            return
        try:
            field.data = e164(typed)
        except ValueError as error:
            message = str(error)
            raise ValidationError(message[:1].upper() + message[1:] + ".") from None


@bp.route("/contact", methods=["GET", "POST"])
def contact() -> ResponseReturnValue:
    customer = current_customer()
    if customer is None:
        return redirect(url_for("portal.login", next=request.script_root + request.path))
    form = ContactForm()
    if request.method == "GET":
        form.channel.data = customer.passcode_channel or EMAIL
        form.phone.data = customer.phone or ""
    error = None
    if form.validate_on_submit():
        if form.channel.data == EMAIL and not customer.email:
            error = (
                "We have no e-mail address for you, so codes can only go by text message. "
                "Choose Text message and enter your mobile number."
            )
        else:
            before = (customer.passcode_channel, customer.phone)
            customer.passcode_channel = form.channel.data or EMAIL
            customer.phone = form.phone.data or None
            if (customer.passcode_channel, customer.phone) != before:
                audit(
                    db.session,
                    now(),
                    f"customer:{customer.uuid}",
                    "passcode_channel_changed",
                    f"customer:{customer.uuid}",
                    {
                        "channel": customer.passcode_channel,
                        "phone_ends": (customer.phone or "")[-2:] or None,
                    },
                )
            db.session.commit()
            session[_SAVED] = True
            return redirect(url_for("portal.contact"))  # POST/redirect/GET: no resubmission
    elif request.method == "POST":
        error = "Please check the form: " + "; ".join(
            message for messages in form.errors.values() for message in messages
        )
    saved = bool(session.pop(_SAVED, False))
    status = 400 if error else 200
    response = make_response(
        render_template(
            "portal/contact.html",
            customer=customer,
            form=form,
            error=error,
            saved=saved,
        ),
        status,
    )
    response.headers["Content-Security-Policy"] = _CSP
    return response


def _style_hashes() -> str:
    """CSP hashes of base.html's and this page's inline <style> blocks (and nothing else)."""
    folder = Path(__file__).parent / "templates" / "portal"
    hashes = []
    for name in ("base.html", "contact.html"):
        for block in re.findall(r"<style>(.*?)</style>", (folder / name).read_text(), re.DOTALL):
            digest = hashlib.sha256(block.encode()).digest()
            hashes.append(f"'sha256-{base64.b64encode(digest).decode()}'")
    return " ".join(hashes)


_CSP = f"frame-ancestors 'none'; default-src 'self'; style-src 'self' {_style_hashes()}"
