"""URLs that may carry a password (a team ledger's ``postgresql://user:password@host/db``): shown with ``***``.

Here, below every front end, because settings (providers) and the ledger (remote_jobs) both mask them, and
nothing a user reads, an error included, may print a password."""

from __future__ import annotations

import re

# user:password@ in a URL's authority; the password may hold any character but '@' and '/'
_PASSWORD = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@]*):(?P<password>[^@/]*)@", re.IGNORECASE)
# password=... among libpq's key=value parameters (in a query string or a DSN)
_PASSWORD_PARAM = re.compile(r"(?i)(password=)[^&\s]*")


def mask_url(text: str) -> str:
    """``text`` with any password in it replaced by ``***`` (user:password@host and password=… both)."""
    masked = _PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _PASSWORD_PARAM.sub(r"\1***", masked)


def has_password(text: str) -> bool:
    return mask_url(text) != text
