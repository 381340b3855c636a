from datetime import datetime, timedelta

from flask_wtf import FlaskForm
from wtforms import DateField, RadioField, SelectChoice, SelectMultipleField, StringField, widgets
from wtforms.validators import ValidationError

from .. import abilities as ability
from .. import validation
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

    @property
    def earliest_custom_date(self) -> str:
        return (self.now.date() + timedelta(days=1)).isoformat()

    def validate_name(self, field) -> None:
        if self.project.has_active_token_named(field.data, self.now):
            raise ValidationError(
                f'An active token is already named "{field.data}". Choose another name, '
                "or revoke the old token first."
            )

    def validate_expiration(self, field) -> None:
        if field.data not in {choice.value for choice in EXPIRATION_CHOICES}:
            raise ValidationError("Choose one of the expiration options.")

    def validate_custom_date(self, field) -> None:
        # Errors from reading the date only matter when a custom date was chosen.
        field.errors[:] = []
        if self.expiration.data != CUSTOM_DATE:
            return
        if field.data is None:
            raise ValidationError("Enter the date the token should expire, like 2027-01-31.")
        try:
            validation.expiry_date(field.data, self.now)
        except Invalid as error:
            raise ValidationError(str(error)) from None

    def expires_at(self) -> datetime | None:
        """When the token chosen in this (validated) form stops working."""
        if self.expiration.data == NO_EXPIRATION:
            return None
        if self.expiration.data == CUSTOM_DATE:
            return validation.expiry_date(self.custom_date.data, self.now)
        return self.now + timedelta(days=int(self.expiration.data))
