"""Typed field metadata shared by validation, querying and the format writers.

A field is named by its API path (`billingAddress/country`); filters and sorts spell the same
field with dots (`billingAddress.country`) in the spec, and every parameter accepts either
spelling (`api_path`, `dotted_path`). Values travel through the core as plain Python:
str, int, bool, Decimal (money, two places), aware UTC datetime, or None.

An enumerated text field carries its `Allowed` values, so a typo in a filter is a 422 with the
allowed values and the closest one instead of a filter that silently matches nothing.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from app.textfold import fold_text

LONG_LIST = 20
"""Lists longer than this are shortened to their closest few entries in error messages."""


class Kind(StrEnum):
    """How a field's values are typed, compared and rendered."""

    STRING = "string"
    INTEGER = "integer"
    MONEY = "money"
    BOOLEAN = "boolean"
    DATETIME = "datetime"


def api_path(name: str) -> str:
    """The `/` spelling of a field path (what `fields`, CSV headers and GraphQL `path` use)."""
    return name.replace(".", "/")


def dotted_path(name: str) -> str:
    """The `.` spelling of a field path (what the spec writes in `filter` and `sort`)."""
    return name.replace("/", ".")


def closest(word: str, choices: Iterable[str], n: int = 1) -> list[str]:
    """The `n` choices nearest to `word`, best first, compared case-folded.

    difflib's ratio decides; equal ratios go to the longer common prefix (`USX` is nearer `USD`
    than `UZS`), then to the order of `choices`.
    """
    target = fold_text(word)
    matcher = difflib.SequenceMatcher(b=target)
    scored: list[tuple[float, int, int, str]] = []
    for index, choice in enumerate(dict.fromkeys(choices)):
        folded = fold_text(choice)
        matcher.set_seq1(folded)
        ratio = matcher.ratio()
        if ratio >= 0.6:
            prefix = _common_prefix(folded, target)
            scored.append((-ratio, -prefix, index, choice))
    return [choice for *_, choice in sorted(scored)[:n]]


def _common_prefix(a: str, b: str) -> int:
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


def did_you_mean(word: str, choices: Iterable[str], quote: str = "'") -> str:
    """` (did you mean 'x'?)`, or nothing when no choice is close."""
    best = closest(word, choices)
    return f" (did you mean {quote}{best[0]}{quote}?)" if best else ""


def choices_text(word: str, choices: Iterable[str]) -> str:
    """All the choices, or the few closest to `word` when there are many (a 17-item list helps;
    a 189-item list buries the answer)."""
    listed = list(choices)
    if len(listed) <= LONG_LIST:
        return ", ".join(listed)
    few = closest(word, listed, n=5) or listed[:5]
    return f"{', '.join(few)}, … ({len(listed)} in all)"


@dataclass(frozen=True)
class Allowed:
    """The closed set of values of an enumerated text field, matched case-insensitively.

    `label` describes a long set (the ISO 4217 codes) whose error lists the closest values
    rather than all of them.
    """

    values: tuple[str, ...]
    label: str = ""
    folded: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "folded", frozenset(fold_text(v) for v in self.values))

    def __contains__(self, value: object) -> bool:
        return isinstance(value, str) and fold_text(value) in self.folded

    def unknown(self, value: str, field: str) -> str:
        """The message for a value outside the set, naming the field and the closest value."""
        listed = choices_text(value, self.values)
        what = f"{self.label} such as {listed}" if self.label else f"one of {listed}"
        return f"Unknown value {value!r} for {field}: {what}{did_you_mean(value, self.values)}"


@dataclass(frozen=True, slots=True)
class Field:
    """One exportable (or filterable) field of a resource."""

    path: str
    kind: Kind
    column: str
    description: str = ""
    allowed: Allowed | None = None

    @property
    def dotted(self) -> str:
        """The spelling the spec uses in `filter` and `sort`."""
        return dotted_path(self.path)
