"""What each console role may do: one table, read by the pages (to offer an action) and by the server (to allow
it). A viewer sees everything and changes nothing."""

from __future__ import annotations

import enum

from biller_server.persistence.models import StaffRole


class Permission(enum.StrEnum):
    VIEW = "view"
    CANCEL_BILL = "cancel_bill"
    CLOSE_BILL = "close_bill"
    UPLOAD_BILLS = "upload_bills"
    # A person's decisions (domain/payments/decisions.py) and reconciliation (domain/settlement): the audit's names.
    RESOLVE_PAYMENT = "payment.resolve"
    RECHECK_PAYMENT = "payment.recheck"
    MATCH_NOTIFICATION = "notification.match"
    DISMISS_NOTIFICATION = "notification.dismiss"
    ACK_BREAK = "settlement.ack"


OPERATOR_PERMISSIONS = frozenset(Permission)  # every action
ROLE_PERMISSIONS: dict[StaffRole, frozenset[Permission]] = {
    StaffRole.VIEWER: frozenset({Permission.VIEW}),
    StaffRole.OPERATOR: OPERATOR_PERMISSIONS,
    # Everything an operator may do; staff accounts are managed with `biller-server users` on the server.
    StaffRole.ADMIN: OPERATOR_PERMISSIONS,
}


def may(role: StaffRole, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[StaffRole(role)]
