"""Parse benchmark: cases/s, MB/s and peak RSS per format, and JUnit against bare iterparse.

Generates a corpus per format (bench/genformats.py) for every format whose parser
module exists, then times ``summarize`` over it in a fresh process per repetition
(peak RSS is that process's VmHWM). In the same run it times the JUnit parser and a
bare ``lxml.etree.iterparse`` on one JUnit file of the ingest benchmark's shape, and
optionally ``summarize`` on a 1 GB JUnit file. Prints a markdown table.

The same file also goes through an lxml target parser whose callbacks only count the
testcases (``floor``): what any parser built on lxml's target interface pays before
doing anything with the events.

    uv run python bench/parse.py --repeat 3
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import Shape, _file_xml, write_big  # noqa: E402
from genformats import CASES_PER_FILE, WRITERS  # noqa: E402

OUT_DIR = Path(__file__).resolve().parent / "out"


def has_parser(fmt: str) -> bool:
    """True when testdash_engine.formats has a module for FMT (others are still being written)."""
    from testdash_engine.formats import PARSERS

    module = PARSERS.get(fmt)
    return (
        module is not None
        and importlib.util.find_spec(f"testdash_engine.formats.{module}") is not None
    )


def write_format(root: Path, fmt: str, cases: int, per_file: int, rate: float) -> list[Path]:
    """Write CASES cases of FMT in files of PER_FILE cases below ROOT."""
    writer, suffix = WRITERS[fmt]
    per_file = CASES_PER_FILE.get(fmt, per_file)
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"parse:{fmt}")
    paths = []
    for i, start in enumerate(range(0, cases, per_file)):
        path = root / f"r{i:05d}{suffix}"
        path.write_bytes(writer(rng, min(per_file, cases - start), rate))
        paths.append(path)
    return paths


def write_junit_file(path: Path, megabytes: int) -> None:
    """One JUnit file of the ingest benchmark's shape (5 % failing, 2 KiB traces)."""
    shape = Shape(cases_per_file=1000)
    with path.open("w") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n')
        i = 0
        while out.tell() < megabytes << 20:
            text = _file_xml(shape, "ratio", 0, i, pytest=i % 3 == 2)
            if i % 3 == 2:
                text = text.split("<testsuites>\n", 1)[1].rsplit("</testsuites>", 1)[0]
            out.write(text.split("?>\n", 1)[-1])
            i += 1
        out.write("</testsuites>\n")


def _hwm_mib() -> float:
    with open("/proc/self/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return kib / 1024


class _CountingTarget:
    """lxml target that counts testcases and ignores everything else."""

    def __init__(self) -> None:
        self.cases = 0

    def start(self, tag: str, attrib: Any) -> None:
        if tag == "testcase":
            self.cases += 1

    def end(self, tag: str) -> None:
        pass

    def data(self, text: str) -> None:
        pass

    def close(self) -> int:
        return self.cases


def worker(kind: str, paths: list[str]) -> dict[str, Any]:
    """Run in a child: parse PATHS one way and report cases, bytes, seconds, peak RSS.

    ``cpu_seconds`` is the process's CPU time over the same span: on a shared machine it
    moves less than the wall time when other processes take the cores.
    """
    from lxml import etree
    from testdash_engine.formats import junit, summarize
    from testdash_engine.formats.xmlstream import make_parser, split_cdata
    from testdash_engine.model import Detection, ParseContext

    size = sum(Path(p).stat().st_size for p in paths)
    cases = rejected = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    for path in paths:
        if kind == "summarize":
            summary = summarize(path)
            cases += summary.attempts
            rejected += not summary.accepted
        elif kind == "junit":  # the parser alone: no hashing or detection
            with open(path, "rb") as handle:
                chunks = iter(lambda: handle.read(64 * 1024), b"")
                cases += sum(1 for _ in junit.parse(chunks, Detection("junit"), ParseContext()))
        elif kind == "floor":  # same set-up and chunks, callbacks that only count
            with open(path, "rb") as handle:
                parser = make_parser(_CountingTarget())
                for chunk in split_cdata(iter(lambda: handle.read(64 * 1024), b"")):
                    parser.feed(chunk)
                cases += parser.close()
        else:  # bare: count the same elements, clearing them and their earlier siblings
            for _, elem in etree.iterparse(path, events=("end",), tag="testcase"):
                cases += 1
                elem.clear()
                while elem.getprevious() is not None:
                    del elem.getparent()[0]
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    return {
        "cases": cases,
        "bytes": size,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "rss_mib": _hwm_mib(),
        "rejected": rejected,
    }


def measure(kind: str, paths: list[Path]) -> dict[str, Any]:
    """One fresh process running ``worker``; its JSON result."""
    listing = tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False)
    with listing:
        listing.write("\n".join(map(str, paths)))
    cmd = [sys.executable, __file__, "--worker", kind, "--paths-from", listing.name]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    Path(listing.name).unlink()
    return json.loads(done.stdout.strip().splitlines()[-1])


def median(samples: list[dict[str, Any]]) -> dict[str, float]:
    """Medians of the rates and of the peak RSS over the samples."""
    return {
        "cases": samples[0]["cases"],
        "mb": samples[0]["bytes"] / 2**20,
        "cases_s": statistics.median(s["cases"] / s["seconds"] for s in samples),
        "mb_s": statistics.median(s["bytes"] / 2**20 / s["seconds"] for s in samples),
        "rss_mib": statistics.median(s["rss_mib"] for s in samples),
        "rejected": samples[0]["rejected"],
    }


def main(argv: list[str] | None = None) -> None:
    """Generate, measure, print."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=20_000, help="Cases per format.")
    p.add_argument("--per-file", type=int, default=500, help="Cases per file.")
    p.add_argument("--failure-rate", type=float, default=0.05)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--ratio-mb", type=int, default=20, help="JUnit file for the iterparse ratio.")
    p.add_argument("--big-mb", type=int, default=0, help="Also summarize one JUnit file this big.")
    p.add_argument("--formats", nargs="*", help="Only these formats.")
    p.add_argument("--workdir", type=Path)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--paths-from", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        paths = Path(args.paths_from).read_text().splitlines()
        print(json.dumps(worker(args.worker, paths)))
        return

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="testdash-parse-"))
    formats = [f for f in (args.formats or WRITERS) if has_parser(f)]
    skipped = [f for f in (args.formats or WRITERS) if f not in formats]
    corpora = {
        f: write_format(workdir / f, f, args.cases, args.per_file, args.failure_rate)
        for f in formats
    }
    ratio_file = workdir / "ratio.xml"
    write_junit_file(ratio_file, args.ratio_mb)
    big = write_big(workdir / "big", args.big_mb) if args.big_mb else None
    samples: dict[str, list[dict[str, Any]]] = {}
    for _ in range(args.repeat):
        for fmt, paths in corpora.items():
            samples.setdefault(fmt, []).append(measure("summarize", paths))
        for kind in ("junit", "bare", "summarize", "floor"):  # same file and repetition
            samples.setdefault(f"ratio:{kind}", []).append(measure(kind, [ratio_file]))
        if big:
            big_file = next(big[0].rglob("*.xml"))
            samples.setdefault("big", []).append(measure("summarize", [big_file]))
    report(samples, args, skipped)
    OUT_DIR.mkdir(exist_ok=True)
    out = OUT_DIR / f"parse-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps({"argv": sys.argv, "samples": samples}, indent=1) + "\n")
    print(f"\nsamples: {out}")
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)


def report(
    samples: dict[str, list[dict[str, Any]]], args: argparse.Namespace, skipped: list[str]
) -> None:
    """The markdown table."""
    print(f"\nmedians of {args.repeat} runs, one process each\n")
    print("| format | cases | MB | cases/s | MB/s | peak RSS MiB | rejected files |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    rows = {k: median(v) for k, v in samples.items()}
    for name, m in rows.items():
        print(
            f"| {name} | {m['cases']:,} | {m['mb']:.1f} | {m['cases_s']:,.0f} | "
            f"{m['mb_s']:.1f} | {m['rss_mib']:.0f} | {m['rejected']} |"
        )
    print("\nPer repetition, same file: rate over bare iterparse's rate (wall time; CPU time)")
    for kind, what in (("junit", "JUnit parser"), ("floor", "lxml target that only counts")):
        line = f"  {what}:"
        for clock, name in (("seconds", "wall"), ("cpu_seconds", "CPU")):
            ratios = [
                j[clock] and b[clock] / j[clock]
                for j, b in zip(samples[f"ratio:{kind}"], samples["ratio:bare"], strict=True)
            ]
            samples_text = ", ".join(f"{r:.2f}" for r in ratios)
            line += f" {name} median {statistics.median(ratios):.2f} ({samples_text});"
        print(line.rstrip(";"))
    if skipped:
        print(f"no parser module yet: {', '.join(skipped)}")


if __name__ == "__main__":
    main()
