"""The tables: servers, runs, files, test cases, results, the queue and ingest jobs."""

from testdash_models.models.ingest import File, IngestJob, QueueItem, Run, Server
from testdash_models.models.results import Result, TestCase

__all__ = ["File", "IngestJob", "QueueItem", "Result", "Run", "Server", "TestCase"]
