"""The portal's forms (Flask-WTF: every POST carries a CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    PasswordField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import DataRequired, Length, Optional


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
    categories = SelectMultipleField("What to share", choices=[])
    usage_points = SelectMultipleField("Which service agreements", choices=[])
    until = DateField("Share until", validators=[Optional()])
    until_revoked = BooleanField("Until I revoke it", default=True)
    decision = HiddenField()


class RevokeForm(FlaskForm):
    authorization = HiddenField(validators=[DataRequired()])
