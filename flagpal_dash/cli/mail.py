"""The command line's ``mail`` group: ``mail test ADDRESS`` sends a test mail now and says
in plain words how it went, for the day mail is set up (or stops arriving)."""

import click
from flask import current_app

from .. import mail as mailer
from .. import validation
from .base import Group, checked

mail = Group("mail", help="Mail from this instance: send a test mail.")


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
