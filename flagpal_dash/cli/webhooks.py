"""The command line's ``webhooks`` group: send the webhook deliveries that are due now,
for those who run without the deliverer's thread (``FLAGPAL_DELIVERIES=off``), from
cron or a systemd timer every minute."""

import click
from flask import current_app

from ..core import webhooks as webhook_rules
from ..deliverer import webhook_settings
from ..models import utcnow
from ..scheduler import runner
from .base import Group

webhooks = Group("webhooks", help="Webhook deliveries: send those that are due now.")


@webhooks.command("deliver")
def deliver() -> None:
    """Attempt every webhook delivery that is due, once, and say how many. Servers whose
    deliverer's thread is on send them too: each delivery is claimed, so none is sent
    twice at once."""
    attempted = webhook_rules.deliver_due(
        utcnow(), webhook_settings(current_app.config), runner=runner()
    )
    click.echo(f"Attempted {attempted} webhook {'delivery' if attempted == 1 else 'deliveries'}.")
