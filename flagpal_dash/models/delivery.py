"""What goes out or runs by itself: jobs, failed and queued mail, expiry notices,
webhooks and their deliveries."""

from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    Index,
    String,
    Text,
    types,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime
from .projects import Project


class JobRun(db.Model):
    """One job that runs by itself (core/jobs.py): which period it last ran for, who
    holds it while it runs, and how its last run ended. One row a job, claimed with a
    conditional UPDATE, so one server of many runs it each period."""

    __tablename__ = "job_runs"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    # The start of the period the last run was for: nothing runs again in that period.
    period_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # While a run holds the job; a run that died frees it when this passes.
    running_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    runner: Mapped[str | None] = mapped_column(String(200))
    runs: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # "ok" or "failed", and what the run did or why it failed, in a line.
    outcome: Mapped[str | None] = mapped_column(String(10))
    summary: Mapped[str | None] = mapped_column(String(400))
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MailFailure(db.Model):
    """A message that could not be sent (mail.py), for the admin's Mail page: when, to
    whom, what about and why, kept 30 days (core/mail_failures.py). Never the body:
    invitation and password reset mails carry secret links."""

    __tablename__ = "mail_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(200))
    # Why, in a line of plain words (mail.NotSent.reason).
    error: Mapped[str] = mapped_column(String(500))


class ExpiryNotice(db.Model):
    """A token's owners were told it expires within ``days`` days (core/notices.py). The
    row is the decision: whoever inserts it first (INSERT … ON CONFLICT DO NOTHING)
    sends that notice, so each is sent once whatever runs the job again."""

    __tablename__ = "expiry_notices"

    token_id: Mapped[int] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="CASCADE"), primary_key=True
    )
    days: Mapped[int] = mapped_column(primary_key=True)
    noticed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutgoingMail(db.Model):
    """A mail waiting to be sent, sent, or given up (core/outbox.py). Queued in the
    transaction of what it tells of, sent afterwards by whichever process claims it.
    Never holds a secret: no token value, no link that signs anyone in (a password reset
    mail's link is made when it is sent)."""

    __tablename__ = "outgoing_mails"
    __table_args__ = (Index(None, "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    to: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    # "waiting" (to be sent at next_attempt_at), "sent" or "given up".
    status: Mapped[str] = mapped_column(String(10))
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # While a process sends it; a process that died frees it when this passes.
    sending_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    # Why the last attempt failed, or why it was given up.
    last_error: Mapped[str | None] = mapped_column(String(500))
    # When it was sent or given up.
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The password reset link a mail carries (core/password_resets.py's ``mailed_link``
    # makes its secret as it is sent). No foreign key: using one link deletes the
    # account's others, and a mail whose link is gone is given up, not sent.
    password_reset_id: Mapped[int | None] = mapped_column()


class Webhook(db.Model):
    """Where a project's events are sent (core/webhooks/): a URL its owners chose, the
    event types it wants, the body's format, on or off.

    Its signing secret is never stored: ``secret_nonce`` is random, and the secret is
    the HMAC of it under the app's secret key, so the database alone never yields it.
    """

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2000))
    # Space-separated event types, or "*" for every type (those added later included).
    events: Mapped[str] = mapped_column(String(400))
    # "json" (FlagPal's payload) or "slack" (a sentence for a Slack incoming webhook).
    format: Mapped[str] = mapped_column(String(10))
    enabled: Mapped[bool] = mapped_column(default=True)
    secret_nonce: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Since when every attempt has failed (None while the last one succeeded); a day of
    # that switches it off, saying why in ``disabled_reason``.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_reason: Mapped[str | None] = mapped_column(String(400))

    project: Mapped[Project] = relationship()


class WebhookDelivery(db.Model):
    """One event on its way to one webhook: the bytes to send (and sign), and how
    sending has gone. Claimed by a conditional UPDATE of ``claimed_until`` before each
    attempt, so of several servers one sends it at a time."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # The owners' list (newest of a webhook), and the deliverer's question (due ones).
        Index(None, "webhook_id", "created_at"),
        Index(None, "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(40))
    # Exactly the body sent, and signed: the event's JSON, or the Slack message's.
    body: Mapped[str] = mapped_column(types.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # "pending" (to be tried at next_attempt_at), "delivered" or "failed" (given up).
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    response_code: Mapped[int | None]
    # Why the last attempt failed, in a short line (never a secret).
    error: Mapped[str | None] = mapped_column(String(300))
    # While an attempt holds it; an attempt that died frees it when this passes.
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    webhook: Mapped[Webhook] = relationship()

    @property
    def status_label(self) -> str:
        """How the Webhooks page names the status: a pending delivery that was tried
        already is being retried."""
        if self.status == "pending":
            return "Retrying" if self.attempts else "Waiting"
        return self.status.capitalize()
