"""Fixtures for engine tests."""

from __future__ import annotations

import pathlib

import pytest

from tests.engine.trees import junit_by_pytest


@pytest.fixture(scope="session")
def junit_report(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """One pytest-written JUnit report (25 cases, every 5th failing), made once."""
    return junit_by_pytest(tmp_path_factory.mktemp("producer"), "sample", cases=25, fail_every=5)
