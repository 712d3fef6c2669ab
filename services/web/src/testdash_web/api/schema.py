"""The API's objects as one table: serialisers and OpenAPI schemas come from the same rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from testdash_models.models.ingest import FILE_STATUSES, JOB_OUTCOMES, QUEUE_STATES, RUN_STATUSES
from testdash_models.models.results import RESULT_STATUSES

TYPES: dict[str, dict[str, Any]] = {
    "int": {"type": "integer", "format": "int64"},
    "num": {"type": "number"},
    "str": {"type": "string"},
    "bool": {"type": "boolean"},
    "time": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    "strs": {"type": "array", "items": {"type": "string"}},
}


@dataclass(frozen=True)
class Field:
    """One JSON property: its name, kind (a key of TYPES), nullability and source attribute."""

    name: str
    kind: str
    nullable: bool = False
    source: str | None = None
    enum: tuple[str, ...] | None = None

    def get(self, obj: Any) -> Any:
        """The value from OBJ (dotted source paths follow attributes)."""
        value = obj
        for part in (self.source or self.name).split("."):
            value = getattr(value, part)
        return iso(value) if isinstance(value, datetime) else value

    def schema(self) -> dict[str, Any]:
        """This property's JSON Schema."""
        out = dict(TYPES[self.kind])
        if self.enum:
            out["enum"] = list(self.enum)
        if self.nullable:
            out["type"] = [out["type"], "null"]
            if self.enum:
                out["enum"].append(None)
        return out


def iso(value: datetime | None) -> str | None:
    """A date-time as ISO 8601, or None."""
    return value.isoformat() if value else None


def text(name: str, source: str | None = None) -> Field:
    """A nullable string property."""
    return Field(name, "str", True, source)


def when(name: str, source: str | None = None) -> Field:
    """A nullable date-time property."""
    return Field(name, "time", True, source)


COUNTS = tuple(Field(n, "int") for n in ("total", "passed", "failed", "errors", "skipped", "flaky"))
RUN_SUMMARY = (
    Field("id", "int"),
    Field("run_dir", "str"),
    when("started_at"),
    Field("status", "str", enum=RUN_STATUSES),
    *COUNTS,
)
RUN = (
    *RUN_SUMMARY[:2],
    Field("server", "str", source="server.name"),
    *(text(n) for n in ("owner", "site", "host", "run_tag", "user_tag", "build", "branch")),
    text("commit"),
    when("started_at"),
    when("finished_at"),
    Field("duration", "num", True),
    *RUN_SUMMARY[3:],
    Field("files_accepted", "int"),
    Field("files_rejected", "int"),
    # What the reports said of the zone (docs/formats.md, "Timestamps"): the offset they stated
    # in minutes east of UTC, else the zone their naive times were read in, else neither; and
    # the start and end in that zone, e.g. "2024-05-01T10:00:00+02:00".
    Field("start_utc_offset", "int", True),
    text("start_assumed_zone"),
    when("source_started_at"),
    Field("end_utc_offset", "int", True),
    text("end_assumed_zone"),
    when("source_finished_at"),
)
SERVER = (
    Field("name", "str"),
    text("root"),
    Field("timezone", "str"),
    when("last_scan_at"),
    when("last_ingest_at"),
    when("last_success_at"),
)
FILE = (
    Field("id", "int"),
    Field("run_id", "int"),
    Field("full_name", "str"),
    Field("file_type", "str"),
    Field("file_size", "int"),
    text("format"),
    text("dialect"),
    Field("status", "str", enum=FILE_STATUSES),
    text("reason"),
    Field("reason_line", "int", True),
    *(Field(n, "int") for n in ("results", "tests", "passed", "failed", "errors", "skipped")),
    when("created"),
    when("updated_at"),
)
TEST = (
    Field("id", "int"),
    Field("suite", "str"),
    Field("classname", "str"),
    Field("name", "str"),
)
RESULT = (
    Field("id", "int", source="Result.id"),
    Field("file_id", "int", source="Result.file_id"),
    Field("test_case_id", "int", source="Result.test_case_id"),
    text("suite"),
    text("classname"),
    text("name"),
    Field("ordinal", "int", source="Result.ordinal"),
    Field("status", "str", source="Result.status", enum=RESULT_STATUSES),
    Field("attempt", "int", source="Result.attempt"),
    Field("final", "bool", source="Result.final"),
    Field("flaky", "bool", source="Result.flaky"),
    Field("duration", "num", True, "Result.duration"),
    when("started_at", "Result.started_at"),
    *(text(n, f"Result.{n}") for n in ("message", "type", "trace", "stdout", "stderr")),
)
HISTORY = (
    Field("result_id", "int", source="id"),
    Field("run_id", "int"),
    Field("server", "str"),
    Field("run_dir", "str"),
    when("started_at"),
    text("build"),
    text("branch"),
    Field("status", "str", enum=RESULT_STATUSES),
    Field("attempt", "int"),
    Field("flaky", "bool"),
    Field("duration", "num", True),
    text("type"),
    text("message"),
)
QUEUE_ITEM = (
    Field("id", "int"),
    Field("server", "str", source="server.name"),
    Field("run_dir", "str"),
    Field("state", "str", enum=QUEUE_STATES),
    Field("source", "str"),
    Field("attempts", "int"),
    when("created"),
    when("updated_at"),
    Field("time_to_live", "time"),
    text("last_error"),
)
JOB = (
    Field("id", "int", source="IngestJob.id"),
    text("server"),
    Field("outcome", "str", source="IngestJob.outcome", enum=JOB_OUTCOMES),
    Field("started_at", "time", source="IngestJob.started_at"),
    when("finished_at", "IngestJob.finished_at"),
    *(
        Field(n, "int", source=f"IngestJob.{n}")
        for n in (
            "files_seen",
            "files_new",
            "files_changed",
            "files_unchanged",
            "files_rejected",
            "results_written",
            "runs_ingested",
        )
    ),
    text("error", "IngestJob.error"),
    text("host", "IngestJob.host"),
)
REJECTED_FILE = (
    Field("id", "int", source="File.id"),
    Field("run_id", "int", source="File.run_id"),
    Field("server", "str"),
    Field("full_name", "str", source="File.full_name"),
    Field("file_size", "int", source="File.file_size"),
    text("format", "File.format"),
    text("reason", "File.reason"),
    Field("reason_line", "int", True, "File.reason_line"),
    when("updated_at", "File.updated_at"),
)
FLAKY_TEST = (
    Field("test_case_id", "int"),
    *(text(n) for n in ("suite", "classname", "name")),
    Field("server", "str", source="window.server"),
    text("run_tag", "window.run_tag"),
    text("branch", "window.branch"),
    Field("executions", "int", source="runs"),
    *(Field(n, "int") for n in ("failures", "flips", "retries")),
    *(Field(n, "num") for n in ("failure_rate", "score", "impact")),
    Field("flaky", "bool"),
    Field("rules", "str", source="rule_names"),
)
EXECUTION = (
    Field("run_id", "int"),
    Field("run_dir", "str"),
    when("started_at"),
    Field("status", "str", enum=RESULT_STATUSES),
    Field("attempt", "int"),
    Field("retried", "bool"),
    Field("flipped", "bool"),
)
CHANGE = (
    Field("test_case_id", "int"),
    Field("name", "str"),
    text("classname"),
    Field("base_status", "str", True, enum=RESULT_STATUSES),
    Field("head_status", "str", True, enum=RESULT_STATUSES),
    Field("base_duration", "num", True),
    Field("head_duration", "num", True),
    text("message"),
    Field("base_test_case_id", "int", True),
    Field("base_name", "str", True),
)
CLUSTER = (
    Field("fingerprint", "int"),
    *(Field(n, "int") for n in ("failures", "tests", "servers", "runs")),
    when("first_seen"),
    when("last_seen"),
    text("type"),
    text("message"),
    text("sample_test"),
)
CLUSTER_FAILURE = (
    Field("result_id", "int", source="id"),
    Field("run_id", "int"),
    Field("test_case_id", "int"),
    text("name"),
    text("classname"),
    Field("status", "str", enum=RESULT_STATUSES),
    Field("attempt", "int"),
    text("type"),
    text("message"),
    Field("server", "str"),
    Field("run_dir", "str"),
    when("started_at"),
)
# Trends, rankings, quarantine and aliases (part B: api/trends.py).
TREND_POINT = (
    Field("day", "date", source="iso_day"),
    *(Field(n, "int") for n in ("runs", "total", "passed", "failed", "errors", "skipped", "flaky")),
    Field("pass_rate", "num", True),
    Field("duration", "num"),
    Field("tests", "int"),
)
RANKED_TEST = (
    Field("test_case_id", "int"),
    *(Field(n, "str") for n in ("suite", "classname", "name")),
    *(Field(n, "int") for n in ("executions", "failures", "flaky")),
    Field("failure_rate", "num", True),
    Field("mean_duration", "num", True),
    Field("total_duration", "num"),
    Field("owners", "strs"),
)
MUTED_TEST = (
    Field("id", "int"),
    Field("test_case_id", "int"),
    *(text(n) for n in ("suite", "classname", "name", "server", "branch")),
    Field("reason", "str"),
    Field("created_by", "str"),
    Field("created_at", "time"),
    when("expires_at"),
)
ALIAS = (
    Field("old_id", "int"),
    Field("new_id", "int"),
    Field("effective_from", "time"),
    Field("created_by", "str"),
    Field("created_at", "time"),
)
OBJECTS: dict[str, tuple[Field, ...]] = {
    "RunSummary": RUN_SUMMARY,
    "Run": RUN,
    "Server": SERVER,
    "File": FILE,
    "Test": TEST,
    "Result": RESULT,
    "HistoryEntry": HISTORY,
    "QueueItem": QUEUE_ITEM,
    "IngestJob": JOB,
    "RejectedFile": REJECTED_FILE,
    "FlakyTest": FLAKY_TEST,
    "Execution": EXECUTION,
    "Change": CHANGE,
    "Cluster": CLUSTER,
    "ClusterFailure": CLUSTER_FAILURE,
    "TrendPoint": TREND_POINT,
    "RankedTest": RANKED_TEST,
    "MutedTest": MUTED_TEST,
    "Alias": ALIAS,
}


def dump(fields: tuple[Field, ...], obj: Any) -> dict[str, Any]:
    """OBJ as the JSON object FIELDS describe."""
    return {f.name: f.get(obj) for f in fields}


def object_schema(fields: tuple[Field, ...]) -> dict[str, Any]:
    """The JSON Schema of FIELDS: every property required, nothing else allowed."""
    return {
        "type": "object",
        "properties": {f.name: f.schema() for f in fields},
        "required": [f.name for f in fields],
        "additionalProperties": False,
    }
