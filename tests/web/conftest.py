"""Fixtures of the web's tests: the read side's app and client (tests/web/readside.py)."""

from tests.web.readside import browse, dash  # noqa: F401
from tests.web.writeside import client, make_web, web  # noqa: F401  (the write side's)
