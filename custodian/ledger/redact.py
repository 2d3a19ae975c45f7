"""Scrub secrets out of JSON-like snapshots before they reach the ledger (or a report).

A mapping key is secret when one of its words (split on punctuation, digits and camelCase) is in
`SECRET_WORDS`: `token`, `access_token`, `accessToken`, `password1`, `ssh_key`, `value`, ... Its
value, whatever it is, becomes `"***"`. Over-redaction (e.g. `key_id`) is the safe side.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

REDACTED = "***"

SECRET_WORDS: frozenset[str] = frozenset(
    {
        "token",
        "tokens",
        "password",
        "passwords",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "secrets",
        "key",
        "keys",
        "value",
        "values",
        "credential",
        "credentials",
        "authorization",
        "cookie",
        "signature",
    }
)

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")


def is_secret_key(key: str) -> bool:
    """True when a mapping key names something secret (see the module docstring)."""
    return any(word.lower() in SECRET_WORDS for word in _WORD.findall(key))


def redact(value: object) -> object:
    """A copy of `value` with every secret-named mapping entry replaced by `"***"`, recursively.

    Mappings become dicts and tuples/lists become lists; other values are returned unchanged.
    """
    if isinstance(value, Mapping):
        return {str(key): (REDACTED if is_secret_key(str(key)) else redact(item)) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


def redact_mapping(snapshot: Mapping[str, object]) -> dict[str, object]:
    """`redact` for a top-level mapping, typed as a dict."""
    return {key: (REDACTED if is_secret_key(key) else redact(item)) for key, item in snapshot.items()}
