"""The command line's ``mail`` group: ``mail test ADDRESS`` sends a test mail now and says
in plain words how it went, for the day mail is set up (or stops arriving); ``mail
send-queued`` sends the outbox of notices (core/outbox.py) from cron or by hand, for when
no server's delivery thread runs."""

import click
from flask import current_app

from .. import mail as mailer
from .. import validation
from ..core import outbox
from ..models import utcnow
from .base import Group, checked

mail = Group("mail", help="Mail from this instance: send a test mail, send the queued notices.")


@mail.command("test")
@click.argument("address")
def send_test_mail(address: str) -> None:
    """Send a test mail to ADDRESS now, with the FLAGPAL_MAIL_* settings.

    Prints where it went (server, port, security), or why it could not be sent and what
    to check; exits 1 when it was not sent. The password is never printed.
    """
    address = checked(validation.email, address)
    settings = mailer.MailSettings.from_config(current_app.config)
    if settings is None:
        raise click.ClickException(f"{mailer.NOT_CONFIGURED}.")
    try:
        mailer.send_test(address)
    except mailer.NotSent as failure:
        raise click.ClickException(
            f"The test mail to {address} was not sent through {settings.describe()}: "
            f"{failure.reason}.\n{failure.check}"
        ) from None
    click.echo(f"Sent a test mail to {address} through {settings.describe()}.")
    click.echo("It should arrive within a minute; look in the spam folder too.")

@mail.command("send-queued")
def send_queued() -> None:
    """Send the queued notices whose time has come (expiry and leak notices), once each.

    A mail that fails is tried again later (after 1 minute, 5, 30, 2 hours, then every
    6 hours) and given up a day after it was queued. Exits 1 when mail is not
    configured and mails wait."""
    if not mailer.configured():
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
