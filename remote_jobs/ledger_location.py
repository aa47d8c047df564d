"""Where the ledger lives: a SQLite file (the default, nothing to set up) or a team's PostgreSQL database.

Order (CONTRACTS §11): the ``--ledger`` flag (a path or a URL), else ``TUNEPLAN_LEDGER_URL``, else
``TUNEPLAN_LEDGER`` (a path, kept for older setups), else ``ledger_url`` in settings.yaml, else the SQLite file
in the user data folder. URLs: ``sqlite:///relative.sqlite3``, ``sqlite:////absolute/path``,
``postgresql://user@host:5432/db`` (``postgres://`` too; libpq's own parameters such as ``sslmode`` or
``options=-csearch_path%3Dteam`` pass through).

A password never needs to be in a URL: libpq reads ``PGPASSWORD``, ``~/.pgpass`` and service files itself.
When one is in a URL (from the environment), everything that shows the URL shows ``***`` in its place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from providers.secret_urls import mask_url

POSTGRES_SCHEMES = ("postgresql", "postgres")

@dataclass(frozen=True)
class LedgerLocation:
    """A resolved ledger: ``kind`` is ``sqlite`` (``path`` set) or ``postgresql`` (``url`` set)."""

    kind: str
    path: Path | None = None
    url: str | None = None

    @property
    def shown(self) -> str:
        """What messages print: the file, or the URL with its password masked."""
        return str(self.path) if self.path is not None else mask_url(self.url or "")

    @property
    def identity(self) -> str:
        """The same ledger gives the same text on this machine (the file's resolved path; the masked URL)."""
        return str(self.path.resolve()) if self.path is not None else mask_url(self.url or "")

    @property
    def is_team(self) -> bool:
        return self.kind == "postgresql"


def parse_location(text: str | Path) -> LedgerLocation:
    """A path or a ledger URL as a location (``BadInput`` for a scheme tuneplan cannot use)."""
    from planner.errors import BadInput

    if isinstance(text, Path):
        return LedgerLocation("sqlite", path=text)
    raw = text.strip()
    scheme = raw.split("://", 1)[0].lower() if "://" in raw else ""
    if not scheme:
        return LedgerLocation("sqlite", path=Path(raw).expanduser())
    if scheme == "sqlite":
        rest = raw[len("sqlite:///"):] if raw.lower().startswith("sqlite:///") else ""
        if not rest:
            raise BadInput(f"{mask_url(raw)}: a SQLite ledger URL is sqlite:///relative/file or sqlite:////absolute/file")
        return LedgerLocation("sqlite", path=Path(rest).expanduser())
    if scheme in POSTGRES_SCHEMES:
        parts = urlsplit(raw)
        if not parts.hostname and "host=" not in (parts.query or ""):
            raise BadInput(f"{mask_url(raw)}: a PostgreSQL ledger URL names its server, e.g. "
                           "postgresql://user@db.example.com:5432/tuneplan")
        return LedgerLocation("postgresql", url=urlunsplit(parts))
    raise BadInput(f"{mask_url(raw)}: the ledger is a file, a sqlite:/// URL or a postgresql:// URL")


def resolve_location(flag: str | Path | None = None) -> LedgerLocation:
    """The ledger this command uses (see the module docstring for the order)."""
    if flag is not None and str(flag).strip():
        return parse_location(flag if isinstance(flag, Path) and "://" not in str(flag) else str(flag))
    url = os.environ.get("TUNEPLAN_LEDGER_URL", "").strip()
    if url:
        return parse_location(url)
    path = os.environ.get("TUNEPLAN_LEDGER", "").strip()
    if path:
        return parse_location(Path(path))
    configured = _settings_url()
    if configured:
        return parse_location(configured)
    from providers.paths import data_dir

    return LedgerLocation("sqlite", path=data_dir() / "ledger.sqlite3")


def _settings_url() -> str | None:
    """``ledger_url`` from settings.yaml, read without building the whole settings model (every command opens
    the ledger; the settings' own validation reports a bad file where settings are used)."""
    from providers.settings import settings_path

    path = settings_path()
    if not path.is_file():
        return None
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    value = data.get("ledger_url") if isinstance(data, dict) else None
    return str(value) if value else None
