"""Test ownership from a CODEOWNERS-style file: ``pattern team...``, the last match wins.

A pattern is matched, case-sensitively, against ``suite/classname/name``; ``*``
matches any run of characters (``/`` included) and ``?`` one character. The same
rule set becomes a SQL CASE, so lists filter by team in the database.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, case, false, literal
from testdash_models.models import TestCase

EXTENSION = "testdash_owners"


@dataclass(frozen=True, slots=True)
class Rule:
    """One line of the owners file."""

    pattern: str
    teams: tuple[str, ...]

    def regex(self) -> re.Pattern[str]:
        """The pattern as an anchored regular expression."""
        parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in self.pattern)
        return re.compile("".join(parts), re.DOTALL)


def parse(text: str) -> list[Rule]:
    """The rules of an owners file, in file order; blank lines and ``#`` comments skipped."""
    rules = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split() if not line.lstrip().startswith("#") else []
        if words:
            rules.append(Rule(words[0], tuple(words[1:])))
    return rules


def rules() -> list[Rule]:
    """This app's rules, re-read when the file (``OWNERS_FILE``) changes."""
    path = current_app.config.get("OWNERS_FILE") or ""
    if not path:
        return []
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError:
        current_app.logger.warning("OWNERS_FILE %s cannot be read", path)
        return []
    cached: tuple[str, int, list[Rule]] | None = current_app.extensions.get(EXTENSION)
    if cached is None or cached[:2] != (path, stamp):
        with open(path, encoding="utf-8") as fh:
            cached = (path, stamp, parse(fh.read()))
        current_app.extensions[EXTENSION] = cached
    return cached[2]


def owners_of(suite: str | None, classname: str | None, name: str | None) -> tuple[str, ...]:
    """The teams owning a test (empty when none does)."""
    path = f"{suite or ''}/{classname or ''}/{name or ''}"
    for rule in reversed(rules()):
        if rule.regex().fullmatch(path):
            return rule.teams
    return ()


def teams() -> list[str]:
    """Every team named in the rules."""
    return sorted({team for rule in rules() for team in rule.teams})


def _matches(rule: Rule, path: ColumnElement[str], dialect: str) -> ColumnElement[bool]:
    if dialect == "sqlite":  # LIKE ignores case there; GLOB does not
        glob = rule.pattern.replace("[", "[[]")
        return path.op("GLOB")(literal(glob))
    like = re.sub(r"([\\%_])", r"\\\1", rule.pattern).replace("*", "%").replace("?", "_")
    return path.like(literal(like), escape="\\")


def team_clause(team: str, dialect: str, test: Any = TestCase) -> ColumnElement[bool]:
    """SQL that is true for tests (columns of TEST) whose winning rule names TEAM."""
    found = rules()
    wanted = [i for i, rule in enumerate(found) if team in rule.teams]
    if not wanted:
        return false()
    path = test.suite + "/" + test.classname + "/" + test.name
    winner = case(
        *((_matches(rule, path, dialect), i) for i, rule in reversed(list(enumerate(found)))),
        else_=-1,
    )
    return winner.in_(wanted)
