"""Sending email, when the instance has an SMTP server configured (FLAGPAL_MAIL_*).

A small server may have no mail at all, so nothing depends on a message arriving:
without mail, or when sending fails, an invitation link is shown to the owner instead
(and then proves nothing about the address: see core/accounts.py).
"""

import smtplib
from email.message import EmailMessage

from flask import current_app


def configured() -> bool:
    return bool(current_app.config.get("MAIL_SERVER"))


def send(to: str, subject: str, body: str) -> bool:
    """Send a plain-text message; False (and a log line) if it could not be sent."""
    config = current_app.config
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    try:
        with smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=10) as smtp:
            if config["MAIL_STARTTLS"]:
                smtp.starttls()
            if config.get("MAIL_USERNAME"):
                smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        current_app.logger.warning("Could not send mail to %s: %s", to, error)
        return False
    except Exception:
        # Whatever went wrong, the caller has already saved what the mail was about
        # (an invitation) and shows its link instead; the error is for the log.
        current_app.logger.exception("Could not send mail to %s", to)
        return False
    return True
