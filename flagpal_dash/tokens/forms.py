from datetime import datetime, timedelta

from flask_wtf import FlaskForm
from wtforms import DateField, RadioField, SelectChoice, SelectMultipleField, StringField, widgets
from wtforms.validators import ValidationError

from .. import abilities as ability
from .. import validation
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
    name = StringField(
        "Name",
        description='Which app and environment uses it, like "Shop backend (production)".',
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
        description="Only used when Expiration is Custom date.",
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
        if not self.is_submitted() and self.expiration.data not in periods + [CUSTOM_DATE]:
            # A default the policy does not allow (a rotation keeping a longer period):
            # start from the longest period offered instead.
            self.expiration.data = periods[-1] if periods else CUSTOM_DATE

    @property
    def earliest_custom_date(self) -> str:
        return (self.now.date() + timedelta(days=1)).isoformat()

    @property
    def latest_custom_date(self) -> str | None:
        """The last day a custom date may be under the project's maximum lifetime (the
        token stops at the end of it); None without a maximum."""
        longest = tokens.longest_expiry(self.project, self.now)
        return None if longest is None else (longest.date() - timedelta(days=1)).isoformat()

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
            raise ValidationError("Enter the date the token should expire, like 2027-01-31.")
        try:
            expires_at = validation.expiry_date(field.data, self.now)
        except Invalid as error:
            raise ValidationError(str(error)) from None
        try:
            tokens.check_expiry(self.project, expires_at, self.now)
        except Invalid as error:
            raise ValidationError(f"{error} Choose {self.latest_custom_date} or earlier.") from None

    def expires_at(self) -> datetime | None:
        """When the token chosen in this (validated) form stops working."""
        if self.expiration.data == NO_EXPIRATION:
            return None
        if self.expiration.data == CUSTOM_DATE:
            return validation.expiry_date(self.custom_date.data, self.now)
        return self.period_expiry(self.expiration.data)


# When the old token stops working after a rotation: (value, label, grace period).
GRACE_PERIODS = [
    ("now", "Immediately", timedelta(0)),
    ("1h", "In 1 hour", timedelta(hours=1)),
    ("24h", "In 24 hours", timedelta(hours=24)),
    ("7d", "In 7 days", timedelta(days=7)),
]


class RotateTokenForm(CreateTokenForm):
    """A replacement's expiry (the old one's period by default) and the old one's grace.
    Name and abilities are the old token's, so those fields are gone."""

    name = None
    abilities = None
    grace = RadioField(
        "The old token stops working",
        choices=[SelectChoice(value, label) for value, label, _ in GRACE_PERIODS],
        default="24h",
        validate_choice=False,
    )

    def __init__(self, project: Project, token, *args, **kwargs):
        kwargs.setdefault("expiration", same_period_choice(tokens.lifetime(token)))
        if kwargs["expiration"] == CUSTOM_DATE:
            kwargs.setdefault("custom_date", (utcnow() + tokens.lifetime(token)).date())
        super().__init__(project, *args, **kwargs)
        self.token = token

    def validate_grace(self, field) -> None:
        if field.data not in {value for value, _, _ in GRACE_PERIODS}:
            raise ValidationError("Choose when the old token stops working from the list.")

    def grace_period(self) -> timedelta:
        return next(period for value, _, period in GRACE_PERIODS if value == self.grace.data)


def same_period_choice(lifetime: timedelta | None) -> str:
    """The expiration option matching a token's lifetime: the same number of days when
    it is one of the options, else a custom date that far ahead."""
    if lifetime is None:
        return NO_EXPIRATION
    days = round(lifetime / timedelta(days=1))
    offered = {choice.value for choice in EXPIRATION_CHOICES}
    return str(days) if str(days) in offered else CUSTOM_DATE
