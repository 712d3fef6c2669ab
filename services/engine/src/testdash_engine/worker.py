"""Parse workers: report files turned into COPY lines on the other cores.

Parsing and formatting are most of the engine's CPU time, while PostgreSQL and the
writer thread wait on I/O. Workers are plain child processes
(``python -m testdash_engine.worker``) fed over their stdin and stdout:

- they inherit nothing: no database socket, advisory lock or thread (no ``fork`` of a
  process holding connections), and they import neither Flask nor SQLAlchemy;
- a worker reads EOF when the engine ends, however it ends, and exits with it;
- jobs go round-robin and results are read back in the same order, so files keep
  their listing order;
- a worker that dies breaks the pool: its file and every later one is parsed in the
  engine process instead, and the ingest goes on.

Each result carries the identities of all the file's test keys; the engine decides
which are new to the catalogue, so its bookkeeping stays in one process.
"""

from __future__ import annotations

import logging
import os
import pickle
import struct
import subprocess
import sys
from collections import deque
from dataclasses import dataclass, field
from typing import IO, Any

from testdash_engine.formats import ReportReader
from testdash_engine.model import ParseContext, ParseError, Rejection
from testdash_engine.rows import FileCounts, KnownCases, count_cases, describe, format_line

log = logging.getLogger("testdash.engine")
_FRAME = struct.Struct(">Q")


@dataclass(slots=True)
class Job:
    """One file to parse: COPY lines will start with PREFIX (run id, file id)."""

    path: str
    prefix: str
    ctx: ParseContext
    max_rows: int
    max_bytes: int


@dataclass(slots=True)
class Formatted:
    """A parsed file: its COPY lines as one string, counts, and test identities."""

    fits: bool = True  # False: larger than a batch, the engine streams it itself
    data: str = ""
    size: int = 0
    counts: FileCounts = field(default_factory=FileCounts)
    cases: dict[int, tuple[str, str, str]] = field(default_factory=dict)
    sha256: str | None = None
    format: str | None = None
    dialect: str | None = None
    rejection: Rejection | None = None


def format_file(job: Job, known: KnownCases) -> Formatted:
    """Parse JOB's file into COPY lines; a bad file gives its rejection."""
    reader = ReportReader(job.path, job.ctx)
    out = Formatted()
    lines: list[str] = []
    size = 0
    try:
        for case in count_cases(reader, out.counts):
            line = format_line(job.prefix, len(lines), case, known, out.cases, out.counts)
            lines.append(line)
            size += len(line)
            if len(lines) >= job.max_rows or size >= job.max_bytes:
                return Formatted(fits=False)
    except ParseError as exc:
        return Formatted(rejection=exc.rejection, sha256=reader.sha256)
    out.sha256, out.format, out.dialect = describe(reader)
    out.data, out.size = "".join(lines), size
    return out


def _send(stream: IO[bytes], obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_FRAME.pack(len(data)) + data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    """The next object, or None at EOF."""
    head = stream.read(_FRAME.size)
    if len(head) < _FRAME.size:
        return None
    (length,) = _FRAME.unpack(head)
    data = stream.read(length)
    if len(data) < length:
        return None
    return pickle.loads(data)  # noqa: S301 - our own child process, over a private pipe


def main() -> None:
    """Worker loop: a job in, a Formatted out, until the engine closes the pipe."""
    jobs = sys.stdin.buffer
    results = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print must not corrupt the result stream
    known = KnownCases()  # nothing committed here: every file reports all its identities
    while (job := _receive(jobs)) is not None:
        try:
            result: object = format_file(job, known)
        except Exception as exc:  # noqa: BLE001 - reported to the engine, which parses it itself
            result = f"{type(exc).__name__}: {exc}"
        _send(results, result)


class WorkerGone(Exception):
    """A worker died or answered nonsense; parse in the engine process from now on."""


class ParsePool:
    """N worker processes; submit jobs, then take their results in submission order."""

    def __init__(self, workers: int, depth: int = 2) -> None:
        self.procs = [
            subprocess.Popen(
                [sys.executable, "-m", "testdash_engine.worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            for _ in range(workers)
        ]
        self.capacity = workers * depth
        self.inflight: deque[int] = deque()
        self.turn = 0
        self.broken = False

    def submit(self, job: Job) -> None:
        """Send JOB to the next worker in turn."""
        index = self.turn
        proc = self.procs[index]
        self.turn = (index + 1) % len(self.procs)
        try:
            assert proc.stdin is not None
            _send(proc.stdin, job)
        except OSError as exc:
            self.broken = True
            raise WorkerGone(f"parse worker {proc.pid} is gone: {exc}") from None
        self.inflight.append(index)

    def result(self) -> Formatted:
        """The result of the oldest job still out."""
        proc = self.procs[self.inflight.popleft()]
        assert proc.stdout is not None
        try:
            found = _receive(proc.stdout)
        except Exception as exc:  # noqa: BLE001 - any bad answer breaks the pool, not the ingest
            found = f"{type(exc).__name__}: {exc}"
        if isinstance(found, Formatted):
            return found
        self.broken = True
        reason = found or f"exited with {proc.poll()}"
        raise WorkerGone(f"parse worker {proc.pid} failed: {reason}")

    def close(self) -> None:
        """Let the workers go: EOF ends them; one that hangs is killed."""
        for proc in self.procs:
            if proc.stdin is not None:
                try:
                    proc.stdin.close()
                except OSError:
                    pass
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


if __name__ == "__main__":
    # Run the imported module's loop, so results pickle as testdash_engine.worker.Formatted.
    from testdash_engine import worker

    worker.main()
