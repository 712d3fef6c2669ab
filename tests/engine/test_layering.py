"""Imports point one way: parsing code never imports Flask or SQLAlchemy."""

from __future__ import annotations

import ast
import pathlib

ENGINE = pathlib.Path(__file__).resolve().parents[2] / "services/engine/src/testdash_engine"
FORBIDDEN = ("flask", "sqlalchemy", "flask_sqlalchemy", "flask_migrate", "testdash_models")


def _parsing_modules():
    yield from sorted((ENGINE / "formats").glob("*.py"))
    for name in ("detect.py", "model.py", "textcap.py", "rows.py", "worker.py", "fingerprint.py"):
        yield ENGINE / name


def _imports(path):
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


def test_parsing_modules_import_neither_flask_nor_sqlalchemy():
    modules = list(_parsing_modules())
    assert len(modules) >= 5
    offenders = [
        f"{path.relative_to(ENGINE)} imports {name}"
        for path in modules
        for name in _imports(path)
        if name.split(".")[0] in FORBIDDEN
    ]
    assert offenders == []
