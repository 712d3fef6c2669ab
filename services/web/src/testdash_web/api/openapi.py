"""The OpenAPI 3.1 document, built from the schema table so it cannot drift from the responses."""

from __future__ import annotations

from functools import cache
from typing import Any

from testdash_models.models.ingest import QUEUE_STATES, RUN_STATUSES
from testdash_models.models.results import RESULT_STATUSES

from testdash_web.api.openapi_trends import TRENDS_PATHS
from testdash_web.api.openapi_write import SECURITY_SCHEMES, WRITE_PATHS, WRITE_SCHEMAS
from testdash_web.api.schema import OBJECTS, object_schema
from testdash_web.filters import MAX_TEXT, SORT_CHOICES, TEXT_FILTERS
from testdash_web.paging import BIGINT, MAX_LIMIT
from testdash_web.queries.clusters import MAX_DAYS
from testdash_web.queries.compare import CATEGORIES

INT64 = {"type": "integer", "format": "int64", "minimum": -BIGINT, "maximum": BIGINT - 1}
TEXT = {"type": "string", "maxLength": MAX_TEXT}
WHEN = {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}


def ref(name: str) -> dict[str, str]:
    """A reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def query(name: str, schema: dict[str, Any], description: str, required: bool = False) -> Any:
    """A query parameter."""
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


def path_id(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A path parameter holding an id."""
    return {"name": name, "in": "path", "required": True, "schema": schema}


PAGING = [
    query("cursor", {"type": "string", "maxLength": 1000}, "next_cursor of the previous page"),
    query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, "page size (50)"),
]
RUN_FILTERS = [
    *(query(n, TEXT, f"exact {n}" if n != "tag" else "run_tag or user_tag") for n in TEXT_FILTERS),
    query("status", {"type": "string", "enum": list(RUN_STATUSES)}, "run status"),
    query("since", WHEN, "runs started at or after (a date is its midnight UTC)"),
    query("until", WHEN, "runs started before (a date includes that whole day, UTC)"),
    query("sort", {"type": "string", "enum": list(SORT_CHOICES)}, "'-' for descending"),
]
SERVER_FILTER = [query("server", TEXT, "only runs on this server")]
LIMIT = query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, "how many (100)")


def page_of(item: str) -> dict[str, Any]:
    """A page of ITEM objects."""
    return {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": ref(item)},
            "next_cursor": {"type": ["string", "null"]},
        },
        "required": ["items", "next_cursor"],
        "additionalProperties": False,
    }


def strict(properties: dict[str, Any]) -> dict[str, Any]:
    """An object with exactly these (required) properties."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def extended(name: str, extra: dict[str, Any]) -> dict[str, Any]:
    """The table object NAME with EXTRA properties."""
    base = object_schema(OBJECTS[name])
    return strict({**base["properties"], **extra})


def operation(summary: str, body: dict[str, Any], params: list[Any], not_found: bool) -> Any:
    """A GET answering BODY, 400 on a bad parameter and, for ids, 404."""
    responses: dict[str, Any] = {
        "200": {"description": "OK", "content": {"application/json": {"schema": body}}},
        "400": {"description": "A parameter is invalid", "content": ERROR},
    }
    if not_found:
        responses["404"] = {"description": "No such object", "content": ERROR}
    return {"get": {"summary": summary, "parameters": params, "responses": responses}}


NULL = {"type": "null"}
ERROR = {"application/json": {"schema": ref("Error")}}
RUN_ID = [path_id("run_id", {"type": "integer", "minimum": 0, "maximum": BIGINT - 1})]
TEST_ID = [path_id("test_id", INT64)]
TREND = strict(
    {
        "run_id": {"type": "integer"},
        "started_at": {"type": ["string", "null"], "format": "date-time"},
        "pass_rate": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
    }
)
SCHEMAS: dict[str, Any] = {
    **{name: object_schema(fields) for name, fields in OBJECTS.items()},
    # Open to extra members: the write side's errors add details (retry_after, ...).
    "Error": {
        "type": "object",
        "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
        "required": ["error", "message"],
    },
    "ServerOverview": extended(
        "Server",
        {
            "stale": {"type": "boolean"},
            "latest_run": {"anyOf": [ref("RunSummary"), NULL]},
            "trend": {"type": "array", "items": TREND},
        },
    ),
    "IngestServer": extended("Server", {"stale": {"type": "boolean"}}),
    "Flakiness": extended("FlakyTest", {"evidence": {"type": "array", "items": ref("Execution")}}),
    "Comparison": strict(
        {
            "base": ref("Run"),
            "head": ref("Run"),
            "counts": strict({c: {"type": "integer"} for c in CATEGORIES}),
            "changes": strict({c: {"type": "array", "items": ref("Change")} for c in CATEGORIES}),
            "slower_factor": {"type": "number"},
            "slower_seconds": {"type": "number"},
        }
    ),
    **WRITE_SCHEMAS,
}
PATHS: dict[str, Any] = {
    "/servers": operation(
        "Servers with latest run and trend",
        strict({"items": {"type": "array", "items": ref("ServerOverview")}}),
        [],
        False,
    ),
    "/runs": operation("Runs, filtered and sorted", page_of("Run"), RUN_FILTERS + PAGING, False),
    "/runs/{run_id}": operation(
        "One run with its files and failed attempts",
        strict(
            {
                "run": ref("Run"),
                "files": {"type": "array", "items": ref("File")},
                "failures": {"type": "array", "items": ref("Result")},
            }
        ),
        RUN_ID,
        True,
    ),
    "/runs/{run_id}/results": operation(
        "Every result (attempt) of a run",
        page_of("Result"),
        [*RUN_ID, query("status", {"type": "string", "enum": list(RESULT_STATUSES)}, ""), *PAGING],
        True,
    ),
    "/tests/{test_id}": operation(
        "A test and the run where it started failing",
        strict({"test": ref("Test"), "failing_since": {"anyOf": [ref("HistoryEntry"), NULL]}}),
        TEST_ID + SERVER_FILTER,
        True,
    ),
    "/tests/{test_id}/history": operation(
        "A test's final results across runs, newest first",
        page_of("HistoryEntry"),
        TEST_ID + SERVER_FILTER + PAGING,
        True,
    ),
    "/search/tests": operation(
        "Tests whose name contains q",
        page_of("Test"),
        [query("q", {"type": "string", "minLength": 3, "maxLength": MAX_TEXT}, "", True), *PAGING],
        False,
    ),
    "/ingest": operation(
        "Ingest status: servers, queue, jobs, rejected files",
        strict(
            {
                "servers": {"type": "array", "items": ref("IngestServer")},
                "queue_counts": strict({state: {"type": "integer"} for state in QUEUE_STATES}),
                "queue": {"type": "array", "items": ref("QueueItem")},
                "jobs": {"type": "array", "items": ref("IngestJob")},
                "rejected_files": {"type": "array", "items": ref("RejectedFile")},
            }
        ),
        [],
        False,
    ),
    "/ingest/queue": operation(
        "Queue items",
        page_of("QueueItem"),
        [query("state", {"type": "string", "enum": list(QUEUE_STATES)}, ""), *PAGING],
        False,
    ),
    "/flaky": operation(
        "Flaky tests by impact (docs/analytics.md)",
        strict({"items": {"type": "array", "items": ref("FlakyTest")}}),
        [*(query(n, TEXT, f"only this {n}") for n in ("server", "run_tag", "branch")), LIMIT],
        False,
    ),
    "/tests/{test_id}/flakiness": operation(
        "A test's flakiness per server + run_tag (+ branch), with the runs that prove it",
        strict({"items": {"type": "array", "items": ref("Flakiness")}}),
        TEST_ID + SERVER_FILTER,
        True,
    ),
    "/runs/{run_id}/compare": operation(
        "A run against the previous run of its server + run_tag (+ branch)",
        ref("Comparison"),
        RUN_ID,
        True,
    ),
    "/runs/{base_id}/compare/{head_id}": operation(
        "What changed from the base run to the head run",
        ref("Comparison"),
        [path_id(n, RUN_ID[0]["schema"]) for n in ("base_id", "head_id")],
        True,
    ),
    "/clusters": operation(
        "Failure clusters of the last days, most failures first",
        page_of("Cluster"),
        [
            *SERVER_FILTER,
            query("days", {"type": "integer", "minimum": 1, "maximum": MAX_DAYS}, "(14)"),
            *PAGING,
        ],
        False,
    ),
    "/clusters/{fingerprint}": operation(
        "A failure cluster and its failures, newest run first",
        strict({"cluster": ref("Cluster"), "failures": page_of("ClusterFailure")}),
        [path_id("fingerprint", INT64), *PAGING],
        True,
    ),
    "/ingest/jobs": operation("Ingest jobs", page_of("IngestJob"), PAGING, False),
    "/ingest/rejected-files": operation("Rejected files", page_of("RejectedFile"), PAGING, False),
    **TRENDS_PATHS,
    **WRITE_PATHS,
}


@cache
def document() -> dict[str, Any]:
    """The whole document (paths relative to the server URL ``/api/v1``)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "testdash",
            "version": "1",
            "description": "Test results; uploads and run-now need a bearer token.",
        },
        "servers": [{"url": "/api/v1"}],
        "paths": PATHS,
        "components": {"schemas": SCHEMAS, "securitySchemes": SECURITY_SCHEMES},
    }
