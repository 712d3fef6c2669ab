"""Build of testdash-engine: the metadata is in pyproject.toml; this adds the compiled modules.

The JUnit parser's modules (the engine's hottest Python: lxml calls them for every element)
are compiled to C extensions with mypyc, from the same typed source. The source stays the
reference and runs as plain Python wherever the extensions are absent:

- ``TESTDASH_PURE_PYTHON=1`` builds a pure-Python wheel (no C compiler needed);
- an editable install is never compiled: an extension would shadow edits to its source.

Compiling needs a C compiler and the Python headers (Debian: ``gcc``, ``python3-dev``).
"""

from __future__ import annotations

import os
import sys

from setuptools import setup

# Compiled together: calls between them are C calls. Keep in step with docs/architecture.md.
COMPILED = [
    "src/testdash_engine/formats/junit.py",
    "src/testdash_engine/formats/junit_case.py",
    "src/testdash_engine/formats/junit_values.py",
    "src/testdash_engine/formats/xmlstream.py",
    "src/testdash_engine/textcap.py",
]


def ext_modules() -> list[object]:
    """The mypyc extensions, or none for a pure-Python or editable build."""
    if os.environ.get("TESTDASH_PURE_PYTHON") == "1" or "editable_wheel" in sys.argv:
        return []
    from mypyc.build import mypycify

    # The workspace's mypy configuration (--strict) is the type check; here mypy only
    # types the compiled code, so third-party modules without stubs count as Any.
    return mypycify(
        ["--ignore-missing-imports", "--allow-untyped-decorators", *COMPILED],
        opt_level="3",
        group_name="testdash_engine",
    )


setup(ext_modules=ext_modules())
