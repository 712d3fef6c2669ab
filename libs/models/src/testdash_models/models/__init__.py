"""The tables: runs and their results, the queue, ingest jobs, API tokens and uploads."""

from testdash_models.models.access import ApiToken
from testdash_models.models.ingest import File, IngestJob, QueueItem, Run, Server
from testdash_models.models.results import Result, TestCase
from testdash_models.models.uploads import Upload, UploadFile

__all__ = [
    "ApiToken",
    "File",
    "IngestJob",
    "QueueItem",
    "Result",
    "Run",
    "Server",
    "TestCase",
    "Upload",
    "UploadFile",
]
