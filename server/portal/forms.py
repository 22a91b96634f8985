"""The portal's forms (Flask-WTF: every POST carries a CSRF token)."""

from __future__ import annotations

import datetime as dt

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectMultipleField,
    StringField,
)
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length, ValidationError

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


UNTIL_REVOKED = "y"
UNTIL_DATE = "n"
HOW_LONG_ERROR = "Choose how long to share: until you revoke it, or until a date you pick."


class ConsentForm(FlaskForm):
    """What to share, from which service agreements, for how long (concept design 7.2):
    the flow's consent page (Mode 2) and the portal's pre-authorization (Mode 1).

    How long is ONE choice (issue 13: a checkbox "Until I revoke it" beside a date field
    left unclear which won): ``until_revoked`` is ``y`` (until revoked; any date sent is
    ignored) or ``n`` (until the date in ``until``, which must then be valid).  Anything
    else, or nothing, is refused with :data:`HOW_LONG_ERROR` -- never guessed."""

    categories = SelectMultipleField("What to share", choices=[])
    usage_points = SelectMultipleField("Which service agreements", choices=[])
    until = DateField("End date")  # validate_until: checked only when it is used
    until_revoked = RadioField(
        "For how long",
        choices=[
            SelectChoice(UNTIL_REVOKED, "Until I revoke it"),
            SelectChoice(UNTIL_DATE, "Until a date I choose"),
        ],
        default=None,  # the page checks "Until I revoke it"; a POST without a choice is refused
        validate_choice=False,  # validate_until_revoked says what to do instead
    )
    decision = HiddenField()

    def validate_until_revoked(self, field: RadioField) -> None:
        if field.data not in (UNTIL_REVOKED, UNTIL_DATE):
            raise ValidationError(HOW_LONG_ERROR)

    @property
    def how_long_error(self) -> str | None:
        """The first error of the how-long choice (the radio or its date), else None."""
        errors = list(self.until_revoked.errors) + list(self.until.errors)
        return str(errors[0]) if errors else None

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        earliest, latest = end_date_range()  # the browser's date picker offers these only
        self.until.render_kw = {"min": earliest.isoformat(), "max": latest.isoformat()}

    def validate_until(self, field: DateField) -> None:
        """A chosen end date is today or later and within :data:`LONGEST_SHARING_YEARS`.
        A date that does not parse is refused by the field itself; here its message is
        replaced by the same words, which say what to choose."""
        if self.until_revoked.data != UNTIL_DATE:
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
        if self.until_revoked.data != UNTIL_DATE or self.until.data is None:
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
