"""Database URLs: show them without their secrets, and pick the PostgreSQL driver we declare.

Every message and log line that names a store or storage URL goes through ``mask_url`` (the
password becomes ``***``), and every error text that comes back from a driver through
``scrub`` (a driver may echo its connection string). The ``[postgres]`` extra installs
psycopg 3, so a bare ``postgresql://`` URL is opened with it.
"""

from __future__ import annotations

import importlib.util
import re
from urllib.parse import unquote

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

MASK = "***"
POSTGRES_HINT = "install it with pip install 'autolr[postgres]'"

# user:password@ in any scheme://, up to the last @ of the authority (an unencoded @ in a
# password must not leave its tail visible)
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)[^\s/]*(?P<tail>@)")
# password=... in a query string or a libpq keyword/value string
_PASSWORD_KV = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<value>'[^']*'|[^&\s]+)", re.I)


def mask_url(url: str) -> str:
    """``url`` with its password (userinfo or ``password=`` parameter) replaced by ***."""
    text = _USERINFO.sub(rf"\g<head>{MASK}\g<tail>", url)
    return _PASSWORD_KV.sub(rf"\g<head>{MASK}", text)


def _password(url: str) -> str | None:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return None
    secret = parsed.password
    if secret is None:
        value = parsed.query.get("password")
        secret = value if isinstance(value, str) else None
    return str(secret) if secret else None


def scrub(text: str, url: str) -> str:
    """An error message with ``url``'s password removed wherever it appears."""
    secret = _password(url)
    if secret:
        for form in {secret, unquote(secret)}:
            text = text.replace(form, MASK)
    return mask_url(text)


def engine_url(url: str) -> str:
    """The URL to hand to SQLAlchemy: a PostgreSQL URL without a driver gets psycopg 3 (the
    driver of the ``[postgres]`` extra), unless only psycopg2 is installed; ``postgres://``
    (Heroku style, which SQLAlchemy 2 refuses) is read as ``postgresql://``."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return url  # let create_engine raise its own error (which the caller masks)
    if parsed.drivername not in ("postgresql", "postgres"):
        return url
    if _installed("psycopg") or not _installed("psycopg2"):
        return _render(parsed.set(drivername="postgresql+psycopg"))
    return _render(parsed.set(drivername="postgresql"))


def _render(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql", "postgres:"))


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ValueError:  # sys.modules[module] is None: its import was blocked
        return False
