"""Files and directories the engine may not read are recorded, and the rest is ingested.

Root reads everything whatever the mode bits, so when the suite runs as root the
ingest itself runs with the effective user ``nobody`` (the way a CronJob runs
with a non-root UID), on a SQLite database in a directory that user may write.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile

import pytest
from sqlalchemy import select
from testdash_engine import create_app
from testdash_engine.cli import main
from testdash_models import db
from testdash_models.models import File, QueueItem

NOBODY = 65534


@contextlib.contextmanager
def as_unprivileged():
    if os.geteuid() != 0:
        yield
        return
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.fixture
def shared_dir():
    path = tempfile.mkdtemp(prefix="testdash-unreadable-")
    os.chmod(path, 0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_unreadable_file_and_directory_are_rejected_with_reasons(shared_dir, junit_report):
    volume = os.path.join(shared_dir, "vol")
    run = os.path.join(volume, "build-1")
    os.makedirs(os.path.join(run, "locked"))
    for name in ("ok.xml", "secret.xml"):
        shutil.copy(junit_report, os.path.join(run, name))
        os.chmod(os.path.join(run, name), 0o644)
    shutil.copy(junit_report, os.path.join(run, "locked", "inner.xml"))
    for directory in (volume, run):
        os.chmod(directory, 0o755)
    os.chmod(os.path.join(run, "secret.xml"), 0o000)
    os.chmod(os.path.join(run, "locked"), 0o000)

    database = os.path.join(shared_dir, "db.sqlite")
    app = create_app("testing", overrides={"SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}"})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        os.chmod(database, 0o666)
        runner = app.test_cli_runner()
        with as_unprivileged():
            result = runner.invoke(main, ["run", "--server", "s", "--root", volume])
            db.session.remove()
            db.engine.dispose()
        assert result.exit_code == 1, result.output
        files = {f.full_name: f for f in db.session.scalars(select(File))}
        assert files["build-1/ok.xml"].status == "accepted"
        assert files["build-1/secret.xml"].status == "rejected"
        assert "Permission denied" in files["build-1/secret.xml"].reason
        assert files["build-1/locked"].status == "rejected"
        assert "directory unreadable" in files["build-1/locked"].reason
        assert db.session.scalar(select(QueueItem.state)) == "done"
        db.session.remove()
        with as_unprivileged():
            again = runner.invoke(main, ["run", "--server", "s", "--root", volume])
            db.session.remove()
            db.engine.dispose()
        assert again.exit_code == 0, again.output
        assert "0 queued" in again.output, "known problems must not queue the run again"
        db.session.remove()
        db.engine.dispose()
