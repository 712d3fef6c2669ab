"""The CLI's own behaviour: parse without a database, config selection, the shell context."""

from __future__ import annotations

import json
import subprocess

from testdash_engine.cli import main, parse_duration

from tests.engine.trees import ENGINE, engine_env, expected_counts


def test_parse_reports_counts_and_rejections_without_a_database(tmp_path, junit_report):
    bad = tmp_path / "bad.xml"
    bad.write_text("<testsuite>\n<testcase name='x'>\n")
    env = engine_env("postgresql+psycopg2://nobody@127.0.0.1:1/none", tmp_path)
    done = subprocess.run(
        [*ENGINE, "parse", "--json", str(junit_report), str(bad)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, "a rejected file makes parse exit 1"
    good, rejected = (json.loads(line) for line in done.stdout.splitlines())
    assert good["accepted"] and good["format"] == "junit"
    assert good["counts"] == expected_counts(25, 5)
    assert len(good["sha256"]) == 64
    assert not rejected["accepted"]
    assert rejected["rejection"]["kind"] == "malformed" and rejected["rejection"]["line"] == 3


def test_parse_text_output_exits_zero_for_good_files(tmp_path, junit_report):
    env = engine_env("sqlite:///unused", tmp_path)
    done = subprocess.run(
        [*ENGINE, "parse", str(junit_report)], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    assert f"{junit_report}: junit" in done.stdout and "28 tests" in done.stdout


def test_config_option_overrides_flask_config(tmp_path):
    env = engine_env("sqlite:///unused", tmp_path)
    env["FLASK_CONFIG"] = "production"
    env.pop("DATABASE_URL", None)
    for name in ("POSTGRES_USER", "POSTGRES_PASS", "POSTGRES_DB_NAME", "POSTGRES_HOST"):
        env.pop(name, None)
    failed = subprocess.run(
        [*ENGINE, "status"], env=env, capture_output=True, text=True, timeout=60
    )
    assert failed.returncode == 3
    assert "POSTGRES_HOST" in failed.stderr and "Traceback" not in failed.stderr
    env["TEST_DATABASE_URL"] = f"sqlite:///{tmp_path}/t.sqlite"
    upgraded = subprocess.run(
        [*ENGINE, "--config", "testing", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert upgraded.returncode == 0, upgraded.stderr
    ok = subprocess.run(
        [*ENGINE, "--config", "testing", "status", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0 and json.loads(ok.stdout)["runs"] == 0


def test_unknown_config_name_is_one_clear_line(tmp_path):
    env = engine_env("sqlite:///unused", tmp_path)
    done = subprocess.run(
        [*ENGINE, "--config", "staging", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3
    assert "valid names: development, testing, production" in done.stderr
    assert "Traceback" not in done.stderr


def test_shell_preloads_db_and_models(app):
    context = app.make_shell_context()
    for name in ("db", "File", "QueueItem", "Run", "Result", "TestCase", "Server", "timedelta"):
        assert name in context
    assert context["File"].query.count() == 0


def test_durations_read_like_the_article():
    assert parse_duration("10h").total_seconds() == 36000
    assert parse_duration("30m").total_seconds() == 1800
    assert parse_duration("2d").total_seconds() == 172800
    assert parse_duration("12").total_seconds() == 43200


def test_bad_duration_is_a_usage_error(runner):
    result = runner.invoke(main, ["queue", "purge", "--ttl-over", "soon"])
    assert result.exit_code == 2 and "not a duration" in result.output


def test_run_on_a_terminal_shows_a_progress_bar_and_plain_logs(tmp_path, junit_report, sqlite_url):
    import os
    import pty
    import shutil

    run = tmp_path / "vol" / "r1"
    run.mkdir(parents=True)
    for n in range(3):
        shutil.copy(junit_report, run / f"r{n}.xml")
    (run / "bad.xml").write_text("<testsuite>")
    env = engine_env(sqlite_url, tmp_path)
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [*ENGINE, "run", "--server", "s", "--root", str(tmp_path / "vol")],
        env=env,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closed when the engine ended
            break
        if not chunk:
            break
        output += chunk
    proc.wait(timeout=60)
    os.close(controller)
    text = output.decode("utf-8", "replace")
    assert proc.returncode == 1
    assert "ingest" in text and "4/4" in text, text  # click's bar with its position
    assert "WARNING rejected bad.xml" in text or "WARNING rejected r1/bad.xml" in text, text
    assert '{"time"' not in text, "logs are for people on a terminal"


def test_run_off_a_terminal_logs_json_lines(tmp_path, junit_report, sqlite_url):
    run = tmp_path / "vol" / "r1"
    run.mkdir(parents=True)
    (run / "bad.xml").write_text("<testsuite>")
    env = engine_env(sqlite_url, tmp_path)
    done = subprocess.run(
        [*ENGINE, "run", "--server", "s", "--root", str(tmp_path / "vol")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert any(line["level"] == "WARNING" and "bad.xml" in line["message"] for line in lines)
    assert done.stdout.count("\n") == 1 and done.stdout.startswith("testdash-engine FAILED:")


def test_ingest_commands_do_not_import_alembic(tmp_path):
    """Alembic loads only for ``db`` commands: it is start-up time every CronJob would pay."""
    env = engine_env(f"sqlite:///{tmp_path}/t.sqlite", tmp_path)
    probe = (
        "import sys\n"
        "from testdash_engine.cli import main\n"
        "try:\n"
        "    main([{args}])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('alembic' in sys.modules, file=sys.stderr)\n"
    )
    for args, loaded in (("'--help'", "False"), ("'db', 'upgrade'", "True"), ("'status'", "False")):
        done = subprocess.run(
            [ENGINE[0], "-c", probe.format(args=args)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.stderr.strip().splitlines()[-1] == loaded, (args, done.stderr)


def test_unknown_time_zone_is_a_usage_error(tmp_path):
    env = engine_env("sqlite:///unused", tmp_path)
    for args in (["scan", "--server", "s", "--root", str(tmp_path)], ["parse", str(tmp_path)]):
        done = subprocess.run(
            [*ENGINE, *args, "--timezone", "Mars/Olympus"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, done.stderr
        assert "unknown time zone 'Mars/Olympus'" in done.stderr
        assert "Traceback" not in done.stderr


def test_unknown_default_timezone_is_a_usage_error_before_any_work(tmp_path):
    env = {
        **engine_env(f"sqlite:///{tmp_path}/never.sqlite", tmp_path),
        "DEFAULT_TIMEZONE": "Mars/Olympus",
    }
    for args in (["ingest"], ["run", "--server", "s", "--root", str(tmp_path)], ["uploads"]):
        done = subprocess.run([*ENGINE, *args], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, (args, done.stderr)
        assert "DEFAULT_TIMEZONE: unknown time zone 'Mars/Olympus'" in done.stderr
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "never.sqlite").exists(), "nothing touched the database"
