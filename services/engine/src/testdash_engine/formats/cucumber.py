"""Cucumber JSON (cucumber-jvm, -js, -ruby; the shape cucumber-reporting reads), streamed.

The top-level array is read one feature at a time and each feature one element
(scenario) at a time, so memory follows the largest scenario; ``embeddings`` are
skipped unread. A ``type: background`` element is not a test: its steps count
towards every following scenario until the next background (cucumber-jvm repeats
the background before each scenario; others write it once). Each scenario-outline
example is its own element and its own test.

Identity: the suite is the feature ``name`` (else its ``uri``); the classname is
the feature ``uri``; the name is the scenario ``name``, plus `` [examples #row]``
from its ``id`` for an outline example, whose name repeats on every row. Cucumber-jvm
writes a feature's ``name`` and ``uri`` after its ``elements``, so a feature's
results are held until the feature ends. Status rules: see ``cucumber_status``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from testdash_engine.formats.cucumber_status import Scenario
from testdash_engine.formats.jsonstream import JsonEvents, string
from testdash_engine.formats.junit_values import parse_timestamp
from testdash_engine.model import CaseResult, Detection, ParseContext, ParseError, ParseIssue
from testdash_engine.textcap import cap_str

_SKIP = frozenset({"embeddings", "attachments", "rows", "doc_string", "description"})


def _outline_suffix(element_id: str | None) -> str:
    """``feature;outline;examples;2`` is row 2 of an outline: `` [examples #2]``."""
    parts = element_id.split(";") if element_id else ()
    if len(parts) < 4:
        return ""
    examples = ";".join(parts[2:-1])
    return f" [{examples} #{parts[-1]}]" if examples else f" [#{parts[-1]}]"


class _Feature:
    """A feature being read: its identity fields and the scenarios read so far."""

    def __init__(self) -> None:
        self.name: str | None = None
        self.uri: str | None = None
        self.background: list[Any] = []
        self.scenarios: list[tuple[str, Scenario, Any]] = []


def _element(feature: _Feature, element: Any) -> None:
    if element.__class__ is not dict:
        raise ParseError("a Cucumber element must be a JSON object")
    steps = element.get("steps")
    if steps is None:
        steps = []
    elif steps.__class__ is not list:
        raise ParseError("Cucumber 'steps' must be an array")
    kind = string(element.get("type"))
    if kind == "background":
        feature.background = steps
        return
    name = (string(element.get("name")) or "") + _outline_suffix(string(element.get("id")))
    scenario = Scenario()
    for hook in element.get("before") or ():
        scenario.hook(hook, "Before")
    for step in feature.background:
        scenario.step(step)
    for step in steps:
        scenario.step(step)
    for hook in element.get("after") or ():
        scenario.hook(hook, "After")
    feature.scenarios.append((name, scenario, element.get("start_timestamp")))


def _results(feature: _Feature, ctx: ParseContext) -> Iterator[CaseResult]:
    limits = ctx.limits
    suite, suite_cut = cap_str(feature.name or feature.uri or "", limits.name)
    classname, class_cut = cap_str(feature.uri or "", limits.name)
    for raw_name, scenario, stamp in feature.scenarios:
        name, cut = cap_str(raw_name, limits.name)
        status, message, trace, stdout, more = scenario.outcome(limits)
        started = parse_timestamp(stamp, ctx.default_tz) if stamp.__class__ is str else None
        yield CaseResult(
            suite, classname, name, status, 1, True, False, scenario.duration(), message, None,
            trace, stdout, None, suite_cut + class_cut + cut + more, started,
        )  # fmt: skip


def _feature(events: JsonEvents, ctx: ParseContext) -> Iterator[CaseResult]:
    """Read one feature object, element by element."""
    feature = _Feature()
    while True:
        event, key = events.next()
        if event == "end_map":
            break
        event, value = events.next()
        if key == "elements":
            if event != "start_array":
                raise ParseError("Cucumber 'elements' must be an array")
            while (item := events.next())[0] != "end_array":
                _element(feature, events.value(*item, skip=_SKIP))
        elif key in ("name", "uri", "id", "keyword"):
            found = string(events.value(event, value))
            if key == "name":
                feature.name = found
            elif key == "uri":
                feature.uri = found
        else:
            events.skip(event, value)
    yield from _results(feature, ctx)


def parse(
    chunks: Iterator[bytes], detection: Detection, ctx: ParseContext
) -> Iterator[CaseResult | ParseIssue]:
    """Yield one result per scenario, feature by feature; raise ParseError on a bad file."""
    events = JsonEvents(chunks, ctx.limits)
    if events.next()[0] != "start_array":
        raise ParseError("Cucumber JSON must be an array of features")
    while True:
        event, _ = events.next()
        if event == "end_array":
            break
        if event != "start_map":
            raise ParseError("a Cucumber feature must be a JSON object")
        yield from _feature(events, ctx)
    events.end()
