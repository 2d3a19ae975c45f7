"""Rule COLLECT: a unit that could not be inventoried completely is an ERROR that blocks acting on it (pure)."""

from __future__ import annotations

from collections.abc import Iterable

from custodian.model import TIMELINE_UNIT, CollectionError, Finding, Severity, Status, Subject, Verdict


def _what(error: CollectionError) -> str:
    if error.unit == TIMELINE_UNIT:
        return "every account action and every action on a release-tagged resource or blob"
    return "every action in it"


def collection_errors(errors: Iterable[CollectionError]) -> list[Verdict]:
    """One ERROR per incomplete unit; every message of that unit in the finding."""
    by_unit: dict[str, list[CollectionError]] = {}
    for error in errors:
        by_unit.setdefault(error.unit, []).append(error)
    out = []
    for unit, unit_errors in by_unit.items():
        messages = list(dict.fromkeys(e.message for e in unit_errors))
        shown = "; ".join(messages[:3]) + (f" (and {len(messages) - 3} more)" if len(messages) > 3 else "")
        first = unit_errors[0]
        finding = Finding(
            "COLLECT",
            Status.ERROR,
            Severity.HIGH,
            Subject(provider=first.provider.value, kind="scope", provider_name=unit, scope=unit),
            f"inventory of {unit} is incomplete: {shown}; {_what(first)} is blocked in this run",
            {"scope": unit, "problems": "\n".join(messages)},
            "Fix the cause (access, throttling, configuration) and rerun: actions stay blocked until a complete "
            "inventory succeeds.",
        )
        out.append(Verdict(finding))
    return out
