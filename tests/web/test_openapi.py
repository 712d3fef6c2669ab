"""The OpenAPI document describes every API endpoint, and real responses conform (schemathesis)."""

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from testdash_web.api.openapi import PATHS

from tests.web.readside import seed_basic

EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.mark.parametrize("path", sorted(p for p, ops in PATHS.items() if "get" in ops))
def test_api_responses_conform_to_the_openapi_document(dash, path):
    seed_basic(runs_per_server=2, size=4)
    operation = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", dash)[path]["GET"]

    # In-process (WSGI) calls; a bounded number of examples keeps the whole module under a minute.
    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def conforms(case):
        case.call_and_validate(checks=CHECKS)

    conforms()


def test_every_api_route_is_documented_and_nothing_else(dash):
    documented = {(path, method.upper()) for path, ops in PATHS.items() for method in ops}
    served = {
        (re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule.removeprefix("/api/v1")), method)
        for rule in dash.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    served.discard(("/openapi.json", "GET"))
    assert served - documented == set(), "add these to PATHS in testdash_web/api/openapi.py"
    assert documented - served == set(), "documented but not served"
