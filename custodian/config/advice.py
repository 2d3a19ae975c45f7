"""Advice on a valid configuration: settings that load, but are probably not what was meant.

`config validate` prints these as warnings (its exit code stays 0), each at the line of its key in
the file (the loader's line index): an empty enforce allowlist while something would enforce
(`mode: enforce` or a `reaper` section), and in enforce mode caps left at their defaults or set so
high that they hardly stop a run. What cannot work at all (a registry of an unknown stage) is an
error of the loader, not advice.
"""

from __future__ import annotations

from custodian.config.loading import key_lines, nearest_line
from custodian.config.models import Config, EnforceConfig
from custodian.config.values import Mode

HIGH_ACTIONS_PER_RUN = 200  # above this, one run may change more than a person can review
HIGH_ACTIONS_PERCENT = 80.0  # above this, one run may empty most of a scope

_ALLOWLISTS = {
    "allowed_subscriptions": "every Azure action (ACR tokens; the reaper's marks and deletions)",
    "allowed_orgs": "every GitHub action (machine accounts are neither disabled nor deleted)",
}


def config_warnings(config: Config, text: str, source: str) -> list[str]:
    """Warnings about `config`, loaded from `text` (the file `source`), as `FILE:LINE: message`."""
    lines = key_lines(text)

    enforcing = config.mode is Mode.ENFORCE
    cause = ("mode",) if enforcing else ("reaper",)  # where a key left out is blamed, without an enforce section

    def at(key: str) -> str:
        line = nearest_line(lines, ("enforce", key) if ("enforce",) in lines else cause)
        return f"{source}:{line}" if line else source

    warnings: list[str] = []
    if enforcing or config.reaper is not None:
        why = "mode is enforce" if enforcing else "a reaper section is configured"
        for key, refused in _ALLOWLISTS.items():
            if not getattr(config.enforce, key):
                warnings.append(f"{at(key)}: enforce.{key} is empty while {why}: enforce --apply refuses {refused}")
    if enforcing:
        warnings += [f"{at(key)}: {message}" for key, message in _cap_warnings(config.enforce)]
    return warnings


def _cap_warnings(enforce: EnforceConfig) -> list[tuple[str, str]]:
    """(key, message) for each cap of an enforcing configuration left at its default or set very high."""
    out = []
    for key, high, unit in (
        ("max_actions_per_run", HIGH_ACTIONS_PER_RUN, " actions"),
        ("max_actions_percent", HIGH_ACTIONS_PERCENT, "% of a scope's objects"),
    ):
        value = getattr(enforce, key)
        if key not in enforce.model_fields_set:
            out.append(
                (
                    key,
                    f"enforce.{key} is not set: mode is enforce with the default cap of {_number(value)}{unit} "
                    "per run; set a cap that suits your estate",
                )
            )
        elif value > high:
            out.append(
                (
                    key,
                    f"enforce.{key} is {_number(value)}: very high for mode enforce (above {_number(high)}); "
                    f"one run may change up to {_number(value)}{unit} before a cap stops it",
                )
            )
    return out


def _number(value: float) -> str:
    return f"{value:g}"
