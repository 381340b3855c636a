"""The command line's ``mail`` group: the outbox of notices (core/outbox.py), sent now
from cron or by hand, for when no server's delivery thread runs."""

import click
from flask import current_app

from .. import mail as mail_settings
from ..core import outbox
from ..models import utcnow
from .base import Group

mail = Group("mail", help="Mail: send the queued notices now.")


@mail.command("send-queued")
def send_queued() -> None:
    """Send the queued notices whose time has come (expiry and leak notices), once each.

    A mail that fails is tried again later (after 1 minute, 5, 30, 2 hours, then every
    6 hours) and given up a day after it was queued. Exits 1 when mail is not
    configured and mails wait."""
    if not mail_settings.configured():
        outbox.send_due(utcnow())  # (gives up those waiting for more than a day)
        waiting = outbox.waiting()
        if waiting:
            raise click.ClickException(
                f"Mail is not configured (FLAGPAL_MAIL_SERVER), so {mails_wait(waiting)}; "
                "each is given up a day after it was queued."
            )
        click.echo("Mail is not configured (FLAGPAL_MAIL_SERVER); no mail waits.")
        return
    sent = outbox.send_due(utcnow())
    waiting = outbox.waiting()
    click.echo(
        f"Sent {sent} mail{'' if sent == 1 else 's'} through {current_app.config['MAIL_SERVER']}; "
        f"{mails_wait(waiting)} for a later attempt."
    )


def mails_wait(count: int) -> str:
    return "1 mail waits" if count == 1 else f"{count} mails wait"
