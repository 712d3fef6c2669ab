"""Turn one collected JUnit ``<testcase>`` into CaseResult attempts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from testdash_engine.formats.junit_values import (
    ERROR_STATUSES,
    FAIL_STATUSES,
    SKIP_RESULTS,
    SKIP_STATUSES,
    parse_time,
)
from testdash_engine.model import CaseResult, Limits, Status
from testdash_engine.textcap import CappedText, cap_str

# Several result elements in one testcase: the first of these present decides,
# as publish-unit-test-result-action does (an error in teardown after a failed
# assertion is an error; a skip next to a failure came too late to count).
_PRECEDENCE: tuple[Status, ...] = ("error", "failed", "skipped")


class Outcome:
    """One result element (``failure``/``error``/``skipped``) or one rerun/flaky attempt."""

    __slots__ = ("status", "message", "type", "trace", "stdout", "stderr", "rerun")

    def __init__(self, status: Status, attrib: Any, limits: Limits, rerun: bool | None) -> None:
        self.status = status
        self.message: str | None = attrib.get("message") or None
        self.type: str | None = attrib.get("type") or None
        self.trace = CappedText(limits.trace)
        self.stdout: CappedText | None = None
        self.stderr: CappedText | None = None
        # None: a plain result element; True: rerunFailure/Error; False: flaky*.
        self.rerun = rerun


class Case:
    """A testcase being read: its attributes and what its children said."""

    __slots__ = ("suite", "suite_cut", "attrib", "started_at", "outcomes", "stdout", "stderr")

    def __init__(self, suite: str, suite_cut: int, attrib: Any, started: datetime | None) -> None:
        self.suite = suite
        self.suite_cut = suite_cut
        self.attrib = attrib
        self.started_at = started
        self.outcomes: list[Outcome] = []
        self.stdout: CappedText | None = None
        self.stderr: CappedText | None = None


# CaseResult is a NamedTuple: tuple.__new__(CaseResult, values) makes one in a single C call,
# without the Python frame of its generated __new__ or _make (the hot path makes one per case).
new_result = tuple.__new__


def _text(capped: CappedText | None) -> tuple[str | None, int]:
    if capped is None or not capped.total:
        return None, 0
    text, cut = capped.result()
    # isspace() is strip()'s test without copying the text (often a whole stack trace).
    return (None if not text or text.isspace() else text), cut


def _describe(outcomes: list[Outcome], limits: Limits) -> tuple[Any, ...]:
    """Merge result elements into (status, message, type, trace, cut).

    Several ``<failure>`` elements in one testcase (action-junit-report keeps such
    fixtures) stay one result: its status follows ``_PRECEDENCE``, its messages
    and traces are joined in document order, its type is the deciding element's.
    """
    if len(outcomes) == 1:  # the usual case, without the search and the joins below
        lead = outcomes[0]
        trace, cut = _text(lead.trace)
        message = lead.message
        if message is None and trace is not None:
            message = trace.strip().split("\n", 1)[0]
        message_cut = 0
        if message is not None:
            message, message_cut = cap_str(message, limits.message)
        kind, type_cut = cap_str(lead.type, limits.name) if lead.type else (None, 0)
        return lead.status, message, kind, trace, cut + message_cut + type_cut
    status = next(s for s in _PRECEDENCE if any(o.status == s for o in outcomes))
    lead = next(o for o in outcomes if o.status == status)
    messages: list[str] = []
    traces: list[str] = []
    cut = 0
    for outcome in outcomes:
        trace, trace_cut = _text(outcome.trace)
        cut += trace_cut
        message = outcome.message
        if message is None and trace is not None:
            message = trace.strip().split("\n", 1)[0]
        if message is not None:
            messages.append(message)
        if trace is not None:
            traces.append(trace)
    message, message_cut = cap_str("\n".join(messages), limits.message) if messages else (None, 0)
    if len(traces) > 1:
        trace, trace_cut = cap_str("\n\n".join(traces), limits.trace)
    else:  # a single trace was capped while it streamed in
        trace, trace_cut = (traces[0] if traces else None), 0
    kind, type_cut = cap_str(lead.type, limits.name) if lead.type else (None, 0)
    return status, message, kind, trace, cut + message_cut + trace_cut + type_cut


def _status_from_attributes(attrib: Any) -> Status:
    status = (attrib.get("status") or "").lower()
    if status in SKIP_STATUSES or (attrib.get("result") or "").lower() in SKIP_RESULTS:
        return "skipped"
    if attrib.get("ignored") == "true":
        return "skipped"
    if status in FAIL_STATUSES:
        return "failed"
    if status in ERROR_STATUSES:
        return "error"
    return "passed"


def results(case: Case, limits: Limits) -> list[CaseResult]:
    """The attempts of a finished testcase, the final one last."""
    outcomes = case.outcomes
    if len(outcomes) != 1 or outcomes[0].rerun is not None:
        return list(_attempts(case, limits))
    # One result element (a failure or a skip): the usual testcase with children, made
    # without the generator, the lists and the calls that retries need.
    attrib = case.attrib
    cap = limits.name
    classname = attrib.get("classname") or ""
    name = attrib.get("name") or ""
    ident_cut = case.suite_cut
    if len(classname) > cap or len(name) > cap:
        classname, class_cut = cap_str(classname, cap)
        name, name_cut = cap_str(name, cap)
        ident_cut += class_cut + name_cut
    lead = outcomes[0]
    trace, cut = _text(lead.trace) if lead.trace.total else (None, 0)
    message = lead.message
    if message is None and trace is not None:
        message = trace.strip().split("\n", 1)[0]
    if message is not None and len(message) > limits.message:
        message, message_cut = cap_str(message, limits.message)
        cut += message_cut
    kind = lead.type
    if kind is not None and len(kind) > cap:
        kind, type_cut = cap_str(kind, cap)
        cut += type_cut
    stdout, out_cut = _text(case.stdout) if case.stdout is not None else (None, 0)
    stderr, err_cut = _text(case.stderr) if case.stderr is not None else (None, 0)
    return [new_result(CaseResult, (
        case.suite, classname, name, lead.status, 1, True, False,
        parse_time(attrib.get("time")), message, kind, trace, stdout, stderr,
        ident_cut + cut + out_cut + err_cut, case.started_at,
    ))]  # fmt: skip


def _attempts(case: Case, limits: Limits) -> Iterator[CaseResult]:
    """Yield the attempts of a testcase with retries (or none or several result elements)."""
    attrib = case.attrib
    classname, class_cut = cap_str(attrib.get("classname") or "", limits.name)
    name, name_cut = cap_str(attrib.get("name") or "", limits.name)
    ident_cut = class_cut + name_cut + case.suite_cut
    outcomes = case.outcomes
    plain = [o for o in outcomes if o.rerun is None]
    retries = [o for o in outcomes if o.rerun is not None]
    if plain:
        status, message, kind, trace, cut = _describe(plain, limits)
    else:
        status, message, kind, trace, cut = _status_from_attributes(attrib), None, None, None, 0
    stdout, out_cut = _text(case.stdout)
    stderr, err_cut = _text(case.stderr)
    duration = parse_time(attrib.get("time"))
    attempt = 0
    if retries:
        reruns = [o for o in retries if o.rerun]
        if reruns and status in ("failed", "error"):
            # rerunFailure: the original failure is attempt 1, the last rerun is final.
            yield new_result(CaseResult, (
                case.suite, classname, name, status, 1, False, False, None, message, kind,
                trace, stdout, stderr, ident_cut + cut + out_cut + err_cut, case.started_at,
            ))  # fmt: skip
            attempt = 1
            retries = reruns
        for index, retry in enumerate(retries, start=attempt + 1):
            final = bool(retry.rerun) and index == attempt + len(retries)
            r_status, r_message, r_kind, r_trace, r_cut = _describe([retry], limits)
            r_out, r_out_cut = _text(retry.stdout)
            r_err, r_err_cut = _text(retry.stderr)
            yield new_result(CaseResult, (
                case.suite, classname, name, r_status, index, final, False,
                duration if final else None, r_message, r_kind, r_trace, r_out, r_err,
                ident_cut + r_cut + r_out_cut + r_err_cut, case.started_at,
            ))  # fmt: skip
            if final:
                return
        attempt += len(retries)
    # flakyFailure/flakyError: the test passed on the attempt after the flaky ones.
    flaky = bool(retries) and status == "passed"
    yield new_result(CaseResult, (
        case.suite, classname, name, status, attempt + 1, True, flaky, duration, message, kind,
        trace, stdout, stderr, ident_cut + cut + out_cut + err_cut, case.started_at,
    ))  # fmt: skip
