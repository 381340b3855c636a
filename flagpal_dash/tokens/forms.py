from datetime import date, datetime, timedelta

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    HiddenField,
    RadioField,
    SelectChoice,
    SelectMultipleField,
    StringField,
    widgets,
)
from wtforms.validators import ValidationError

from .. import abilities as ability
from .. import dates, submissions, validation
from ..core import tokens
from ..models import Project, utcnow
from ..validation import FormRule, Invalid

NO_EXPIRATION = "never"
CUSTOM_DATE = "custom"
EXPIRATION_CHOICES = [
    SelectChoice(NO_EXPIRATION, "No expiration"),
    *(SelectChoice(str(days), f"{days} days") for days in (7, 30, 60, 90)),
    SelectChoice(CUSTOM_DATE, "Custom date"),
]


class CheckboxesField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class CreateTokenForm(FlaskForm):
    # Posting the same form twice (a reload of the answer showing the value) is
    # recognised by this key: flagpal_dash/submissions.py.
    submission = HiddenField(filters=[submissions.key_or_new])
    name = StringField(
        "Name",
        # Said before it is typed, and checked by the server: an input's maxlength
        # would cut a pasted name short without a word.
        description=(
            'Which app and environment uses it, like "Shop backend (production)". '
            f"At most {validation.MAX_TOKEN_NAME_LENGTH} characters."
        ),
        validators=[FormRule(validation.token_name)],
    )
    # Unknown values are judged by the rule, whose message does not echo them back.
    abilities = CheckboxesField(
        "Abilities",
        choices=[SelectChoice(value, label) for value, label in ability.LABELS.items()],
        validate_choice=False,
        validators=[FormRule(validation.abilities)],
    )
    expiration = RadioField(
        "Expiration", choices=EXPIRATION_CHOICES, default="30", validate_choice=False
    )
    custom_date = DateField(
        "Expires at the end of (UTC)",
        description="Entering a date chooses Custom date.",
    )

    def __init__(self, project: Project, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project
        self.now = utcnow()
        # Periods beyond the project's maximum lifetime are not offered. A custom date
        # always is: its input's max is the latest day allowed, and a submit is checked.
        self.expiration.choices = [
            choice
            for choice in EXPIRATION_CHOICES
            if choice.value == CUSTOM_DATE or self.policy_allows(self.period_expiry(choice.value))
        ]
        periods = [c.value for c in self.expiration.choices if c.value != CUSTOM_DATE]
        # The option the form opens with; a default the policy does not allow (a
        # rotation keeping a longer period) gives way to the longest period offered.
        self.preselected = kwargs.get("expiration", self.expiration.default)
        if self.preselected not in periods + [CUSTOM_DATE]:
            self.preselected = periods[-1] if periods else CUSTOM_DATE
        self.prefilled_date: date | None = kwargs.get("custom_date")
        self.both_chosen = False
        if not self.is_submitted():
            self.expiration.data = self.preselected
        elif self.expiration.data != CUSTOM_DATE and self.date_typed():
            self.take_typed_date()

    def date_typed(self) -> bool:
        """Whether the person typed a date (not the one the form opened with)."""
        typed = " ".join(self.custom_date.raw_data or ()).strip()
        return bool(typed) and (
            self.custom_date.data is None or self.custom_date.data != self.prefilled_date
        )

    def take_typed_date(self) -> None:
        """A date typed beside another option. Beside the option the form opened with,
        the date is the choice: nothing changes the option when a date is typed without
        JavaScript (with it, typing chooses Custom date and choosing another option
        clears the date), and a person who typed a date means it. Beside an option the
        person chose, the form cannot tell which they meant, so it asks; a date that
        cannot be read is no choice to ask about, and is ignored."""
        if self.expiration.data == self.preselected:
            self.expiration.data = CUSTOM_DATE
        elif self.custom_date.data is not None:
            self.both_chosen = True

    @property
    def earliest_custom_date(self) -> str:
        return validation.earliest_expiry_day(self.now).isoformat()

    @property
    def latest_custom_date(self) -> str:
        """The last day a custom date may be, under the project's maximum lifetime and
        the ten years any token may last (the token stops at the end of it)."""
        longest = tokens.longest_expiry(self.project, self.now)
        return validation.latest_expiry_day(self.now, longest).isoformat()

    def period_expiry(self, value: str) -> datetime | None:
        """When a token stops working with the period option ``value`` (not a custom date)."""
        return None if value == NO_EXPIRATION else self.now + timedelta(days=int(value))

    def policy_allows(self, expires_at: datetime | None) -> bool:
        try:
            tokens.check_expiry(self.project, expires_at, self.now)
        except Invalid:
            return False
        return True

    def validate_expiration(self, field) -> None:
        if field.data not in {choice.value for choice in EXPIRATION_CHOICES}:
            raise ValidationError("Choose one of the expiration options.")
        if self.both_chosen:
            label = next(c.label for c in EXPIRATION_CHOICES if c.value == field.data)
            raise ValidationError(
                f"You chose {label} and also entered {dates.day(self.custom_date.data)}. "
                f"Choose Custom date to use the date, or clear the date to use {label}."
            )
        if field.data != CUSTOM_DATE:
            # Offered or not, the project's maximum lifetime decides (a forged period).
            try:
                tokens.check_expiry(self.project, self.period_expiry(field.data), self.now)
            except Invalid as error:
                raise ValidationError(str(error)) from None

    def validate_custom_date(self, field) -> None:
        # Errors from reading the date only matter when a custom date was chosen.
        field.errors[:] = []
        if self.expiration.data != CUSTOM_DATE:
            return
        if field.data is None:
            raise ValidationError("Pick the date the token should expire.")
        try:
            expires_at = validation.expiry_date(field.data, self.now)
        except Invalid as error:
            raise ValidationError(str(error)) from None
        try:
            tokens.check_expiry(self.project, expires_at, self.now)
        except Invalid as error:
            latest = date.fromisoformat(self.latest_custom_date)
            raise ValidationError(f"{error} Choose {dates.day(latest)} or earlier.") from None

    def expires_at(self) -> datetime | None:
        """When the token chosen in this (validated) form stops working."""
        if self.expiration.data == NO_EXPIRATION:
            return None
        if self.expiration.data == CUSTOM_DATE:
            return validation.expiry_date(self.custom_date.data, self.now)
        return self.period_expiry(self.expiration.data)


class RotateTokenForm(CreateTokenForm):
    """A replacement's expiry (the old one's period by default) and the old one's grace.
    Name and abilities are the old token's, so those fields are gone."""

    name = None
    abilities = None
    grace = RadioField(
        "The old token stops working",
        choices=[SelectChoice(grace.value, grace.label) for grace in tokens.GRACE_PERIODS],
        default=tokens.DEFAULT_GRACE,
        validate_choice=False,
    )

    def __init__(self, project: Project, token, *args, **kwargs):
        expiration, custom_date = same_expiry(token, utcnow())
        kwargs.setdefault("expiration", expiration)
        if kwargs["expiration"] == CUSTOM_DATE:
            kwargs.setdefault("custom_date", custom_date)
        super().__init__(project, *args, **kwargs)
        self.token = token

    def validate_grace(self, field) -> None:
        if tokens.grace_period(field.data) is None:
            raise ValidationError("Choose when the old token stops working from the list.")

    def grace_period(self) -> timedelta:
        return tokens.grace_period(self.grace.data)


def same_expiry(token, now: datetime) -> tuple[str, date | None]:
    """The expiration option (and custom date) a rotation's replacement gets by default.

    A period option keeps its period. A token chosen to expire on a day (it stops at
    a midnight) keeps that day, however late it is rotated: the date the person chose,
    read back by ``validation.last_day``, never the day after. Otherwise the nearest
    number of days when that is one of the options, else a custom date as far ahead
    as the old token lasted.
    """
    lifetime = tokens.lifetime(token)
    if lifetime is None:
        return NO_EXPIRATION, None
    offered = {choice.value for choice in EXPIRATION_CHOICES}
    days = round(lifetime / timedelta(days=1))
    if lifetime == timedelta(days=days) and str(days) in offered:
        return str(days), None
    if validation.is_end_of_day(token.expires_at):
        return CUSTOM_DATE, validation.last_day(token.expires_at)
    if str(days) in offered:
        return str(days), None
    return CUSTOM_DATE, (now + lifetime).date()
