"""OpenAPI entries of ``api/trends.py`` (trends, rankings, quarantine, aliases)."""

from __future__ import annotations

from typing import Any

from testdash_web.filters import MAX_TEXT
from testdash_web.paging import BIGINT, MAX_LIMIT
from testdash_web.queries.trends import GROUPS, KINDS
from testdash_web.views.trends import MAX_DAYS

TEXT = {"type": "string", "maxLength": MAX_TEXT}
ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _strict(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def _get(summary: str, body: dict[str, Any], params: list[Any], not_found: bool = False) -> Any:
    responses: dict[str, Any] = {
        "200": {"description": "OK", "content": {"application/json": {"schema": body}}},
        "400": {"description": "A parameter is invalid", "content": ERROR},
    }
    if not_found:
        responses["404"] = {"description": "No such object", "content": ERROR}
    return {"get": {"summary": summary, "parameters": params, "responses": responses}}


DAYS = _query("days", {"type": "integer", "minimum": 1, "maximum": MAX_DAYS}, "window (30)")
FILTERS = [_query(n, TEXT, f"only this {n}") for n in ("server", "run_tag", "branch")]
ZONE = _query("tz", {"type": "string", "maxLength": 64}, "IANA zone days are cut in")
TEAM = _query("team", TEXT, "only tests this team owns (OWNERS_FILE)")
TEST_ID = {
    "name": "test_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "format": "int64", "minimum": -BIGINT, "maximum": BIGINT - 1},
}
SERIES = _strict(
    {
        "server": {"type": "string"},
        "run_tag": {"type": ["string", "null"]},
        "all_tags": {"type": "boolean"},
        "points": {"type": "array", "items": _ref("TrendPoint")},
    }
)
GROUP = _query(
    "group",
    {"type": "string", "enum": list(GROUPS)},
    "(server: one series per server across its run tags, run_tag: per server and run tag; "
    "default run_tag when a server or run_tag is given, else server)",
)
TRENDS_PATHS: dict[str, Any] = {
    "/trends": _get(
        "Per server (or per server and run_tag), day by day in a time zone (from roll-ups)",
        _strict(
            {
                "tz": {"type": "string"},
                "days": {"type": "integer"},
                "group": {"type": "string", "enum": list(GROUPS)},
                "series": {"type": "array", "items": SERIES},
            }
        ),
        [*FILTERS, DAYS, ZONE, GROUP],
    ),
    "/trends/tests": _get(
        "Most failing, slowest or flakiest tests over the last days (UTC days)",
        _strict(
            {
                "kind": {"type": "string", "enum": list(KINDS)},
                "days": {"type": "integer"},
                "items": {"type": "array", "items": _ref("RankedTest")},
            }
        ),
        [
            _query("kind", {"type": "string", "enum": list(KINDS)}, "(failing)"),
            DAYS,
            FILTERS[0],
            TEAM,
            _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, "(50)"),
        ],
    ),
    "/quarantine": _get(
        "Tests muted now on a server and branch (a renamed test under each of its names, "
        "with the mute's id), for CI to skip or ignore",
        _strict({"items": {"type": "array", "items": _ref("MutedTest")}}),
        [FILTERS[0], FILTERS[2], TEAM],
    ),
    "/tests/{test_id}/aliases": _get(
        "Renames into and out of a test",
        _strict(
            {
                "renamed_from": {"type": "array", "items": _ref("Alias")},
                "renamed_to": {"anyOf": [_ref("Alias"), {"type": "null"}]},
            }
        ),
        [TEST_ID],
        True,
    ),
}
