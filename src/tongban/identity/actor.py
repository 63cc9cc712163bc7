"""Who is acting: the account, its roles and scopes, resolved once per request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from tongban.identity.models import STAFF_ROLES, Role


@dataclass(frozen=True)
class Scope:
    region_code: str
    department_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Actor:
    """The caller. A staff member acts within `scopes`; an agent may act for a principal."""

    account_id: uuid.UUID | None
    name: str
    roles: frozenset[str] = frozenset()
    scopes: tuple[Scope, ...] = ()
    person_id: uuid.UUID | None = None
    enterprise_id: uuid.UUID | None = None
    # Set when an agent acts for someone under a recorded authorisation.
    acting_for_authorisation_id: uuid.UUID | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def has(self, *roles: str) -> bool:
        """True if the actor holds any of `roles`."""
        return any(r in self.roles for r in roles)

    @property
    def is_staff(self) -> bool:
        return any(r in STAFF_ROLES for r in self.roles)

    def covers(self, region_code: str, department_id: uuid.UUID | None = None) -> bool:
        """True if a scope includes the region (or one above it) and the department."""
        for scope in self.scopes:
            if region_covers(scope.region_code, region_code) and (
                scope.department_id is None or scope.department_id == department_id
            ):
                return True
        return False


SYSTEM_ACTOR = Actor(account_id=None, name="system", roles=frozenset({Role.operator}))


def region_covers(outer: str, inner: str) -> bool:
    """True if region `outer` is `inner` or contains it, by GB/T 2260 code structure."""
    if outer == "100000":  # the national level covers every region
        return True
    return inner.startswith(region_prefix(outer))


def region_prefix(code: str) -> str:
    """The significant prefix of a region code: 51 for 510000, 5101 for 510100, …"""
    if len(code) == 6 and code.endswith("0000"):
        return code[:2]
    if len(code) == 6 and code.endswith("00"):
        return code[:4]
    return code
