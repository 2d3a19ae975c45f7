"""Times given on the command line: ISO 8601 (`2026-12-01T00:00Z`) or relative to now (`now+7d`, `+36h`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from custodian.config import parse_duration

_RELATIVE = re.compile(r"^\s*(?:now)?\s*([+-])\s*(.+)$")


def parse_when(text: str, now: datetime) -> datetime:
    """Parse a time; raise ValueError with a message that shows the accepted forms."""
    value = text.strip()
    if value.lower() == "now":
        return now
    match = _RELATIVE.match(value)
    if match and not re.match(r"^\d{4}-", value):
        try:
            delta = parse_duration(match.group(2).strip())
        except ValueError as exc:
            raise ValueError(f"'{text}': {exc}") from exc
        return now + delta if match.group(1) == "+" else now - delta
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"'{text}' is not a time: use ISO 8601 with a timezone (2026-12-01T09:00Z) or now+7d / now-2h / +36h"
        ) from None
    if parsed.tzinfo is None:
        raise ValueError(f"'{text}' has no timezone: add Z for UTC or an offset like +01:00")
    return parsed.astimezone(UTC)
