"""Configuration value types: durations, lists, secret references, the strict base model, ConfigError."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)

_DURATION = re.compile(r"^\s*(?:(\d+)\s*w)?\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?\s*$")
_SECRET_SHAPE = re.compile(r"^(gh[pousr]_|github_pat_|eyJ|xox[abp]-)")  # token formats, not variable names
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
MAX_DURATION = timedelta(days=36500)  # 100 years: longer is a typo, and `now + it` must stay a valid date


def parse_duration(value: object) -> timedelta:
    """`90s`, `30m`, `24h`, `14d`, `2w`, combinations like `1d12h`; a timedelta passes through."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("must be a duration like 30m, 24h or 14d")
    if isinstance(value, int):
        raise ValueError(f"a bare number ({value}) is ambiguous: add a unit, e.g. {value}h or {value}d")
    match = _DURATION.match(value)
    if not value.strip() or match is None or not any(match.groups()):
        raise ValueError(f"'{value}' is not a duration (use units w, d, h, m, s, e.g. 24h or 1d12h)")
    too_long = f"'{value}' is too long: a duration may be at most {MAX_DURATION.days}d (100 years)"
    try:
        weeks, days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
        duration = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
    except (OverflowError, ValueError):  # past timedelta's range, or more digits than int() reads
        raise ValueError(too_long) from None
    if duration > MAX_DURATION:
        raise ValueError(too_long)
    return duration


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    Field(json_schema_extra={"type": "string", "examples": ["24h", "14d"]}),
]


def _split_list(value: object) -> object:
    """Accept `a,b` (handy with `${VAR}`) as well as a YAML list."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


StrList = Annotated[list[str], BeforeValidator(_split_list)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(Strict):
    """Where a secret lives: the name of an environment variable, or a file path. Never the secret."""

    env: str | None = Field(default=None, description="name of the environment variable holding the secret")
    file: Path | None = Field(default=None, description="path of a file holding the secret")

    @model_validator(mode="after")
    def _one_source(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of 'env' (a variable name) or 'file' (a path)")
        if self.env is not None and (
            not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.env) or _SECRET_SHAPE.match(self.env)
        ):
            raise ValueError(f"'env' must be an environment variable name, not a value (got {self.env[:4]}...)")
        return self

    def resolve(self) -> str:
        """Read the secret now (raises ConfigError naming the variable or file if it is missing)."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if not value:
                raise ConfigError([f"secret: environment variable {self.env} is not set"])
            return value
        assert self.file is not None
        try:
            return self.file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError([f"secret: cannot read {self.file}: {exc.strerror}"]) from exc


def _existing_file(path: Path) -> Path:
    if not path.is_file():
        state = "not a file" if path.exists() else "no such file"
        raise ValueError(f"{state}: {path} (a relative path is relative to the configuration file's directory)")
    return path


def _existing_directory(path: Path) -> Path:
    if not path.is_dir():
        state = "not a directory" if path.exists() else "no such directory"
        raise ValueError(f"{state}: {path} (a relative path is relative to the configuration file's directory)")
    return path


def creatable_problem(path: Path, what: str) -> str | None:
    """Why `path` cannot be (or become) a `what` ("file" or "directory") the custodian writes: None if it can.

    It exists as that, or it can be created: its nearest existing ancestor is a writable directory.
    Nothing is created here."""
    where = "(a relative path is relative to the configuration file's directory)"
    if path.exists():
        if what == "directory" and not path.is_dir():
            return f"not a directory: {path} {where}"
        if what == "file" and not path.is_file():
            return f"not a file: {path} {where}"
        return None if os.access(path, os.W_OK) else f"not writable by this user: {path}"
    ancestor = path.parent
    while not ancestor.exists() and ancestor.parent != ancestor:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"cannot create {path}: {ancestor} is not a directory {where}"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"cannot create {path}: {ancestor} is not writable by this user"
    return None


def _creatable_directory(path: Path) -> Path:
    problem = creatable_problem(path, "directory")
    if problem:
        raise ValueError(problem)
    return path


def _creatable_file(path: Path) -> Path:
    problem = creatable_problem(path, "file")
    if problem:
        raise ValueError(problem)
    return path


ExistingFile = Annotated[Path, AfterValidator(_existing_file)]
#: a file the custodian writes: it exists, or can be created (checked, never created here)
WritableFile = Annotated[Path, AfterValidator(_creatable_file)]
#: a directory the custodian writes into: it exists, or can be created (checked, never created here)
WritableDirectory = Annotated[Path, AfterValidator(_creatable_directory)]
ExistingDirectory = Annotated[Path, AfterValidator(_existing_directory)]


class Mode(StrEnum):
    AUDIT = "audit"
    ENFORCE = "enforce"


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be a positive duration (a zero grace would delete without a warning period)")
    return value


PositiveDuration = Annotated[Duration, AfterValidator(_positive)]


def _nonzero(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be a positive duration")
    return value


Span = Annotated[Duration, AfterValidator(_nonzero)]


class ConfigError(Exception):
    """The configuration is invalid; `problems` lists each as `FILE:LINE: path: problem`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems
