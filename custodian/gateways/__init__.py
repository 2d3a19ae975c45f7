"""Gateways: how the engine's executor reads and changes each kind of target, over the providers.

One gateway per collection unit (a GitHub org, a registry, a storage account) and one for ARM
resources; `Gateways.for_action` picks the one an action needs. Each knows what "done" looks like
for its action kinds (the re-read that confirms them).
"""

from __future__ import annotations

from custodian.engine.execute import Gateway
from custodian.model import Action


class NoGatewayError(LookupError):
    """No gateway for an action's unit (e.g. a crashed run's intent on a storage account no longer configured)."""


class Gateways:
    """The gateways of one run (built per run: no global registry)."""

    def __init__(self) -> None:
        self._by_unit: dict[str, Gateway] = {}
        self._arm: Gateway | None = None

    def add(self, unit: str, gateway: Gateway) -> None:
        self._by_unit[unit] = gateway

    def set_arm(self, gateway: Gateway) -> None:
        self._arm = gateway

    def for_action(self, action: Action) -> Gateway:
        if action.target_kind.is_arm:
            if self._arm is None:
                raise NoGatewayError("no ARM gateway in this run (no reaper configured)")
            return self._arm
        unit = action.subject.scope or ""
        try:
            return self._by_unit[unit]
        except KeyError:
            raise NoGatewayError(f"no gateway for {unit!r} in this run (is it still configured?)") from None
