"""Limits on guessing passwords (sign-in, invitation acceptance, the current password on
the Account page), on asking for password reset links, and on leaked-token reports.

Only failed attempts count (a form sent back with its errors, status 422; on the
Account page, a wrong current password), per client address and per account; both
buckets are shared by the sign-in page, invitation links and the Account page, so an
attacker gains nothing by switching between them (a stolen session cannot guess the
password there either). Counts live in the app's own database by default
(limit_storage.py), so every worker of every server sharing it counts together; or in
Redis, or in each process's memory (FLAGPAL_RATELIMIT_STORAGE_URI).
"""

import hashlib
import math
import time

from flask import current_app, g, request
from flask_login import current_user

from .core import invitations
from .extensions import limiter
from .models import User


def account_key() -> str:
    """The account an attempt is about: the invitation's address, or the email typed."""
    secret = (request.view_args or {}).get("secret")
    if secret:
        invitation = invitations.invitation_by_secret(secret)
        email = invitation.email if invitation else "unknown invitation"
    else:
        email = User.normalize_email(request.form.get("email", ""))[:254]
    return account_bucket(email)


def signed_in_account_key() -> str:
    """The account whose current password is checked: the signed-in person's."""
    return account_bucket(current_user.email)


def account_bucket(email: str) -> str:
    """The per-account count's key: a digest of the address, not the address. What is
    typed into the email field is sometimes the password, and counts are stored (in the
    database or Redis), where no secret may land."""
    return "account:" + hashlib.sha256(email.encode()).hexdigest()


def failed(response) -> bool:
    return response.status_code == 422


def refuse_password() -> None:
    """Count this request as a failed attempt (a wrong current password)."""
    g.password_refused = True


def password_refused(response) -> bool:
    return g.get("password_refused", False)


def password_guess_limits(key_func, deduct_when):
    """The two limits on guessing a password, per client address and per account
    (``key_func``), counting the requests ``deduct_when`` says failed. Every place that
    checks a password shares these two buckets."""
    return (
        limiter.shared_limit(
            lambda: current_app.config["SIGN_IN_LIMIT"],
            scope="sign-in-address",
            methods=["POST"],
            deduct_when=deduct_when,
        ),
        limiter.shared_limit(
            lambda: current_app.config["SIGN_IN_ACCOUNT_LIMIT"],
            scope="sign-in-account",
            key_func=key_func,
            methods=["POST"],
            deduct_when=deduct_when,
        ),
    )


per_address, per_account = password_guess_limits(account_key, failed)
# The Account page's current-password check: the signed-in account, a wrong password.
password_check_per_address, password_check_per_account = password_guess_limits(
    signed_in_account_key, password_refused
)


def count_reset_request() -> None:
    """Count this request as a request for a password reset link."""
    g.reset_requested = True


def reset_requested(response) -> bool:
    return g.get("reset_requested", False)


# "Forgot your password?": every request counts, not only failed ones (each may send a
# mail), per client address and per address typed, so nobody can fill a mailbox with
# links or probe addresses faster than they could guess passwords. Buckets of their own:
# asking for a link is no failed sign-in.
reset_requests_per_address = limiter.shared_limit(
    lambda: current_app.config["SIGN_IN_LIMIT"],
    scope="password-reset-address",
    methods=["POST"],
    deduct_when=reset_requested,
)
reset_requests_per_account = limiter.shared_limit(
    lambda: current_app.config["SIGN_IN_ACCOUNT_LIMIT"],
    scope="password-reset-account",
    key_func=account_key,
    methods=["POST"],
    deduct_when=reset_requested,
)

# Every leaked-token report counts, well-formed or not: the endpoint is public.
leak_reports_per_address = limiter.limit(
    lambda: current_app.config["LEAK_REPORT_LIMIT"], scope="leak-report-address"
)


def retry_after() -> int:
    """Seconds until every limit that was hit lets the next attempt through."""
    breached = [limit for limit in limiter.current_limits if limit.breached]
    if not breached:
        return 60
    return max(1, math.ceil(max(limit.reset_at for limit in breached) - time.time()))


def retry_in() -> str:
    """When every limit that was hit lets the next attempt through, in words."""
    seconds = retry_after()
    if seconds < 90:
        return f"{seconds} seconds"
    return f"{math.ceil(seconds / 60)} minutes"  # up: a wait that is enough
