"""Fixtures and helpers for the write side's tests: a web app on the test database, tokens."""

from __future__ import annotations

import io
import re
import tarfile
import zipfile

import pytest
from testdash_web import create_app

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="{suite}" tests="3" failures="1" errors="0" skipped="0">
<testcase classname="pkg.{suite}" name="test_one" time="0.01"/>
<testcase classname="pkg.{suite}" name="test_two" time="0.02"><failure message="boom">trace</failure></testcase>
<testcase classname="pkg.{suite}" name="test_three" time="0.03"/>
</testsuite></testsuites>
"""


def junit(suite: str = "alpha") -> bytes:
    return JUNIT.format(suite=suite).encode()


@pytest.fixture
def make_web(database_url, tmp_path, monkeypatch):
    """A factory of web apps on this test's database, with config overrides."""
    monkeypatch.setenv("TESTDASH_INSTANCE_PATH", str(tmp_path / "instance"))

    def make(**overrides):
        return create_app(
            "testing", overrides={"SQLALCHEMY_DATABASE_URI": database_url, **overrides}
        )

    return make


@pytest.fixture
def web(make_web):
    return make_web()


@pytest.fixture
def client(web):
    return web.test_client()


def make_token(web, name: str, *scopes: str) -> str:
    """Create a token through the CLI, as an operator would; returns its secret."""
    args = ["tokens", "create", name]
    for scope in scopes:
        args += ["--scope", scope]
    result = web.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"tdp_[A-Za-z0-9_-]{43}\n", result.stdout), "stdout is the secret alone"
    return result.stdout.strip()


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def csrf_from(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def sign_in(client, secret: str) -> None:
    page = client.get("/signin").get_data(as_text=True)
    response = client.post(
        "/signin", data={"token": secret, "csrf_token": csrf_from(page), "next": "/uploads"}
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def zip_bytes(members: dict[str, bytes], *, mode: dict[str, int] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if mode and name in mode:
                info.external_attr = mode[name] << 16
            archive.writestr(info, content)
    return buffer.getvalue()


def tar_bytes(members: list[tarfile.TarInfo | tuple[str, bytes]], *, gz: bool = True) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gz else "w") as archive:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                archive.addfile(member)
            else:
                info = tarfile.TarInfo(member[0])
                info.size = len(member[1])
                archive.addfile(info, io.BytesIO(member[1]))
    return buffer.getvalue()
