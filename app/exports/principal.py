"""Who is asking: the organization, the user and what they may do. Every use case takes one."""

from __future__ import annotations

from dataclasses import dataclass

from app.errors import Forbidden
from app.models import User

PERMISSIONS = ("read", "write")


@dataclass(frozen=True)
class Principal:
    organization_id: str
    user: User
    permissions: frozenset[str]

    @property
    def user_id(self) -> str:
        return self.user.id

    def require(self, permission: str) -> None:
        if permission not in self.permissions:
            raise Forbidden(f"This credential lacks the {permission!r} permission.")
