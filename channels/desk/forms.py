"""The desk's forms (WTForms through Flask-WTF). CSRF is checked for every POST of the
desk by Flask-WTF's CSRFProtect before any view runs, so the forms themselves only read
and validate their fields."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp

DATE = Regexp(r"^\d{4}-\d{2}-\d{2}$")
TIME = Regexp(r"^\d{2}:\d{2}$")


class Form(FlaskForm):
    """A form read from the request; its CSRF token was checked already."""

    class Meta:
        csrf = False


class LoginForm(Form):
    email = StringField(validators=[DataRequired(), Length(max=254)])
    password = PasswordField(validators=[DataRequired(), Length(max=1024)])
    code = StringField(validators=[DataRequired(), Length(max=12)])


class BookForm(Form):
    practitioner = StringField(validators=[DataRequired(), Length(max=32)])
    type = StringField(validators=[DataRequired(), Length(max=32)])
    start = StringField(validators=[Optional(), Length(max=40)])
    name = StringField(validators=[Optional(), Length(max=200)])
    phone = StringField(validators=[Optional(), Length(max=40)])
    lang = StringField(validators=[Optional(), Length(max=8)])


class MoveForm(Form):
    start = StringField(validators=[Optional(), Length(max=40)])
    confirm = StringField(validators=[Optional(), Length(max=8)])


class AbsenceForm(Form):
    practitioner = StringField(validators=[DataRequired(), Length(max=32)])
    start_date = StringField(validators=[DataRequired(), DATE])
    start_time = StringField(validators=[Optional(), TIME])
    end_date = StringField(validators=[DataRequired(), DATE])
    end_time = StringField(validators=[Optional(), TIME])


class RenameForm(Form):
    name = StringField(validators=[DataRequired(), Length(max=200)])


class UserForm(Form):
    email = StringField(validators=[DataRequired(), Length(max=254)])
    role = StringField(validators=[DataRequired(), Length(max=16)])
    practitioner = StringField(validators=[Optional(), Length(max=32)])
    password = PasswordField(validators=[DataRequired(), Length(max=1024)])


class FeedForm(Form):
    practitioner = StringField(validators=[DataRequired(), Length(max=32)])
    initials = BooleanField()
