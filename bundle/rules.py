"""The validation rules of a record, declared once per feature.

A `FeatureRule` says what one input field accepts (its kind, bounds, known categories and
whether it may be null) and with which message it refuses a value. Every reader of records
derives its checks from it: the API's marshmallow schema, the API's quick path, and the
batch CSV reader. So the three cannot drift apart, and every message is written here once.

How a cell's text becomes a value is defined here once too (`cell_text`, `number_value`,
`FeatureRule.from_text`), for training's cleaning, the batch reader and Spark alike: blanks
around a cell are stripped, the training set's missing markers are null, a number column's
text is a number (`181.0` is the integer 181), and a category's text is itself.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, Callable

import numpy as np

KINDS = ("integer", "number", "category")
NOT_NULL = "Field may not be null."
MISSING = "Missing data for required field."
UNKNOWN = "Unknown field."
_INTEGER_TEXT = re.compile(r"[+-]?\d+")
_EXACT_FLOAT = 2.0**53  # every integer up to this magnitude is exact in float64
# The cell texts that mean "missing" when a bundle does not record its own (older bundles).
DEFAULT_MISSING = ("",)
# The one value training fits in place of a category seen too rarely to learn from (and
# that an unseen one gets under `unseen: group`); training refuses data holding it.
OTHER = "(other)"
# What a category unseen in training gets: a 422 (refuse), the rare ones' OTHER (group),
# or the missing value's treatment (missing).
REFUSE, GROUP, AS_MISSING = "refuse", "group", "missing"
UNSEEN_POLICIES = (REFUSE, GROUP, AS_MISSING)
# A refusal lists every known value of a short list; of a longer one, it names a few
# (each cut to SHOWN_LENGTH characters) and their count.
LISTED_CHOICES = 10
SHOWN_CHOICES = 3
SHOWN_LENGTH = 30


def cell_text(
    text: str | None, missing: tuple[str, ...] = DEFAULT_MISSING
) -> str | None:
    """A cell's text stripped of blanks, or None when it is a missing marker."""
    if text is None:
        return None
    stripped = text.strip()
    return None if stripped in missing or stripped == "" else stripped


def number_value(text: str) -> int | float | None:
    """Number text as a value (`181` an int, `181.0` or `1e3` a float), else None."""
    if _INTEGER_TEXT.fullmatch(text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        return None


def code_text(value: Any) -> str | None:
    """A JSON number as the text a CSV writes for it (1 -> "1", 2.5 -> "2.5", 1.0 ->
    "1.0"), to match a category; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    try:
        return str(value)
    except ValueError:  # beyond Python's digit limit: no category is that long
        return None


def whole(value: Any) -> bool:
    """Whether a JSON value is an integer: an int, or a float with a zero fraction."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (
        isinstance(value, float) and math.isfinite(value) and value.is_integer()
    )


def number_text(value: float) -> str:
    """A bound as the messages show it: 16, not 16.0."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def shown(text: str) -> str:
    """A category as a message quotes it: cut to SHOWN_LENGTH characters."""
    if len(text) <= SHOWN_LENGTH:
        return repr(text)
    return repr(text[: SHOWN_LENGTH - 3] + "...")


def choices_text(categories: tuple[str, ...]) -> str:
    """The known values as a refusal names them: all of a few, else a count and some."""
    if len(categories) <= LISTED_CHOICES:
        return f"Must be one of: {', '.join(categories)}."
    some = ", ".join(shown(c) for c in categories[:SHOWN_CHOICES])
    return (
        f"Must be one of {len(categories)} known values, e.g. {some} "
        "(all in /docs and the model's metadata.json)."
    )


@dataclass(frozen=True)
class FeatureRule:
    """One input field: its kind, bounds or categories, and whether null is allowed."""

    name: str
    kind: str
    minimum: float | None = None
    maximum: float | None = None
    categories: tuple[str, ...] = ()
    nullable: bool = False
    # The categories seen too rarely in training: accepted, and scored as OTHER.
    grouped: tuple[str, ...] = ()
    # What a category unseen in training gets (UNSEEN_POLICIES).
    unseen: str = REFUSE
    # For people (/docs, the model card): what the model makes of a null number.
    imputed: str = ""
    # The cell texts meaning "missing" (the bundle's, set by Metadata; not stored here).
    missing: tuple[str, ...] = field(default=DEFAULT_MISSING, compare=False)
    _choices: frozenset = field(init=False, repr=False, compare=False)
    _model_table: dict = field(init=False, repr=False, compare=False)
    _accept: Callable[[Any], bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(
                f"feature {self.name!r}: kind {self.kind!r} not in {KINDS}"
            )
        if self.numeric and (self.minimum is None or self.maximum is None):
            raise ValueError(
                f"feature {self.name!r}: a number needs minimum and maximum"
            )
        if self.numeric and self.minimum > self.maximum:
            raise ValueError(f"feature {self.name!r}: minimum is above maximum")
        if not self.numeric and not self.categories:
            raise ValueError(f"feature {self.name!r}: a category needs its categories")
        if self.unseen not in UNSEEN_POLICIES:
            raise ValueError(
                f"feature {self.name!r}: unseen {self.unseen!r} not in {UNSEEN_POLICIES}"
            )
        if not set(self.grouped) <= set(self.categories):
            raise ValueError(f"feature {self.name!r}: grouped values not in categories")
        object.__setattr__(self, "categories", tuple(self.categories))
        object.__setattr__(self, "grouped", tuple(self.grouped))
        object.__setattr__(self, "missing", tuple(self.missing))
        object.__setattr__(self, "_choices", frozenset(self.categories))
        object.__setattr__(self, "_model_table", self._model_values_table())
        object.__setattr__(self, "_accept", self._acceptor())

    @property
    def numeric(self) -> bool:
        return self.kind != "category"

    # -- the rule, exact: one message per refusal ------------------------------------

    @property
    def range_message(self) -> str:
        return (
            f"Must be greater than or equal to {number_text(self.minimum)} "
            f"and less than or equal to {number_text(self.maximum)}."
        )

    @property
    def number_codes(self) -> tuple[int | float, ...]:
        """The categories a client may also send as a JSON number: those whose text is
        the number's own (`1`, `2.5`; not `01` or `1e3`)."""
        out = []
        for text in self.categories:
            value = number_value(text) if not self.numeric else None
            if value is not None and code_text(value) == text:
                out.append(value)
        return tuple(out)

    @property
    def choices_message(self) -> str:
        return choices_text(self.categories)

    @property
    def any_text(self) -> bool:
        """Whether every text is accepted: an unseen category is scored, not refused."""
        return not self.numeric and self.unseen != REFUSE

    @property
    def _unseen_value(self) -> str | None:
        """The model value of an unseen category under group or missing."""
        return OTHER if self.unseen == GROUP else None

    @property
    def remaps(self) -> bool:
        """Whether the model takes some accepted categories as another value."""
        return bool(self.grouped) or self.any_text

    def model_value(self, text: str | None) -> str | None:
        """An accepted category as the model was fitted on it: a rare one as OTHER, an
        unseen one as `unseen` says (kept as it is under refuse: none is scored)."""
        unseen = text if self.unseen == REFUSE else self._unseen_value
        return self._model_table.get(text, unseen)

    def model_values(self, values: Any) -> Any:
        """`model_value` of every value of a column (the column itself when no value
        changes, so a rule without grouping costs nothing); one dict lookup a value."""
        if not self.remaps:
            return values
        n = len(values)
        unseen = values if self.unseen == REFUSE else repeat(self._unseen_value, n)
        return np.fromiter(map(self._model_table.get, values, unseen), object, n)

    def _model_values_table(self) -> dict[Any, Any]:
        """What `model_value` looks up: every value it changes, and under a policy other
        than refuse every value it keeps (the rest are unseen)."""
        table: dict[Any, Any] = {g: OTHER for g in self.grouped}
        if self.unseen != REFUSE:
            table.update((c, c) for c in self.categories if c not in table)
            table[None] = None
        return table

    def error(self, value: Any) -> str | None:
        """Why `value` is refused (the API's message), or None when it is accepted."""
        if value is None:
            return None if self.nullable else NOT_NULL
        if self.kind == "integer":
            if not whole(value):  # 181.0 is the integer 181, as in the training CSV
                return "Not a valid integer."
        elif self.kind == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return "Not a valid number."
            try:
                if not math.isfinite(value):
                    return "Must be a finite number."
            except OverflowError:  # an integer beyond any float
                return "Number too large."
        else:
            code = value if isinstance(value, str) else self.code_of(value)
            if code is None:
                return "Not a valid string."
            if code in self._choices or self.any_text:
                return None
            return self.choices_message
        return None if self.minimum <= value <= self.maximum else self.range_message

    def load(self, value: Any) -> Any:
        """An accepted value as the model takes it: a number as float, an integer as int,
        a category as its text (a code sent as a number too)."""
        if value is None or type(value) is str:
            return value
        if self.kind == "number":
            return float(value)
        return int(value) if self.kind == "integer" else self.code_of(value)

    def code_of(self, value: Any) -> str | None:
        """A JSON number as a category's text: the text a CSV writes for it (1.0 ->
        "1.0"), or, when that is no category, a whole number's ("4.0" -> "4"): JSON's 4.0
        and 4 are one number, and the OpenAPI enum of codes accepts both."""
        code = code_text(value)
        if code is not None and code not in self._choices and whole(value):
            return str(int(value))
        return code

    # -- the same rule, fast: only says "accepted" for what `error` accepts ------------

    def _acceptor(self) -> Callable[[Any], bool]:
        low, high, nullable = self.minimum, self.maximum, self.nullable
        if self.kind == "integer":
            return lambda v: (type(v) is int and low <= v <= high) or (
                v is None and nullable
            )
        if self.kind == "number":
            # The range test first: exact for huge integers, which isfinite is not.
            return lambda v: (
                type(v) in (int, float) and low <= v <= high and math.isfinite(v)
            ) or (v is None and nullable)
        if self.any_text:
            return lambda v: type(v) is str or (v is None and nullable)
        choices = self._choices
        return lambda v: (type(v) is str and v in choices) or (v is None and nullable)

    def accepts(self, value: Any) -> bool:
        """Whether `error(value)` is None, without building a message, for a value the
        model takes as it is; a value `load` changes (181.0 for an integer, a code sent
        as a number) is left to `error`, so the quick path never loads it differently.
        """
        return self._accept(value)

    # -- the same rule on a whole column (Arrow): only says "accepted" where `error` does

    def column_problems(self, column: Any) -> np.ndarray:
        """Rows of an Arrow array whose value `error` may refuse (bool mask), vectorised.

        The array holds the values a client would send: integers, floats, strings, nulls.
        Every row outside the mask is one `error` accepts; rows in it (refused, or of a
        type or size the vectorised test leaves to the exact rule) get `error` one by one.
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        kind = column.type
        if self.kind == "category" and _is_text(pa, kind):
            choices = _value_set(self.categories, kind)
            ok = pc.is_in(column, value_set=choices).to_numpy(zero_copy_only=False)
        elif self.numeric and (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
            # As float64 (null as NaN), exact up to 2**53; beyond, NaN and infinities
            # are left to `error`. An integer feature takes whole floats (181.0).
            x = pc.cast(column, pa.float64(), safe=False).to_numpy(zero_copy_only=False)
            with np.errstate(invalid="ignore"):
                ok = (x >= self.minimum) & (x <= self.maximum)
                ok &= np.abs(x) <= _EXACT_FLOAT
                if self.kind == "integer":
                    ok &= x == np.floor(x)
        else:  # booleans, strings for numbers, codes as numbers...: each to `error`
            ok = np.zeros(len(column), dtype=bool)
        if column.null_count:
            nulls = column.is_null().to_numpy(zero_copy_only=False)
            ok = np.where(nulls, self.nullable, ok)
        return ~ok

    # -- text cells (CSV) -------------------------------------------------------------

    def from_text(self, text: str | None) -> Any:
        """A CSV cell as the JSON value a client would send: null (blank or a missing
        marker), a number in a numeric column, else the stripped text."""
        stripped = cell_text(text, self.missing)
        if stripped is None or not self.numeric:
            return stripped
        value = number_value(stripped)
        return stripped if value is None else value

    # -- stored form ------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.numeric:
            out.update(minimum=self.minimum, maximum=self.maximum)
        else:
            out["categories"] = list(self.categories)
            out.update(grouped=list(self.grouped), unseen=self.unseen)
        out["nullable"] = self.nullable
        if self.imputed:
            out["imputed"] = self.imputed
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "FeatureRule":
        return cls(
            name=data["name"],
            kind=data["kind"],
            minimum=data.get("minimum"),
            maximum=data.get("maximum"),
            categories=tuple(data.get("categories", ())),
            nullable=bool(data.get("nullable", False)),
            grouped=tuple(data.get("grouped", ())),
            unseen=data.get("unseen", REFUSE),
            imputed=str(data.get("imputed", "")),
        )


def _is_text(pa: Any, kind: Any) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


@functools.lru_cache(maxsize=256)
def _value_set(categories: tuple[str, ...], kind: Any) -> Any:
    """The categories as an Arrow array of `kind`, built once per rule."""
    import pyarrow as pa

    return pa.array(categories, kind)


def record_errors(rules: tuple[FeatureRule, ...], record: Any) -> dict[str, list[str]]:
    """Every problem of one record, field by field ({} when it is valid)."""
    if not isinstance(record, dict):
        return {"_schema": ["Invalid input type."]}
    errors: dict[str, list[str]] = {}
    names = {r.name for r in rules}
    for rule in rules:
        if rule.name not in record:
            errors[rule.name] = [MISSING]
        elif (message := rule.error(record[rule.name])) is not None:
            errors[rule.name] = [message]
    for name in record:
        if name not in names:
            errors[name] = [UNKNOWN]
    return errors
