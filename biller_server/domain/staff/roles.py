"""What each console role may do: one table, read by the pages (to offer an action) and by the server (to allow
it). A viewer sees everything and changes nothing."""

from __future__ import annotations

import enum

from biller_server.persistence.models import StaffRole


class Permission(enum.StrEnum):
    VIEW = "view"
    CANCEL_BILL = "cancel_bill"


ROLE_PERMISSIONS: dict[StaffRole, frozenset[Permission]] = {
    StaffRole.VIEWER: frozenset({Permission.VIEW}),
    StaffRole.OPERATOR: frozenset({Permission.VIEW, Permission.CANCEL_BILL}),
    # Everything an operator may do; staff accounts are managed with `biller-server users` on the server.
    StaffRole.ADMIN: frozenset({Permission.VIEW, Permission.CANCEL_BILL}),
}


def may(role: StaffRole, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[StaffRole(role)]
