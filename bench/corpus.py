"""Deterministic JUnit XML corpus for the ingest benchmark.

Layout: ``ROOT/servers/<server>/<run>/...`` where each run holds surefire-like
``target/surefire-reports/TEST-<class>.xml`` files and pytest-like
``reports/junit-<n>.xml`` files.  Test identities are stable across runs (the
catalogue grows once); statuses, durations and messages vary per run.  The same
seed always writes byte-identical files.
"""

from __future__ import annotations

import argparse
import os
import random
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

PACKAGES = ("billing", "auth", "catalog", "search", "orders", "payments", "reports", "sync")
LAYERS = ("api", "core", "store", "util", "web")
VERBS = ("creates", "rejects", "updates", "handles", "retries", "parses", "renders", "deletes")
NOUNS = ("invoice", "token", "order", "page", "user", "batch", "refund", "export", "cursor")
EPOCH = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Shape:
    """Corpus dimensions; ``servers × runs × files × cases`` results in all."""

    servers: int = 2
    runs: int = 5
    files_per_run: int = 20
    cases_per_file: int = 100
    failure_rate: float = 0.05
    message_bytes: int = 2048
    seed: int = 1

    @property
    def results(self) -> int:
        """Number of test-case results the corpus holds."""
        return self.servers * self.runs * self.files_per_run * self.cases_per_file

    @property
    def files(self) -> int:
        """Number of result files the corpus holds."""
        return self.servers * self.runs * self.files_per_run


def server_names(n: int) -> list[str]:
    """Names of the N servers, also their directory names."""
    return [f"build-{i:02d}" for i in range(1, n + 1)]


def run_names(n: int) -> list[str]:
    """Names of the N runs of each server, in time order."""
    return [f"run-{i:04d}" for i in range(1, n + 1)]


def _trace(rng: random.Random, classname: str, size: int) -> str:
    """A Java/Python-looking stack trace of about SIZE bytes."""
    lines = [f"AssertionError: expected {rng.randint(0, 999)} but was {rng.randint(0, 999)}"]
    total = len(lines[0])
    while total < size:
        frame = (
            f"\tat {classname}.{rng.choice(VERBS)}{rng.choice(NOUNS).title()}"
            f"({classname.rsplit('.', 1)[-1]}.java:{rng.randint(10, 900)})"
        )
        lines.append(frame)
        total += len(frame) + 1
    return "\n".join(lines)[:size]


def _status(rng: random.Random, failure_rate: float) -> str:
    roll = rng.random()
    if roll < failure_rate * 0.8:
        return "failure"
    if roll < failure_rate:
        return "error"
    if roll < failure_rate + 0.03:
        return "skipped"
    return "passed"


def _case_xml(
    rng: random.Random, shape: Shape, classname: str, name: str, started: datetime
) -> tuple[str, str]:
    """One ``<testcase>`` element and its status."""
    status = _status(rng, shape.failure_rate)
    duration = round(rng.expovariate(1 / 0.05), 4)
    head = (
        f"    <testcase classname={quoteattr(classname)} name={quoteattr(name)}"
        f' time="{duration}" timestamp="{started.isoformat(timespec="seconds")}"'
    )
    if status == "passed":
        return head + "/>\n", status
    if status == "skipped":
        skip = '>\n      <skipped message="disabled on this platform"/>\n    </testcase>\n'
        return head + skip, status
    trace = _trace(rng, classname, shape.message_bytes)
    kind = "java.lang.AssertionError" if status == "failure" else "java.lang.IllegalStateException"
    message = escape(trace.split("\n", 1)[0][:200], {'"': "&quot;"})
    out = _trace(rng, classname, shape.message_bytes // 2).replace("\tat ", "DEBUG ")
    body = (
        f'>\n      <{status} message="{message}" type="{kind}">{escape(trace)}</{status}>\n'
        f"      <system-out>{escape(out)}</system-out>\n    </testcase>\n"
    )
    return head + body, status


def _file_xml(shape: Shape, server: str, run_index: int, file_index: int, pytest: bool) -> str:
    """The XML text of one result file."""
    rng = random.Random(f"{shape.seed}:{server}:{run_index}:{file_index}")
    package = f"com.acme.{PACKAGES[file_index % len(PACKAGES)]}.{LAYERS[file_index % len(LAYERS)]}"
    module = f"tests.{PACKAGES[file_index % len(PACKAGES)]}.test_{NOUNS[file_index % len(NOUNS)]}"
    classname = f"{package}.Feature{file_index:04d}Test" if not pytest else f"{module}{file_index}"
    started = EPOCH + timedelta(hours=run_index * 6, seconds=file_index * 7)
    cases, counts = [], {"failure": 0, "error": 0, "skipped": 0, "passed": 0}
    for case_index in range(shape.cases_per_file):
        verb, noun = VERBS[case_index % len(VERBS)], NOUNS[case_index % len(NOUNS)]
        name = f"test_{verb}_{noun}_{case_index}" if pytest else f"{verb}{noun.title()}{case_index}"
        text, status = _case_xml(rng, shape, classname, name, started)
        cases.append(text)
        counts[status] += 1
    attrs = (
        f'tests="{shape.cases_per_file}" failures="{counts["failure"]}" errors="{counts["error"]}"'
        f' skipped="{counts["skipped"]}" time="{round(rng.uniform(1, 60), 3)}"'
        f' timestamp="{started.isoformat(timespec="seconds")}" hostname="{server}"'
    )
    if pytest:
        return (
            '<?xml version="1.0" encoding="utf-8"?>\n<testsuites>\n'
            f'  <testsuite name="pytest" {attrs}>\n{"".join(cases)}  </testsuite>\n</testsuites>\n'
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<testsuite name="{classname}" {attrs}>\n'
        '  <properties>\n    <property name="java.version" value="21.0.4"/>\n'
        f'    <property name="surefire.test.class.path" value="{package.replace(".", "/")}"/>\n'
        f"  </properties>\n{''.join(cases)}</testsuite>\n"
    )


def _file_path(run_dir: Path, file_index: int, pytest: bool) -> Path:
    if pytest:
        return run_dir / "reports" / f"junit-{file_index:04d}.xml"
    pkg = PACKAGES[file_index % len(PACKAGES)]
    name = f"TEST-com.acme.{pkg}.F{file_index:04d}Test.xml"
    return run_dir / "target" / "surefire-reports" / name


def write_corpus(root: Path, shape: Shape) -> list[Path]:
    """Write the corpus below ROOT/servers and return the server roots."""
    roots = []
    for server in server_names(shape.servers):
        server_root = root / "servers" / server
        for run_index, run in enumerate(run_names(shape.runs)):
            for file_index in range(shape.files_per_run):
                pytest = file_index % 3 == 2  # a third pytest-shaped, the rest surefire
                path = _file_path(server_root / run, file_index, pytest)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(_file_xml(shape, server, run_index, file_index, pytest))
        roots.append(server_root)
    return roots


def write_wide(root: Path, files: int, runs: int = 200, cases: int = 2, seed: int = 1) -> Path:
    """A server root with FILES small files over RUNS runs, for the re-scan figure."""
    shape = Shape(cases_per_file=cases, failure_rate=0.02, message_bytes=256, seed=seed)
    server_root = root / "servers" / "wide"
    for i in range(files):
        run_index = i % runs
        path = _file_path(server_root / f"run-{run_index:04d}", i, pytest=i % 2 == 0)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_file_xml(shape, "wide", run_index, i, pytest=i % 2 == 0))
    return server_root


def write_big(root: Path, megabytes: int, seed: int = 1) -> tuple[Path, int]:
    """A server root with one run holding one file of at least MEGABYTES; returns cases."""
    shape = Shape(cases_per_file=1000, failure_rate=0.2, message_bytes=4096, seed=seed)
    path = _file_path(root / "servers" / "big" / "run-0001", 0, pytest=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    target, cases, chunk = megabytes * 1024 * 1024, 0, 0
    with path.open("w") as fh:
        fh.write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n')
        while fh.tell() < target:
            text = _file_xml(shape, "big", 0, chunk, pytest=True)
            fh.write(text.split("<testsuites>\n", 1)[1].rsplit("</testsuites>", 1)[0])
            cases += shape.cases_per_file
            chunk += 1
        fh.write("</testsuites>\n")
    return root / "servers" / "big", cases


def count_files(root: Path) -> int:
    """Number of regular files below ROOT."""
    return sum(len(files) for _, _, files in os.walk(root))


def main() -> None:
    """Write a corpus from the command line (the benchmark calls write_corpus itself)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    for name, default in asdict(Shape()).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    args = vars(parser.parse_args())
    root = args.pop("root")
    shape = Shape(**args)
    write_corpus(root, shape)
    print(f"{shape.files} files, {shape.results} results below {root}")


if __name__ == "__main__":
    main()
