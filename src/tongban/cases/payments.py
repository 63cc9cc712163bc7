"""Payment adapters: how a fee gets paid and what reference proves it.

The built-in OfflineAdapter records a payment taken at a window (cash, card terminal,
bank transfer slip); an online payment service can implement the same protocol later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from tongban.db import new_id


@dataclass(frozen=True)
class PaymentReceipt:
    adapter: str
    reference: str
    paid_at: datetime


class PaymentAdapter(Protocol):
    name: str

    def record(self, *, case_number: str, amount: Decimal, method: str,
               reference: str | None, at: datetime) -> PaymentReceipt: ...


class OfflineAdapter:
    """A payment already taken at the window: the clerk's slip number is the reference."""

    name = "offline"

    def record(self, *, case_number: str, amount: Decimal, method: str,
               reference: str | None, at: datetime) -> PaymentReceipt:
        """Accept the window's record as is; without a slip number, issue one."""
        return PaymentReceipt(self.name, reference or f"offline-{new_id().hex[:16]}", at)

