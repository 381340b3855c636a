"""The Webhooks page under Project Settings, for owners: where the project's token and
member events are sent, each webhook's recent deliveries, Send test, a new secret.
The rules are in core/webhooks/; these views are doors. Every action is a plain
form POST answered with a redirect (the settings pages use no htmx), except the two
that show a secret, which answer with the secret once, never stored by the browser
(as a new token's value: a reload lands on a page saying it cannot be shown again).
"""

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, RadioField, SelectChoice, StringField

from .. import submissions
from ..access import ProjectAccess, project_route
from ..core import webhooks
from ..deliverer import webhook_settings
from ..extensions import db
from ..models import Webhook, utcnow
from ..permissions import Permission
from ..scheduler import runner
from ..tokens.forms import CheckboxesField
from ..validation import Invalid

bp = Blueprint("webhooks", __name__, url_prefix="/projects/<slug>/settings/webhooks")


class EventFields:
    """Which events a webhook is sent, and in what form: the fields both webhook forms
    share (not a form of its own, so nothing posts it alone)."""

    all_events = BooleanField("All events, including kinds added later", default=True)
    # Unknown values are judged by the rule, whose message does not echo them back.
    events = CheckboxesField(
        "Or only these events",
        choices=[SelectChoice(kind, words) for kind, words in webhooks.EVENT_TYPES.items()],
        validate_choice=False,
    )
    format = RadioField(
        "Format",
        choices=[SelectChoice(value, words) for value, words in webhooks.FORMATS.items()],
        default="json",
        validate_choice=False,
        description="Slack message: paste a Slack incoming webhook's address and each "
        "event arrives in its channel as a sentence.",
    )

    def chosen_events(self) -> list[str] | None:
        """None for all events."""
        return None if self.all_events.data else list(self.events.data or [])


class NewWebhookForm(EventFields, FlaskForm):
    # A reload of the page showing the secret is recognised by it (submissions.py).
    submission = HiddenField(filters=[submissions.key_or_new])
    url = StringField(
        "Address (URL)",
        description="Where FlagPal Dash sends each event, like https://example.com/hooks/flagpal.",
    )


class WebhookForm(EventFields, FlaskForm):
    enabled = BooleanField("On: send events to this webhook")

    @classmethod
    def of(cls, webhook: Webhook) -> "WebhookForm":
        form = cls(formdata=None)
        form.all_events.data = webhook.events == webhooks.ALL_EVENTS
        form.events.data = webhooks.events_of(webhook)
        form.format.data = webhook.format
        form.enabled.data = webhook.enabled
        return form


class ButtonForm(FlaskForm):
    """A button's form: only its CSRF token (Send test, Delete)."""


class NewSecretForm(FlaskForm):
    submission = HiddenField(filters=[submissions.key_or_new])


def error_field(form, error: Invalid):
    """The field whose rule ``error`` broke, to show it beside."""
    if isinstance(error, webhooks.AddressInvalid):
        return form.url
    if isinstance(error, webhooks.FormatInvalid):
        return form.format
    return form.events


def settings():
    return webhook_settings(current_app.config)


def project_webhook(access: ProjectAccess, webhook_id: int) -> Webhook:
    """The project's webhook ``webhook_id``; 404 for an unknown id or another project's."""
    webhook = webhooks.webhook_by_id(access.project, webhook_id)
    if webhook is None:
        abort(404)
    return webhook


def list_page(access: ProjectAccess, form: NewWebhookForm, status: int = 200):
    hooks = webhooks.webhooks_of(access.project)
    return render_template(
        "projects/webhooks.html",
        access=access,
        form=form,
        hooks=hooks,
        last=webhooks.last_deliveries(access.project),
        events_of=webhooks.events_of,
        all_events=webhooks.ALL_EVENTS,
        formats=webhooks.FORMATS,
    ), status


def webhook_page(access: ProjectAccess, webhook: Webhook, form: WebhookForm, status: int = 200):
    return render_template(
        "projects/webhook.html",
        access=access,
        webhook=webhook,
        form=form,
        button=ButtonForm(formdata=None),
        secret_form=NewSecretForm(formdata=None),
        deliveries=webhooks.recent_deliveries(webhook),
        shown=webhooks.SHOWN,
        formats=webhooks.FORMATS,
    ), status


def secret_page(access: ProjectAccess, webhook: Webhook, form, secret: str, made: str, status: int):
    """The one answer that shows a webhook's secret: never stored, and its form's key
    remembered, so posting it again leads to ``secret_shown`` instead."""
    submissions.remember(form.submission.data, f"webhook-{made}", webhook.id)
    response = render_template(
        "projects/webhook_secret.html", access=access, webhook=webhook, secret=secret, made=made
    )
    return response, status, {"Cache-Control": "no-store"}


def made_before(access: ProjectAccess, form, made: str):
    """A redirect to ``secret_shown`` for a form posted before in this session, or None."""
    webhook_id = submissions.made_with(form.submission.data, f"webhook-{made}")
    if webhook_id is None:
        return None
    return redirect(
        url_for("webhooks.secret_shown", slug=access.project.slug, webhook_id=webhook_id), 303
    )


@bp.get("")
@project_route(Permission.MANAGE_MEMBERS)
def list_webhooks(access: ProjectAccess):
    """The project's webhooks, with the form to add one."""
    return list_page(access, NewWebhookForm(formdata=None))


@bp.post("")
@project_route(Permission.MANAGE_MEMBERS)
def create_webhook(access: ProjectAccess):
    """Add a webhook and show its secret, this once."""
    form = NewWebhookForm()
    if (again := made_before(access, form, "created")) is not None:
        return again
    if not form.validate_on_submit():
        return list_page(access, form, 422)
    try:
        webhook, secret = webhooks.create(
            access.project,
            form.url.data or "",
            form.chosen_events(),
            form.format.data,
            actor=current_user._get_current_object(),
            now=utcnow(),
            settings=settings(),
        )
    except Invalid as error:
        db.session.rollback()
        field = error_field(form, error)
        field.errors = [*field.errors, str(error)]
        return list_page(access, form, 422)
    db.session.commit()
    return secret_page(access, webhook, form, secret, "created", 201)


@bp.get("/<int:webhook_id>")
@project_route(Permission.MANAGE_MEMBERS)
def webhook(access: ProjectAccess, webhook_id: int):
    """One webhook: what it is sent, its recent deliveries, its buttons."""
    hook = project_webhook(access, webhook_id)
    return webhook_page(access, hook, WebhookForm.of(hook))


@bp.post("/<int:webhook_id>")
@project_route(Permission.MANAGE_MEMBERS)
def save_webhook(access: ProjectAccess, webhook_id: int):
    """Save what the webhook is sent, its format, and whether it is on."""
    hook = project_webhook(access, webhook_id)
    form = WebhookForm()
    if not form.validate_on_submit():
        return webhook_page(access, hook, form, 422)
    try:
        changed = webhooks.change(
            hook,
            form.chosen_events(),
            form.format.data,
            bool(form.enabled.data),
            actor=current_user._get_current_object(),
            now=utcnow(),
        )
    except Invalid as error:
        db.session.rollback()
        field = error_field(form, error)
        field.errors = [*field.errors, str(error)]
        return webhook_page(access, hook, form, 422)
    if changed:
        db.session.commit()
        flash("Webhook saved.", "success")
    else:
        flash("The webhook was already so; nothing changed.", "info")
    return redirect(url_for("webhooks.webhook", slug=access.project.slug, webhook_id=hook.id))


@bp.post("/<int:webhook_id>/test")
@project_route(Permission.MANAGE_MEMBERS)
def send_test(access: ProjectAccess, webhook_id: int):
    """Send a test event now, and say how it went. The owner waits for this one answer
    (at most the attempt's timeout): it is what the button is for."""
    hook = project_webhook(access, webhook_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    delivery = webhooks.send_test(hook, actor=current_user._get_current_object(), now=utcnow())
    db.session.commit()
    outcome = webhooks.deliver(delivery.id, utcnow(), settings(), runner=runner())
    if outcome is None:
        flash("Test event queued; its delivery is listed below.", "info")
    elif outcome.ok:
        flash(f"Test event delivered: the webhook answered {outcome.code}.", "success")
    else:
        flash(f"Test event not delivered: {outcome.error}. It will be tried again.", "error")
    return redirect(url_for("webhooks.webhook", slug=access.project.slug, webhook_id=hook.id))


@bp.post("/<int:webhook_id>/secret")
@project_route(Permission.MANAGE_MEMBERS)
def new_secret(access: ProjectAccess, webhook_id: int):
    """Make a new signing secret (the old one stops at once) and show it, this once."""
    hook = project_webhook(access, webhook_id)
    form = NewSecretForm()
    if (again := made_before(access, form, "renewed")) is not None:
        return again
    if not form.validate_on_submit():
        abort(400)
    secret = webhooks.new_secret(
        hook, actor=current_user._get_current_object(), settings=settings()
    )
    db.session.commit()
    return secret_page(access, hook, form, secret, "renewed", 200)


@bp.get("/<int:webhook_id>/secret")
@project_route(Permission.MANAGE_MEMBERS)
def secret_shown(access: ProjectAccess, webhook_id: int):
    """Where a form that showed a secret, posted again, lands: it was shown once."""
    hook = project_webhook(access, webhook_id)
    return render_template(
        "projects/webhook_secret_shown.html",
        access=access,
        webhook=hook,
        secret_form=NewSecretForm(formdata=None),
    )


@bp.get("/<int:webhook_id>/delete")
@project_route(Permission.MANAGE_MEMBERS)
def confirm_delete(access: ProjectAccess, webhook_id: int):
    """Ask before deleting."""
    hook = project_webhook(access, webhook_id)
    return render_template(
        "projects/webhook_delete.html",
        access=access,
        webhook=hook,
        button=ButtonForm(formdata=None),
    )


@bp.post("/<int:webhook_id>/delete")
@project_route(Permission.MANAGE_MEMBERS)
def delete_webhook(access: ProjectAccess, webhook_id: int):
    """Delete the webhook and its deliveries."""
    hook = project_webhook(access, webhook_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    webhooks.remove(hook, actor=current_user._get_current_object())
    db.session.commit()
    flash("Webhook deleted. Nothing more is sent to it.", "success")
    return redirect(url_for("webhooks.list_webhooks", slug=access.project.slug))
