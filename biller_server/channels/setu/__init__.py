"""Setu's BBPS BillCollect channel: Setu calls the biller's ``/bills/fetch``, ``/customer/validate``,
``/bills/fetchReceipt`` and ``/notifications``. Only the contract layer is here so far: request schemas, the
``baseResponse`` / ``errorResponse`` envelopes and the renderers of Setu's response bodies. The blueprint, its
settings and the domain wiring come after the package reorganisation; docs/channels/setu.md has the plan."""
