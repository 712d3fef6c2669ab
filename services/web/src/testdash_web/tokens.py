"""API tokens: made, found and revoked here; ``flask tokens ...`` on the command line."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

import click
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.orm import Session
from testdash_models import db
from testdash_models.models import ApiToken
from testdash_models.models.access import TOKEN_SCOPES
from testdash_models.models.types import utcnow

SECRET_PREFIX = "tdp_"
# last_used_at is a hint, not an audit log: one write a minute per token is plenty.
TOUCH_EVERY = timedelta(minutes=1)


def hash_secret(secret: str) -> str:
    """The stored form of a secret."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(session: Session, name: str, scopes: set[str]) -> tuple[ApiToken, str]:
    """A new token and its secret; the secret is never stored and cannot be shown again."""
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        token_hash=hash_secret(secret),
        prefix=secret[: len(SECRET_PREFIX) + 6],
        scopes=",".join(sorted(scopes)),
    )
    session.add(token)
    session.flush()
    return token, secret


def find_token(session: Session, secret: str) -> ApiToken | None:
    """The live token whose secret this is, or None; last use is recorded."""
    if not secret.startswith(SECRET_PREFIX) or len(secret) > 200:
        return None
    digest = hash_secret(secret)
    token: ApiToken | None = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    # The lookup is by hash already; the constant-time compare keeps it so if that changes.
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    if token.revoked_at is not None:
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > TOUCH_EVERY:
        token.last_used_at = now
        session.commit()
    return token


tokens = AppGroup("tokens", help="Create, list and revoke API tokens.")


@tokens.command("create")
@click.argument("name")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(TOKEN_SCOPES),
    help="upload: push result files; admin: everything, and browser sign-in. Repeatable.",
)
def create_command(name: str, scopes: tuple[str, ...]) -> None:
    """Create a token NAME and print its secret (shown this once only)."""
    if db.session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise click.UsageError(f"a token named {name!r} exists; revoke it or pick another name")
    token, secret = create_token(db.session(), name[:128], set(scopes))
    db.session.commit()
    click.echo(f"created token {token.name!r} with scopes {token.scopes}; its secret:", err=True)
    click.echo(secret)
    click.echo("store it now: only its hash is kept, it cannot be shown again", err=True)


@tokens.command("revoke")
@click.argument("name")
def revoke_command(name: str) -> None:
    """Revoke token NAME: every request and session using it is refused from now on."""
    token = db.session.scalar(select(ApiToken).where(ApiToken.name == name))
    if token is None:
        raise click.UsageError(f"no token named {name!r}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.commit()
    click.echo(f"revoked token {name!r}")


@tokens.command("list")
def list_command() -> None:
    """List tokens: name, prefix, scopes, created, last used, revoked."""
    for token in db.session.scalars(select(ApiToken).order_by(ApiToken.name)):
        when = token.last_used_at.strftime("%Y-%m-%d %H:%M") if token.last_used_at else "never"
        state = f"revoked {token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "active"
        click.echo(
            f"{token.name}\t{token.prefix}...\t{token.scopes}\t"
            f"created {token.created_at:%Y-%m-%d %H:%M}\tlast used {when}\t{state}"
        )
