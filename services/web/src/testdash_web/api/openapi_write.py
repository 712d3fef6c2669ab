"""OpenAPI entries of the write side's endpoints (uploads, run now), kept apart from the reads.

Written from ``views/uploads.py`` and ``views/cluster.py``; whoever changes those answers
changes this file too (``tests/web/test_openapi.py`` fails on an undocumented route).
"""

from __future__ import annotations

from typing import Any

NULLABLE_TEXT = {"type": ["string", "null"]}
ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
META = ("owner", "site", "host", "run_tag", "user_tag", "build", "branch", "commit")


def errors(*codes: int) -> dict[str, Any]:
    """Error answers for CODES."""
    return {
        str(code): {"description": "Refused; the message says why", "content": ERROR}
        for code in codes
    }


UPLOAD = {
    "type": "object",
    "required": ["id", "url", "state", "server", "run_dir", "counts", "files", "run"],
    "properties": {
        "id": {"type": "integer"},
        "url": {"type": "string"},
        "state": {"type": "string"},
        "server": {"type": "string"},
        "run_dir": {"type": "string"},
        "metadata": {"type": "object", "additionalProperties": NULLABLE_TEXT},
        "started_at": NULLABLE_TEXT,
        "uploaded_by": NULLABLE_TEXT,
        "created_at": {"type": "string"},
        "finished_at": NULLABLE_TEXT,
        "attempts": {"type": "integer"},
        "error": NULLABLE_TEXT,
        "bytes": {"type": ["integer", "null"]},
        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
        "files": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["path", "size", "status"],
                "properties": {
                    "path": {"type": "string"},
                    "size": {"type": "integer"},
                    "sha256": NULLABLE_TEXT,
                    "status": {"type": "string"},
                    "reason": NULLABLE_TEXT,
                    "results": {"type": ["integer", "null"]},
                },
            },
        },
        "run": {"type": ["object", "null"]},
    },
}
UPLOAD_FORM = {
    "type": "object",
    "required": ["server", "file"],
    "properties": {
        "server": {"type": "string"},
        "run_dir": {"type": "string"},
        **{name: {"type": "string"} for name in META},
        "start_time": {"type": "string"},
        "file": {"type": "array", "items": {"type": "string", "format": "binary"}},
    },
}
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
SECURITY_SCHEMES = {"bearer": {"type": "http", "scheme": "bearer"}}
WRITE_SCHEMAS = {"Upload": UPLOAD}
WRITE_PATHS: dict[str, Any] = {
    "/uploads": {
        "post": {
            "summary": "Upload result files or a .zip/.tar.gz of them; the engine ingests them",
            "security": BEARER,
            "requestBody": {
                "required": True,
                "content": {"multipart/form-data": {"schema": UPLOAD_FORM}},
            },
            "responses": {
                "202": {
                    "description": "Stored and queued; poll the URL",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["id", "state", "url", "files"],
                                "properties": {
                                    "id": {"type": "integer"},
                                    "state": {"type": "string"},
                                    "url": {"type": "string"},
                                    "files": {"type": "integer"},
                                },
                            }
                        }
                    },
                },
                **errors(400, 401, 403, 413, 429),
            },
        }
    },
    "/uploads/{upload_id}": {
        "get": {
            "summary": "An upload's state and each file's outcome",
            "parameters": [
                {
                    "name": "upload_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
                }
            ],
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Upload"}}
                    },
                },
                **errors(404),
            },
        }
    },
    "/cronjobs/{name}/run": {
        "post": {
            "summary": "Start a Job from an engine CronJob now (admin)",
            "security": BEARER,
            "parameters": [
                {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "201": {
                    "description": "Job created",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["job", "cronjob"],
                                "properties": {
                                    "job": {"type": "string"},
                                    "cronjob": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                **errors(401, 403, 404, 409, 502),
            },
        }
    },
}
