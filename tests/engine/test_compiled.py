"""The JUnit parser as installed (compiled by mypyc) gives what its Python source gives.

services/engine/setup.py compiles the parser's modules; the workspace installs the engine
built, so every other test runs the compiled parser, as the image does. Here the same files
are parsed a second time by the source run as plain Python (``PYTHONPATH`` on the source
tree, where no extension lies) and the two outputs must be equal, record by record.
"""

from __future__ import annotations

import json
import os
import pathlib
import random
import subprocess
import sys

import pytest
from testdash_engine.formats import ReportReader, junit, xmlstream
from testdash_engine.model import ParseContext, ParseError

from tests.engine.corpus import CORPUS

SOURCE = pathlib.Path(__file__).resolve().parents[2] / "services" / "engine" / "src"
PURE = os.environ.get("TESTDASH_PURE_PYTHON") == "1"

# Parsed alike by the caller's testdash_engine; prints one JSON line per file.
DUMP = """
import json, sys
from testdash_engine.formats import ReportReader
from testdash_engine.model import ParseContext, ParseError
from testdash_engine.formats import junit
for path in sys.argv[1:]:
    try:
        out = [repr(r) for r in ReportReader(path, ParseContext())]
    except ParseError as exc:
        out = ["rejected: " + str(exc.rejection)]
    print(json.dumps([path, junit.__file__.endswith(".py"), out]))
"""


def junit_files() -> list[pathlib.Path]:
    """Our JUnit goldens, and a seeded sample of the shared corpus's XML when it is there."""
    files = sorted((pathlib.Path(__file__).parent / "golden" / "junit").glob("*.xml"))
    if CORPUS.is_dir():
        xml = sorted(CORPUS.rglob("*.xml"))
        files += random.Random(7).sample(xml, min(150, len(xml)))
    return files


@pytest.mark.skipif(PURE, reason="TESTDASH_PURE_PYTHON=1: the engine was built without mypyc")
def test_the_installed_parser_modules_are_compiled():
    for module in (junit, xmlstream):
        assert pathlib.Path(module.__file__ or "").suffix == ".so", module.__file__
    assert not str(junit.__file__).startswith(str(SOURCE))  # the built package, not the tree


@pytest.mark.skipif(PURE, reason="TESTDASH_PURE_PYTHON=1: nothing compiled to compare")
def test_compiled_and_pure_python_parsers_give_the_same_records(tmp_path):
    files = junit_files()
    assert len(files) > 20
    # A file with every capture at once, and a broken one: rejections must agree too.
    mixed = tmp_path / "mixed.xml"
    mixed.write_text(
        '<testsuites><testsuite name="s" timestamp="2026-03-04T05:06:07">'
        '<testcase classname="C" name="flaky" time="1,5"><flakyFailure message="m" type="T">'
        "<stackTrace>at x</stackTrace><system-out>o</system-out></flakyFailure>"
        "<system-err>e</system-err></testcase>"
        '<testcase name="s" status="skipped"/><testcase name="cdata"><failure>'
        "<![CDATA[a]]>b<![CDATA[c]]></failure></testcase></testsuite></testsuites>"
    )
    broken = tmp_path / "broken.xml"
    broken.write_text('<testsuite><testcase name="a"><failure></testsuite>')
    files += [mixed, broken]

    env = {**os.environ, "PYTHONPATH": str(SOURCE)}
    done = subprocess.run(
        [sys.executable, "-c", DUMP, *map(str, files)],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    pure = [json.loads(line) for line in done.stdout.splitlines()]
    assert all(is_source for _, is_source, _ in pure)  # really the plain-Python source
    for path, _, pure_records in pure:
        try:
            compiled = [repr(r) for r in ReportReader(path, ParseContext())]
        except ParseError as exc:
            compiled = ["rejected: " + str(exc.rejection)]
        assert compiled == pure_records, path
    assert sum(len(records) for _, _, records in pure) > 500
