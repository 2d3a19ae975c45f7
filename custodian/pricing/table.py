"""The price table (shipped, dated, overridable) and the estimators that turn resources into costs.

Estimates are `Decimal`, monthly, in the table's currency, and each says how it was made (`basis`),
so finance can check the arithmetic. A resource the table cannot price gets no cost (None), never 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from importlib.resources import files
from pathlib import Path

import yaml

from custodian.model import AzureResource, Cost, PriceTableInfo, ResourceKind

CENT = Decimal("0.01")
GIB = 1024**3


class PriceTableError(ValueError):
    """A price table file is unreadable or malformed (the message names the file and the key)."""


def _decimal_map(raw: object, key: str, source: str) -> dict[str, Decimal]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise PriceTableError(f"{source}: '{key}' must be a mapping of name -> price")
    out = {}
    for name, value in raw.items():
        try:
            price = Decimal(str(value))
        except InvalidOperation:
            raise PriceTableError(f"{source}: {key}.{name}: '{value}' is not a number") from None
        if price < 0:
            raise PriceTableError(f"{source}: {key}.{name}: a price cannot be negative")
        out[str(name).lower()] = price
    return out


@dataclass(frozen=True)
class PriceTable:
    source: str
    retrieved: str
    currency: str
    region: str
    hours_per_month: Decimal
    vm_hourly: dict[str, Decimal] = field(default_factory=dict)
    disk_gb_month: dict[str, Decimal] = field(default_factory=dict)
    public_ip_month: dict[str, Decimal] = field(default_factory=dict)
    blob_gb_month: dict[str, Decimal] = field(default_factory=dict)
    free: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str, source: str) -> PriceTable:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise PriceTableError(f"{source}: YAML syntax error: {exc}") from exc
        if not isinstance(data, Mapping):
            raise PriceTableError(f"{source}: a price table is a mapping")
        missing = [k for k in ("source", "retrieved", "currency", "region") if not data.get(k)]
        if missing:
            raise PriceTableError(f"{source}: missing {', '.join(missing)} (a price table must say where it is from)")
        return cls(
            source=str(data["source"]),
            retrieved=str(data["retrieved"]),
            currency=str(data["currency"]),
            region=str(data["region"]),
            hours_per_month=Decimal(str(data.get("hours_per_month", 730))),
            vm_hourly=_decimal_map(data.get("vm_hourly"), "vm_hourly", source),
            disk_gb_month=_decimal_map(data.get("disk_gb_month"), "disk_gb_month", source),
            public_ip_month=_decimal_map(data.get("public_ip_month"), "public_ip_month", source),
            blob_gb_month=_decimal_map(data.get("blob_gb_month"), "blob_gb_month", source),
            free=frozenset(str(t).lower() for t in data.get("free") or ()),
        )

    @classmethod
    def load(cls, path: Path | None = None) -> PriceTable:
        """The file at `path`, or the table shipped with the project."""
        if path is None:
            return cls.parse(files("custodian.pricing").joinpath("prices.yaml").read_text("utf-8"), "prices.yaml")
        try:
            return cls.parse(path.read_text(encoding="utf-8"), str(path))
        except OSError as exc:
            raise PriceTableError(f"{path}: cannot read the price table: {exc.strerror}") from exc

    def info(self) -> PriceTableInfo:
        """Where the prices come from, for reports."""
        return PriceTableInfo(source=self.source, retrieved=self.retrieved, region=self.region, currency=self.currency)

    def _cost(self, amount: Decimal, basis: str) -> Cost:
        return Cost(
            amount.quantize(CENT, ROUND_HALF_UP),
            self.currency,
            f"{basis} (price table {self.retrieved}, {self.region})",
        )

    # -- estimators -----------------------------------------------------------------------------
    def vm_compute(self, size: str, power_state: str) -> Cost | None:
        """Compute of a VM: billed while running or stopped (not deallocated); free when deallocated."""
        if power_state.lower() in ("deallocated", "deallocating"):
            return self._cost(Decimal(0), f"{size} deallocated: no compute charge (its disks still bill)")
        hourly = self.vm_hourly.get(size.lower())
        if hourly is None:
            return None
        note = " (stopped but not deallocated: compute still bills)" if power_state.lower() == "stopped" else ""
        return self._cost(hourly * self.hours_per_month, f"{size} {self.hours_per_month}h x {hourly}/h{note}")

    def disk(self, sku: str, size_gb: int | float) -> Cost | None:
        rate = self.disk_gb_month.get(sku.lower())
        if rate is None:
            return None
        size = Decimal(str(size_gb))
        return self._cost(rate * size, f"{sku} {size} GB x {rate}/GB-month")

    def public_ip(self, sku: str) -> Cost | None:
        rate = self.public_ip_month.get(sku.lower())
        return None if rate is None else self._cost(rate, f"public IP {sku} {rate}/month")

    def blob(self, size_bytes: int, tier: str | None) -> Cost | None:
        tier_name = tier or "Hot"
        rate = self.blob_gb_month.get(tier_name.lower())
        if rate is None:
            return None
        gb = Decimal(size_bytes) / Decimal(GIB)
        return self._cost(rate * gb, f"blob {tier_name} {gb.quantize(Decimal('0.001'))} GB x {rate}/GB-month")

    def free_resource(self, resource_type: str) -> Cost | None:
        if resource_type.lower() in self.free:
            return self._cost(Decimal(0), f"{resource_type}: no charge of its own")
        return None

    def arm_resource(self, resource: AzureResource) -> Cost | None:
        """Estimate a VM, managed disk, public IP, NIC or NSG from its typed facts."""
        facts = resource.facts
        if resource.kind is ResourceKind.VIRTUAL_MACHINE:
            return self.vm_compute(facts.vm_size or "", facts.power_state or "running")  # unknown: assume it bills
        if resource.kind is ResourceKind.DISK:
            return self.disk(facts.sku or "", facts.disk_size_gb or 0)
        if resource.kind is ResourceKind.PUBLIC_IP:
            return self.public_ip(facts.sku or "Basic")
        return self.free_resource(resource.arm_type)
