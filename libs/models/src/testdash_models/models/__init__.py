"""The tables: runs and their results, the queue, ingest jobs, API tokens and uploads."""

from testdash_models.models.access import ApiToken
from testdash_models.models.analytics import (
    FlakySeries,
    FlakyTest,
    Quarantine,
    RunRollup,
    TestAlias,
    TestDaily,
)
from testdash_models.models.ingest import File, IngestJob, QueueItem, Run, Server
from testdash_models.models.results import Result, TestCase
from testdash_models.models.uploads import Upload, UploadFile

__all__ = [
    "ApiToken",
    "File",
    "FlakySeries",
    "FlakyTest",
    "IngestJob",
    "Quarantine",
    "QueueItem",
    "Result",
    "Run",
    "RunRollup",
    "Server",
    "TestAlias",
    "TestCase",
    "TestDaily",
    "Upload",
    "UploadFile",
]
