"""Who may write: API tokens, stored as hashes with their scopes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from testdash_models.extensions import db
from testdash_models.models.types import UTCDateTime, utcnow

TOKEN_SCOPES = ("upload", "admin")


class ApiToken(db.Model):  # type: ignore[name-defined,misc]
    """A named credential; only the SHA-256 of its secret is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    # The secret has 256 bits of entropy, so one unsalted SHA-256 is enough to store it.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def scope_set(self) -> frozenset[str]:
        """The scopes as a set."""
        return frozenset(s for s in self.scopes.split(",") if s)

    def __repr__(self) -> str:
        return f"<ApiToken {self.name} {self.scopes}>"
