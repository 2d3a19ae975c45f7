"""Names and identities: logical account names, provider names, and release tags, both ways.

Logical name `{version}-{stage}-{kind}-sa` (template configurable), e.g. `v0.0.1-uat-acr-sa`.
Providers forbid dots, so the provider name replaces them with hyphens (`v0-0-1-uat-acr-sa`).
Going back is ambiguous in general (`v1.10.0` vs `v1.1.0.0`...), so parsing resolves the version
against the versions the release timeline knows, and against a logical name the provider keeps
(GitHub's display name) when there is one. A name that cannot be resolved is reported, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from custodian.model import AccountKind
from custodian.rules.release_tags import KnownVersions

DEFAULT_VERSION_PATTERN = r"v\d+(?:\.\d+){1,3}(?:-[0-9A-Za-z][0-9A-Za-z.-]*)?"
_FIELD = re.compile(r"\{(version|stage|kind)\}")


class TemplateError(ValueError):
    """A naming template is unusable (missing or repeated fields, unknown fields)."""


def hyphenate(name: str) -> str:
    """The provider spelling of a logical name: dots become hyphens."""
    return name.replace(".", "-")


@dataclass(frozen=True)
class ParsedAccount:
    version: str
    stage: str
    kind: AccountKind
    logical_name: str


@dataclass(frozen=True)
class NameProblem:
    """Why a name that looks like a service account could not be resolved."""

    reason: str
    version_token: str | None = None
    stage: str | None = None
    kind: AccountKind | None = None
    unknown_version: bool = False


@dataclass(frozen=True)
class TagMatch:
    version: str
    stage: str


def _template_regex(template: str, groups: dict[str, str], required: tuple[str, ...]) -> re.Pattern[str]:
    fields = _FIELD.findall(template)
    unknown = re.findall(r"\{([^}]*)\}", _FIELD.sub("", template))
    if unknown:
        raise TemplateError(f"template {template!r} has unknown field(s): {', '.join(unknown)}")
    for name in required:
        if fields.count(name) != 1:
            raise TemplateError(f"template {template!r} must contain {{{name}}} exactly once")
    pattern, last = "", 0
    for match in _FIELD.finditer(template):
        pattern += re.escape(template[last : match.start()]) + f"(?P<{match.group(1)}>{groups[match.group(1)]})"
        last = match.end()
    pattern += re.escape(template[last:])
    # ASCII: `\d` is 0-9, never another script's digits; `\Z`: a trailing newline is not part of a name
    return re.compile(f"^{pattern}\\Z", re.ASCII)


class AccountNamer:
    """Builds and parses account names and stage tags from the configured templates."""

    def __init__(
        self,
        stages: tuple[str, ...],
        *,
        account_template: str = "{version}-{stage}-{kind}-sa",
        stage_tag_template: str = "{version}-{stage}",
        prod_tag_template: str = "{version}",
        version_pattern: str = DEFAULT_VERSION_PATTERN,
    ) -> None:
        if len(stages) < 2:
            raise TemplateError("at least two stages are needed")
        self.stages = stages
        self.account_template = account_template
        self.version_pattern = version_pattern
        stage_alt = "|".join(re.escape(s) for s in sorted(stages, key=len, reverse=True))
        kind_alt = "|".join(k.value for k in AccountKind)
        self._account_any = _template_regex(
            hyphenate(account_template),
            {"version": r"[0-9A-Za-z][0-9A-Za-z-]*?", "stage": stage_alt, "kind": kind_alt},
            ("version", "stage", "kind"),
        )
        self._account_logical = _template_regex(
            account_template,
            {"version": version_pattern, "stage": stage_alt, "kind": kind_alt},
            ("version", "stage", "kind"),
        )
        suffix = account_template.rsplit("}", 1)[-1]
        self._suffix = hyphenate(suffix).lower()
        self._stage_tag = _template_regex(
            stage_tag_template, {"version": version_pattern, "stage": stage_alt}, ("version", "stage")
        )
        self._prod_tag = _template_regex(prod_tag_template, {"version": version_pattern}, ("version",))
        self._version = re.compile(f"^{version_pattern}\\Z", re.ASCII)

    # -- building -------------------------------------------------------------------------------
    def logical_name(self, version: str, stage: str, kind: AccountKind) -> str:
        return self.account_template.format(version=version, stage=stage, kind=kind.value)

    def provider_name(self, version: str, stage: str, kind: AccountKind) -> str:
        return hyphenate(self.logical_name(version, stage, kind))

    def is_version(self, text: str) -> bool:
        return bool(self._version.match(text))

    # -- parsing --------------------------------------------------------------------------------
    def looks_like_service_account(self, provider_name: str) -> bool:
        """True when the name ends like a service account (`...-sa` with the default template)."""
        return bool(self._suffix) and provider_name.lower().endswith(self._suffix)

    def parse_account(
        self, provider_name: str, known_versions: frozenset[str], display_name: str | None = None
    ) -> ParsedAccount | NameProblem:
        """Resolve a provider name to (version, stage, kind), or say why it cannot be."""
        match = self._account_any.match(provider_name)
        if match is None:
            return NameProblem(f"'{provider_name}' does not match the account template '{self.account_template}'")
        token, stage, kind = match.group("version"), match.group("stage"), AccountKind(match.group("kind"))
        if display_name:
            logical = self._account_logical.match(display_name)
            if logical and hyphenate(display_name) == provider_name:
                version = logical.group("version")
                if version not in known_versions:
                    return NameProblem(
                        f"'{provider_name}' names version {version}, which no release tag or deployment knows",
                        token,
                        stage,
                        kind,
                        unknown_version=True,
                    )
                return ParsedAccount(version, stage, kind, display_name)
        if isinstance(known_versions, KnownVersions):
            candidates = list(known_versions.spelled_as(token))
        else:  # a plain set: one scan (an evaluation indexes its versions once: `KnownVersions`)
            candidates = sorted(v for v in known_versions if hyphenate(v) == token)
        if len(candidates) == 1:
            version = candidates[0]
            return ParsedAccount(version, stage, kind, self.logical_name(version, stage, kind))
        if len(candidates) > 1:
            return NameProblem(
                f"'{provider_name}' is ambiguous: it could name versions {', '.join(candidates)}; "
                "record the logical name on the account to disambiguate",
                token,
                stage,
                kind,
            )
        return NameProblem(
            f"'{provider_name}' names version token '{token}', which matches no known release version",
            token,
            stage,
            kind,
            unknown_version=True,
        )

    def parse_tag(self, tag: str) -> TagMatch | None:
        """`v0.0.1-uat` -> (v0.0.1, uat); `v0.0.1` -> (v0.0.1, <last stage>); other tags -> None."""
        match = self._stage_tag.match(tag)
        if match and match.group("stage") != self.stages[-1]:
            return TagMatch(match.group("version"), match.group("stage"))
        match = self._prod_tag.match(tag)
        if match is None:
            return None
        version = match.group("version")
        if any(version.endswith(f"-{stage}") for stage in self.stages):
            return None  # e.g. `v0.0.1-prod`: a stage tag of the last stage, not a version of its own
        return TagMatch(version, self.stages[-1])
