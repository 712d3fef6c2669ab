"""Demo result volumes for a laptop: a week of runs on a few servers, written as JUnit XML."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

SERVERS = {
    "build-linux": ("platform", "nightly"),
    "build-windows": ("desktop", "nightly"),
    "qa-lab": ("qa", "regression"),
}
MODULES = ("auth", "billing", "search", "storage", "reports")


def _case(rng: random.Random, module: str, n: int, run: int, failing: set[str]) -> str:
    name = f"test_{module}_{n:02d}"
    attrs = f"classname={quoteattr(f'app.{module}.Test{module.title()}')} name={quoteattr(name)}"
    time_ = f"{rng.uniform(0.001, 2.5):.3f}"
    if name in failing:
        message = f"AssertionError: expected 200, got {rng.choice((500, 502, 404))}"
        where = f'  File "app/{module}.py", line {n + 10}'
        trace = f"Traceback (most recent call last):\n{where}\n{message}"
        body = (
            f'<failure message={quoteattr(message)} type="AssertionError">{escape(trace)}</failure>'
        )
    elif n % 13 == 0:
        body = '<skipped message="needs a GPU"/>'
    elif n % 17 == 3 and run % 3 == 1:
        # passed on retry (Surefire's flakyFailure): a flaky test
        body = (
            '<flakyFailure message="timed out after 5s" type="TimeoutError">'
            "TimeoutError</flakyFailure>"
        )
    else:
        body = ""
    return f'    <testcase {attrs} time="{time_}">{body}</testcase>\n'


def _suite(rng: random.Random, module: str, run: int, started: datetime, failing: set[str]) -> str:
    cases = "".join(_case(rng, module, n, run, failing) for n in range(40))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<testsuite name="app.{module}" timestamp="{started:%Y-%m-%dT%H:%M:%S}" hostname="demo">\n'
        f"{cases}</testsuite>\n"
    )


def generate(root: Path, *, runs: int = 7, seed: int = 7, now: datetime | None = None) -> list[str]:
    """Write demo volumes under ROOT, one directory per server; return the server names."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for server, (owner, tag) in SERVERS.items():
        for r in range(runs):
            started = now - timedelta(days=runs - 1 - r, hours=rng.randint(0, 6))
            run_dir = root / server / f"{started:%Y%m%d-%H%M}"
            (run_dir / "reports").mkdir(parents=True, exist_ok=True)
            failing = {
                f"test_{rng.choice(MODULES)}_{rng.randint(0, 39):02d}"
                for _ in range(rng.randint(0, 4))
            }
            for module in MODULES:
                text = _suite(rng, module, r, started, failing)
                (run_dir / "reports" / f"TEST-app.{module}.xml").write_text(text, encoding="utf-8")
            if server == "qa-lab" and r == runs - 1:
                (run_dir / "reports" / "TEST-truncated.xml").write_text(
                    '<testsuite name="cut"><testcase name="a"', encoding="utf-8"
                )
            manifest = {
                "owner": owner,
                "site": "demo",
                "host": server,
                "run_tag": tag,
                "branch": "main",
                "build": str(1000 + r),
                "start_time": started.isoformat(),
            }
            (run_dir / "testdash-run.json").write_text(json.dumps(manifest), encoding="utf-8")
    return list(SERVERS)
