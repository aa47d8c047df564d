"""Run ids: ``<name>-<yyyymmdd-hhmmss>-<4 hex>`` (CONTRACTS §7), the time in UTC from the injected clock."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timezone

RUN_ID = re.compile(r"^(?P<name>[a-z0-9-]{1,40})-(?P<stamp>\d{8}-\d{6})-(?P<tag>[0-9a-f]{4})$")


def new_run_id(name: str, now: datetime, tag: str | None = None) -> str:
    stamp = now.astimezone(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{name}-{stamp}-{tag or secrets.token_hex(2)}"


def is_run_id(text: str) -> bool:
    return bool(RUN_ID.match(text))
