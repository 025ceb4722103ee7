"""Ids in arguments: the same grammar as REST path ids, refused with a BAD_USER_INPUT naming the
argument."""

from __future__ import annotations

from app.errors import Invalid
from app.ids import is_valid_id


def check_id(value: str, field: str = "id") -> str:
    if not is_valid_id(value):
        raise Invalid.one(field, "Must be 1-50 characters of letters, digits and @~-._")
    return value
