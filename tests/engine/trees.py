"""Result trees written by real producers, for engine tests."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

SAMPLE_TESTS = """
import pytest

@pytest.mark.parametrize("n", range({cases}))
def test_value(n):
    assert n % {fail_every} != {fail_every} - 1, f"value {{n}} is wrong"

def test_error_in_fixture(broken):
    pass

@pytest.fixture
def broken():
    raise RuntimeError("fixture exploded")

@pytest.mark.skip(reason="not today")
def test_skipped():
    pass

def test_prints():
    print("hello <stdout> & \\x1b[31mcolour")
    assert True
"""


def junit_by_pytest(
    directory: pathlib.Path,
    name: str,
    *,
    cases: int = 20,
    fail_every: int = 5,
    family: str = "xunit2",
) -> pathlib.Path:
    """Run pytest itself on a small module and keep its JUnit XML (a real producer)."""
    work = directory / f".src-{name}"
    work.mkdir(parents=True, exist_ok=True)
    (work / f"test_{name}.py").write_text(SAMPLE_TESTS.format(cases=cases, fail_every=fail_every))
    out = directory / f"{name}.xml"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            f"junit_family={family}",
            f"--junitxml={out}",
            str(work),
        ],
        cwd=work,
        capture_output=True,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    shutil.rmtree(work)
    assert out.exists(), "pytest did not write its JUnit report"
    return out


def expected_counts(cases: int, fail_every: int) -> dict[str, int]:
    """What SAMPLE_TESTS gives: parametrized cases, one error, one skip, one pass."""
    failed = sum(1 for n in range(cases) if n % fail_every == fail_every - 1)
    return {"passed": cases - failed + 1, "failed": failed, "error": 1, "skipped": 1}


def make_tree(
    root: pathlib.Path, report: pathlib.Path, *, servers: int = 1, runs: int = 3, files: int = 2
) -> pathlib.Path:
    """A volume per server: runs of copies of a real report, with manifests on odd runs."""
    for s in range(servers):
        for r in range(runs):
            run = root / f"server{s}" / f"build-{r:03d}"
            (run / "reports").mkdir(parents=True)
            for f in range(files):
                text = report.read_text().replace('name="pytest"', f'name="suite{f}"')
                text = text.replace("test_value", f"test_value_{f}")
                (run / "reports" / f"TEST-{f}.xml").write_text(text)
            if r % 2:
                (run / "testdash-run.json").write_text(
                    json.dumps(
                        {
                            "owner": "qa",
                            "site": "lab",
                            "host": f"host{s}",
                            "run_tag": "nightly",
                            "user_tag": "u",
                            "build": str(r),
                            "branch": "main",
                            "commit": "abc123",
                            "start_time": "2026-11-01T08:00:00+02:00",
                        }
                    )
                )
    return root


def engine_env(database_url: str, instance: pathlib.Path) -> dict[str, str]:
    """Environment for running ``testdash-engine`` as a real subprocess on DATABASE_URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "DATABASE_URL"))}
    env.update(
        FLASK_CONFIG="testing",
        TEST_DATABASE_URL=database_url,
        TESTDASH_INSTANCE_PATH=str(instance),
        PYTHONUNBUFFERED="1",
    )
    return env


ENGINE = [sys.executable, "-m", "testdash_engine"]
