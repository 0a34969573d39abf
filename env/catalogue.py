"""Items to negotiate over: the default catalogue shipped with Haggle and loaders for a user's own listings.

Supported files: CSV or JSONL with `title, category, description, reference_price` columns, and the
CraigslistBargains JSON layout (a list of dialogues whose `scenario.kbs[*].item` holds `Title`, `Category`,
`Description` (a list of lines) and `Price`, the listing price).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Item:
    title: str
    category: str
    description: str
    reference_price: float

    def __post_init__(self) -> None:
        if not self.reference_price > 0:
            raise ValueError(
                f"item {self.title!r}: reference_price must be positive, got {self.reference_price}"
            )


def _item_from_record(record: dict[str, Any], where: str) -> Item:
    try:
        return Item(
            title=str(record["title"]).strip(),
            category=str(record.get("category", "")).strip(),
            description=str(record.get("description", "")).strip(),
            reference_price=float(record["reference_price"]),
        )
    except KeyError as exc:
        raise ValueError(f"{where}: missing column {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None


def _craigslist_items(dialogues: list[dict[str, Any]]) -> list[Item]:
    items: dict[tuple[str, float], Item] = {}
    for dialogue in dialogues:
        for kb in dialogue.get("scenario", {}).get("kbs", []):
            listing = kb.get("item", {})
            price = listing.get("Price")
            if not isinstance(price, int | float) or price <= 0:
                continue  # CraigslistBargains has listings with price -1 or 0: not a usable reference.
            description = listing.get("Description", "")
            if isinstance(description, list):
                description = " ".join(description)
            item = Item(
                str(listing.get("Title", "")).strip(),
                str(listing.get("Category", "")).strip(),
                str(description).strip(),
                float(price),
            )
            items[(item.title, item.reference_price)] = item
    return list(items.values())


def load_catalogue(path: str | Path) -> list[Item]:
    """Load items from CSV, JSONL or CraigslistBargains JSON (the layout is recognised, not guessed by name)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".csv":
        rows = csv.DictReader(text.splitlines())
        items = [_item_from_record(row, f"{path}:{line}") for line, row in enumerate(rows, start=2)]
    elif text.lstrip().startswith("["):
        items = _craigslist_items(json.loads(text))
    else:
        items = [
            _item_from_record(json.loads(line), f"{path}:{number}")
            for number, line in enumerate(text.splitlines(), start=1)
            if line.strip()
        ]
    if not items:
        raise ValueError(f"{path}: no usable items")
    return items


def default_catalogue() -> list[Item]:
    """The catalogue Haggle ships: everyday goods to real estate, a few dollars to a few million."""
    with resources.as_file(resources.files("haggle.env") / "resources" / "catalogue.jsonl") as path:
        return load_catalogue(path)
