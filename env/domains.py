"""Domains: the framing and units of a deal (abstract good, hotel room block in EUR, used car, ...).

Domains live in YAML (`env/resources/domains.yaml`, extendable from a sampler config), so adding one is one entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml
from haggle.env.config_loading import build, refuse_unknown


@dataclass(frozen=True)
class Domain:
    name: str
    currency: str
    currency_symbol: str
    item_source: Literal["catalogue", "template"]
    buyer_label: str
    seller_label: str
    setting: str
    item_title: str = ""
    item_description: str = ""
    categories: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.item_source not in ("catalogue", "template"):
            raise ValueError(f"domain {self.name!r}: item_source must be 'catalogue' or 'template'")
        if self.item_source == "template" and not self.item_title:
            raise ValueError(f"domain {self.name!r}: a template domain needs item_title")

    @classmethod
    def from_mapping(cls, name: str, fields: dict[str, Any] | None) -> Domain:
        """A domain's YAML entry: its fields under its name (which names it, so `name` is no field here)."""
        where = f"domains.{name}"
        refuse_unknown(fields or {}, set(cls.__dataclass_fields__) - {"name"}, what="field", where=where)
        return build(cls, {**(fields or {}), "name": name}, what="field", where=where)

    def label(self, role: str) -> str:
        return self.buyer_label if role == "buyer" else self.seller_label

    def format_price(self, amount: float) -> str:
        return f"{self.currency_symbol}{amount:,.2f}"


def parse_domains(mapping: dict[str, Any]) -> dict[str, Domain]:
    return {name: Domain.from_mapping(name, fields) for name, fields in mapping.items()}


@cache
def builtin_domains() -> dict[str, Domain]:
    text = (resources.files("haggle.env") / "resources" / "domains.yaml").read_text(encoding="utf-8")
    return parse_domains(yaml.safe_load(text))
