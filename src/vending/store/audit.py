"""Recomputation of balances and stock from the ledger."""

from __future__ import annotations

from dataclasses import dataclass, field

from vending.store.database import Tx


@dataclass(slots=True)
class AuditReport:
    """Differences between stored values and the ledger; empty lists mean all is consistent."""

    users_checked: int = 0
    products_checked: int = 0
    deposit_differences: list[tuple[str, int, int]] = field(default_factory=list)
    stock_differences: list[tuple[str, int, int]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.deposit_differences and not self.stock_differences


def audit(tx: Tx) -> AuditReport:
    """Compare every deposit and stock level with the sum of its ledger rows.

    Each difference is `(id, stored, from_ledger)`. A deleted product must sum to zero.
    """
    report = AuditReport()
    rows = tx.all(
        "SELECT u.uid, u.deposit, COALESCE(SUM(l.deposit_delta), 0) FROM users u "
        "LEFT JOIN ledger l ON l.uid = u.uid GROUP BY u.uid, u.deposit"
    )
    report.users_checked = len(rows)
    for uid, stored, computed in rows:
        if int(stored) != int(computed):
            report.deposit_differences.append((str(uid), int(stored), int(computed)))

    stock = {
        str(uid): int(total)
        for uid, total in tx.all(
            "SELECT product_uid, SUM(stock_delta) FROM ledger "
            "WHERE product_uid IS NOT NULL GROUP BY product_uid"
        )
    }
    products = tx.all("SELECT uid, amount FROM products")
    report.products_checked = len(products)
    for uid, amount in products:
        computed = stock.pop(str(uid), 0)
        if int(amount) != computed:
            report.stock_differences.append((str(uid), int(amount), computed))
    for uid, computed in stock.items():
        if computed != 0:
            report.stock_differences.append((uid, 0, computed))
    return report
