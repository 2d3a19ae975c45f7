"""Scenario value types: times (`When`), name rules, tag and metadata checks, shared validators.

Times are `When` values: an ISO 8601 instant with a timezone (``2026-11-26T08:00:00Z``) or a time
relative to the scenario clock (``now``, ``now - 30h``, ``now + 7d``, ``now - 2h30m``; units s, m, h,
d, w, largest first, each at most once). They are resolved only when seeding, against ``clock.now()``.
The models of `scenario_schema` are built from these (it re-exports `When`, `TimeSyntaxError` and
`yaml_type`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, GetCoreSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

# --------------------------------------------------------------------------------------------------
# Scenario times

_UNIT_SECONDS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_UNIT_ORDER = "wdhms"
_RELATIVE = re.compile(r"now(?: *([+-]) *((?:[0-9]+[a-z])+))?")
_TERM = re.compile(r"([0-9]+)([a-z])")
_ISO_SHAPE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}.*")

TIME_HELP = "expected an ISO 8601 time with a timezone (e.g. 2026-11-26T08:00:00Z) or 'now', 'now - 30h', 'now + 2h30m'"


class TimeSyntaxError(ValueError):
    """A scenario time string that is neither ISO 8601 (with a timezone) nor a relative time."""


@dataclass(frozen=True)
class When:
    """A scenario time: an absolute instant, or an offset from the scenario clock's `now`."""

    text: str
    absolute: datetime | None = None
    offset: timedelta = timedelta(0)

    @property
    def is_relative(self) -> bool:
        return self.absolute is None

    def resolve(self, now: datetime) -> datetime:
        """The instant this time denotes when the scenario clock reads `now` (timezone-aware)."""
        if self.absolute is not None:
            return self.absolute
        if now.tzinfo is None:
            raise ValueError("scenario times resolve against a timezone-aware now")
        return now + self.offset

    def comparable_with(self, other: When) -> bool:
        """Whether the order of the two times is known without knowing `now`."""
        return self.is_relative == other.is_relative

    def sort_key(self) -> tuple[int, float]:
        if self.absolute is not None:
            return (1, self.absolute.timestamp())
        return (0, self.offset.total_seconds())

    @classmethod
    def parse(cls, text: str) -> When:
        """Parse strictly; raise `TimeSyntaxError` with a readable reason."""
        if text != text.strip():
            raise TimeSyntaxError(f"{text!r}: leading or trailing spaces; {TIME_HELP}")
        if text.startswith("now"):
            return cls(text=text, offset=_parse_offset(text))
        if _ISO_SHAPE.fullmatch(text):
            try:
                parsed = datetime.fromisoformat(text)
            except ValueError:
                raise TimeSyntaxError(f"{text!r} is not a valid ISO 8601 time; {TIME_HELP}") from None
            if parsed.tzinfo is None:
                raise TimeSyntaxError(f"{text!r} has no timezone (add Z or +00:00)")
            return cls(text=text, absolute=parsed)
        raise TimeSyntaxError(f"{text!r} is not a time; {TIME_HELP}")

    def __str__(self) -> str:
        return self.text

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            _validate_when,
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )


def _parse_offset(text: str) -> timedelta:
    match = _RELATIVE.fullmatch(text)
    if match is None:
        raise TimeSyntaxError(
            f"{text!r} is not a relative time: write 'now', 'now - 30h' or 'now + 2h30m' (units w, d, h, m, s)"
        )
    sign, terms = match.group(1), match.group(2)
    if sign is None:
        return timedelta(0)
    seconds = 0
    last = -1
    for amount, unit in _TERM.findall(terms):
        if unit not in _UNIT_SECONDS:
            raise TimeSyntaxError(f"{text!r}: unknown unit {unit!r} (use w, d, h, m or s)")
        position = _UNIT_ORDER.index(unit)
        if position <= last:
            raise TimeSyntaxError(f"{text!r}: units must go from largest to smallest, each once (e.g. 1d2h30m)")
        last = position
        seconds += int(amount) * _UNIT_SECONDS[unit]
    return timedelta(seconds=seconds if sign == "+" else -seconds)


def _validate_when(value: object) -> When:
    if isinstance(value, When):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("time_type", "expected a time string, got {kind}", {"kind": yaml_type(value)})
    try:
        return When.parse(value)
    except TimeSyntaxError as exc:
        raise PydanticCustomError("time_syntax", "{reason}", {"reason": str(exc)}) from None


def yaml_type(value: object) -> str:
    """The YAML-ish name of a loaded value's type, for error messages."""
    names: dict[type, str] = {
        str: "string",
        bool: "boolean",
        int: "integer",
        float: "number",
        list: "list",
        dict: "mapping",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)


# --------------------------------------------------------------------------------------------------
# Names


def matching(pattern: str, what: str) -> AfterValidator:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise PydanticCustomError("name_syntax", "{value} is not {what}", {"value": repr(value), "what": what})
        return value

    return AfterValidator(check)


def _checked(check: Callable[[str], str | None]) -> AfterValidator:
    def run(value: str) -> str:
        problem = check(value)
        if problem is not None:
            raise PydanticCustomError("invalid", "{problem}", {"problem": problem})
        return value

    return AfterValidator(run)


GITHUB_LOGIN_PATTERN = r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}"
GithubLogin = Annotated[
    str,
    matching(GITHUB_LOGIN_PATTERN, "a GitHub login (letters, digits, single inner hyphens, at most 39; no dots)"),
]
RepoName = Annotated[str, matching(GITHUB_LOGIN_PATTERN + r"/[A-Za-z0-9._-]{1,100}", "a repository 'owner/name'")]
GitRef = Annotated[str, matching(r"[^\s~^:?*\[\\]{1,250}", "a git ref name")]
Sha = Annotated[str, matching(r"[0-9a-f]{40}", "a 40-hex commit sha")]
NonEmpty = Annotated[str, matching(r"\S(?:.*\S)?", "a non-empty text")]
SubscriptionId = Annotated[
    str,
    matching(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "a subscription GUID"),
]
ResourceGroupName = Annotated[
    str, matching(r"[-\w.()]{0,89}[-\w()]", "a resource group name (1-90 of letters, digits, - _ . ( ))")
]
Location = Annotated[str, matching(r"[a-z][a-z0-9]{1,40}", "an Azure location such as eastus")]
ResourceName = Annotated[
    str,
    matching(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?", "a resource name (1-80 of letters, digits, - _ .)"),
]
RegistryName = Annotated[str, matching(r"[A-Za-z0-9]{5,50}", "a registry name (5-50 letters and digits)")]
TokenName = Annotated[str, matching(r"[A-Za-z0-9-]{5,50}", "an ACR token name (5-50 letters, digits, hyphens)")]
ScopeMapName = Annotated[
    str, matching(r"_?[A-Za-z0-9][A-Za-z0-9_-]{4,49}", "a scope map name (5-50 letters, digits, - _)")
]
StorageAccountName = Annotated[
    str, matching(r"[a-z0-9]{3,24}", "a storage account name (3-24 lower-case letters and digits)")
]
ContainerName = Annotated[
    str,
    matching(
        r"(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]",
        "a container name (3-63 lower-case letters, digits, single inner hyphens)",
    ),
]
BlobName = Annotated[str, matching(r"[^\\]{1,1024}", "a blob name (1-1024 characters, no backslash)")]
SubnetRef = Annotated[str, matching(r"[-\w.]{2,64}/[-\w.]{1,80}", "a subnet 'vnet-name/subnet-name'")]
ArmId = Annotated[str, matching(r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/\S+", "an ARM resource id")]
Stage = Annotated[str, matching(r"[a-z][a-z0-9]{0,19}", "a stage name (lower-case letters and digits)")]


def _arm_tag_problem(key: str, value: str) -> str | None:
    if not 1 <= len(key) <= 512 or any(c in key for c in "<>%&\\?/"):
        return f"tag name {key!r}: 1-512 characters, none of < > % & \\ ? /"
    if len(value) > 256:
        return f"tag {key!r}: value longer than 256 characters"
    return None


def _check_arm_tags(tags: dict[str, str]) -> dict[str, str]:
    for key, value in tags.items():
        problem = _arm_tag_problem(key, value)
        if problem:
            raise PydanticCustomError("tags", "{problem}", {"problem": problem})
    return tags


_INDEX_TAG = re.compile(r"[A-Za-z0-9 +\-./:=_]*")


def _check_index_tags(tags: dict[str, str]) -> dict[str, str]:
    if len(tags) > 10:
        raise PydanticCustomError("tags", "a blob has at most 10 index tags, not {n}", {"n": len(tags)})
    for key, value in tags.items():
        if not 1 <= len(key) <= 128 or not _INDEX_TAG.fullmatch(key):
            raise PydanticCustomError(
                "tags", "index tag key {key}: 1-128 of letters, digits, space and + - . / : = _", {"key": repr(key)}
            )
        if len(value) > 256 or not _INDEX_TAG.fullmatch(value):
            raise PydanticCustomError(
                "tags",
                "index tag {key}: value of at most 256 letters, digits, space and + - . / : = _",
                {"key": repr(key)},
            )
    return tags


_METADATA_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,255}")


def _check_metadata(metadata: dict[str, str]) -> dict[str, str]:
    for key in metadata:
        if not _METADATA_KEY.fullmatch(key):
            raise PydanticCustomError("metadata", "metadata key {key} must be a C# identifier", {"key": repr(key)})
    return metadata


ArmTags = Annotated[dict[str, str], AfterValidator(_check_arm_tags)]
IndexTags = Annotated[dict[str, str], AfterValidator(_check_index_tags)]
Metadata = Annotated[dict[str, str], AfterValidator(_check_metadata)]

MAX_BLOB_SIZE = 16 * 1024 * 1024


def non_empty_list(value: list[Any], what: str) -> list[Any]:
    if not value:
        raise PydanticCustomError("empty", "{what} must list at least one item", {"what": what})
    return value


def in_range(value: int, low: int, high: int, what: str) -> int:
    if not low <= value <= high:
        raise PydanticCustomError(
            "range",
            "{what} must be between {low} and {high}, not {value}",
            {"what": what, "low": low, "high": high, "value": value},
        )
    return value


class SpecModel(BaseModel):
    """The base of every scenario model: unknown keys are errors, types are strict, values frozen."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
