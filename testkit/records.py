"""Records and fields of whichever data set the model was trained on, by role.

Tests that check a rule ("a string for an integer is refused") pick the field to break by
its role here instead of naming a column, so they hold for any data set; a role the data
set lacks (no nullable category, say) makes the test skip, saying so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

from bundle.rules import FeatureRule


@dataclass(frozen=True)
class Roles:
    """The first feature of each kind, or None when the data set has none."""

    integer: FeatureRule | None
    number: FeatureRule | None
    category: FeatureRule | None
    nullable_category: FeatureRule | None

    @property
    def numeric(self) -> FeatureRule | None:
        return self.integer or self.number

    @classmethod
    def of(cls, rules: Sequence[FeatureRule]) -> "Roles":
        def first(test) -> FeatureRule | None:
            return next((r for r in rules if test(r)), None)

        return cls(
            integer=first(lambda r: r.kind == "integer"),
            number=first(lambda r: r.kind == "number"),
            # A category that refuses what it has not seen (not `unseen: group`).
            category=first(
                lambda r: r.kind == "category" and not r.nullable and not r.any_text
            ),
            nullable_category=first(lambda r: r.kind == "category" and r.nullable),
        )


def out_of_range(rule: FeatureRule) -> Any:
    """A value of the right type just above the rule's maximum."""
    return int(rule.maximum) + 1 if rule.kind == "integer" else rule.maximum + 1.0


def unknown_category(rule: FeatureRule) -> str:
    """A string that is surely not one of the rule's categories."""
    return "not-a-category:" + max(rule.categories, key=len)


def copies_past(limit: int, record: dict) -> int:
    """How many copies of `record` make a batch body past `limit` bytes, however narrow
    the record (three short categories, say): each copy is at least its own JSON."""
    return limit // len(json.dumps(record)) + 1
