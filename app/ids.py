"""Identifiers: the public id pattern of spec §1 and prefixed ULIDs for new objects."""

from __future__ import annotations

import re

from ulid import ULID

ID_PATTERN = re.compile(r"^[@~\-.\w]+$", re.ASCII)
ID_MAX_LENGTH = 50


def is_valid_id(value: str) -> bool:
    return (
        0 < len(value) <= ID_MAX_LENGTH
        and ID_PATTERN.fullmatch(value) is not None
        and value not in {".", ".."}
    )


def new_id(prefix: str) -> str:
    """`exp_01J…`: sortable by creation, unguessable enough to hand out."""
    return f"{prefix}_{ULID()}"
