"""The portal's forms (Flask-WTF: every POST carries a CSRF token)."""

from __future__ import annotations

import datetime as dt

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    PasswordField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import DataRequired, Length, Optional, ValidationError

LONGEST_SHARING_YEARS = 10
"""A chosen end date lies no later than 31 December of the year this many years ahead.

Longer is what "Until I revoke it" is for; a bound keeps every date far from the end of the
calendar (9999-12-31 overflowed into a 500, issue 11 item 15) and from dates no one means."""


class LoginForm(FlaskForm):
    username = StringField("User name", validators=[DataRequired(), Length(max=120)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=256)])
    next = HiddenField()


class SecondFactorForm(FlaskForm):
    code = StringField(
        "Code from your authenticator app", validators=[DataRequired(), Length(min=6, max=8)]
    )
    next = HiddenField()


class ConsentForm(FlaskForm):
    """What to share, from which service agreements, for how long (concept design 7.2):
    the flow's consent page (Mode 2) and the portal's pre-authorization (Mode 1)."""

    categories = SelectMultipleField("What to share", choices=[])
    usage_points = SelectMultipleField("Which service agreements", choices=[])
    until = DateField("Share until", validators=[Optional()])
    until_revoked = BooleanField("Until I revoke it", default=True)
    decision = HiddenField()

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        earliest, latest = end_date_range()  # the browser's date picker offers these only
        self.until.render_kw = {"min": earliest.isoformat(), "max": latest.isoformat()}

    def validate_until(self, field: DateField) -> None:
        """A chosen end date is today or later and within :data:`LONGEST_SHARING_YEARS`.
        A date that does not parse is refused by the field itself; here its message is
        replaced by the same words, which say what to choose."""
        if self.until_revoked.data:
            field.errors[:] = []  # the date is not used: nothing to complain about
            return
        earliest, latest = end_date_range()
        if field.data is None or not earliest <= field.data <= latest:
            field.errors[:] = []
            raise ValidationError(
                f"Choose an end date from {earliest:%B} {earliest.day}, {earliest.year} "
                f"to {latest:%B} {latest.day}, {latest.year}, or choose Until I revoke it."
            )

    def ends_at(self) -> int | None:
        """The grant's end: the first second after the chosen day (UTC), or None for
        until revoked.  Only after a successful ``validate()``."""
        if self.until_revoked.data or self.until.data is None:
            return None
        end_day = self.until.data + dt.timedelta(days=1)
        return int(dt.datetime.combine(end_day, dt.time(), dt.UTC).timestamp())


def end_date_range(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The end dates a customer may choose: today (UTC; the grant then ends tonight) to
    31 December, :data:`LONGEST_SHARING_YEARS` years ahead."""
    today = today or dt.datetime.now(dt.UTC).date()
    return today, dt.date(today.year + LONGEST_SHARING_YEARS, 12, 31)


class RevokeForm(FlaskForm):
    authorization = HiddenField(validators=[DataRequired()])
