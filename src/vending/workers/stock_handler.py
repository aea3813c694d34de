"""The stock-handler: products (create, update, restock, delete) and buying, on post.fifo."""

from __future__ import annotations

from typing import Any

from vending.domain import commands as c
from vending.domain import products as p
from vending.domain.errors import Code, DomainError
from vending.domain.users import Role, require_role
from vending.store import repository
from vending.store.repository import LedgerEntry
from vending.workers.context import Context, Handler, authorize, authorized


def product_view(product: p.Product) -> dict[str, Any]:
    return {
        "uid": product.uid,
        "seller_uid": product.seller_uid,
        "product_name": product.product_name,
        "cost": product.cost,
        "amount": product.amount,
    }


def _changed(ctx: Context, product: p.Product) -> None:
    ctx.effects.append({"type": "product", "product": product_view(product)})


def _owned_product(ctx: Context, seller_uid: str, product_uid: object) -> p.Product:
    product = None
    if isinstance(product_uid, str):
        product = repository.get_product(ctx.tx, product_uid, for_update=True)
    if product is None:
        raise DomainError(Code.PRODUCT_NOT_FOUND, f"no product with id {product_uid!r}")
    p.require_owner(product, seller_uid)
    return product


def _log_stock(ctx: Context, uid: str, product_uid: str, delta: int) -> None:
    if delta:
        kind = "stock_added" if delta > 0 else "stock_removed"
        entry = LedgerEntry(kind, uid, product_uid, stock_delta=delta)
        repository.append_ledger(ctx.tx, ctx.req_id, ctx.now, entry)


def create_product(ctx: Context, cmd: c.CreateProduct) -> dict[str, Any]:
    user = authorize(ctx, cmd.uid, cmd.token_hash)
    require_role(user, Role.SELLER, Code.SELL_SELLERS_ONLY)
    product = p.Product(
        uid=cmd.product_uid,
        seller_uid=user.uid,
        product_name=p.check_name(cmd.product_name),
        cost=p.check_cost(cmd.cost),
        amount=p.check_stock(cmd.amount, cmd.min_amount),
    )
    repository.insert_product(ctx.tx, product, ctx.now)
    _log_stock(ctx, user.uid, product.uid, product.amount)
    _changed(ctx, product)
    return product_view(product)


def update_product(ctx: Context, cmd: c.UpdateProduct) -> dict[str, Any]:
    user = authorize(ctx, cmd.uid, cmd.token_hash)
    require_role(user, Role.SELLER, Code.SELL_SELLERS_ONLY)
    name = None if cmd.product_name is None else p.check_name(cmd.product_name)
    cost = None if cmd.cost is None else p.check_cost(cmd.cost)
    added = None if cmd.add_amount is None else p.check_stock(cmd.add_amount, 0)
    stock = None if cmd.set_amount is None else p.check_stock(cmd.set_amount, 0, "amount_available")
    old = _owned_product(ctx, user.uid, cmd.product_uid)

    amount = old.amount
    if added is not None:
        amount = p.restock(old, added)
    if stock is not None:
        amount = stock
    new = p.Product(
        uid=old.uid,
        seller_uid=old.seller_uid,
        product_name=old.product_name if name is None else name,
        cost=old.cost if cost is None else cost,
        amount=amount,
    )
    repository.replace_product(ctx.tx, old, new)
    _log_stock(ctx, user.uid, new.uid, new.amount - old.amount)
    _changed(ctx, new)
    return product_view(new)


def delete_product(ctx: Context, cmd: c.DeleteProduct) -> dict[str, Any]:
    user = authorize(ctx, cmd.uid, cmd.token_hash)
    require_role(user, Role.SELLER, Code.SELL_SELLERS_ONLY)
    product = _owned_product(ctx, user.uid, cmd.product_uid)
    repository.delete_product(ctx.tx, product.uid)
    entry = LedgerEntry("product_deleted", user.uid, product.uid, stock_delta=-product.amount)
    repository.append_ledger(ctx.tx, ctx.req_id, ctx.now, entry)
    ctx.effects.append({"type": "product_deleted", "product_uid": product.uid})
    return {"product_uid": product.uid}


def buy(ctx: Context, cmd: c.Buy) -> dict[str, Any]:
    """Sell `amount` items to a buyer: stock, deposit, change and ledger in one transaction."""
    if not isinstance(cmd.product_uid, str) or not cmd.product_uid:
        require_role(authorize(ctx, cmd.uid, cmd.token_hash), Role.BUYER, Code.BUY_BUYERS_ONLY)
        raise DomainError(Code.BAD_INPUT, "product_uid must be a non-empty string")

    # The buyer and the product are read together, in one round trip on PostgreSQL.
    found, product = repository.user_by_token_and_product(
        ctx.tx, cmd.uid, cmd.token_hash, ctx.now, cmd.product_uid
    )
    user = authorized(found)
    require_role(user, Role.BUYER, Code.BUY_BUYERS_ONLY)
    amount = p.check_buy_amount(cmd.amount)
    if product is None:
        raise DomainError(Code.PRODUCT_NOT_FOUND, f"no product with id {cmd.product_uid!r}")
    sale = p.purchase(product, amount, user.deposit)

    entries = [
        LedgerEntry("purchase", user.uid, product.uid, deposit_delta=-sale.spent),
        LedgerEntry("sold", product.seller_uid, product.uid, stock_delta=-amount),
    ]
    returned = user.deposit - sale.spent
    if returned:
        entries.append(LedgerEntry("change_returned", user.uid, deposit_delta=-returned))
    repository.record_sale(ctx.tx, ctx.req_id, ctx.now, product, sale.stock_left, user, 0, entries)

    left = p.Product(
        product.uid, product.seller_uid, product.product_name, product.cost, sale.stock_left
    )
    _changed(ctx, left)
    ctx.effects.append({"type": "balance", "uid": user.uid, "deposit": 0})
    return {
        "spent": sale.spent,
        "change": sale.change,
        "amount": amount,
        "product": {"id": product.uid, "product_name": product.product_name, "cost": product.cost},
        "deposit": 0,
    }


HANDLERS: dict[str, Handler] = {
    "create_product": create_product,
    "update_product": update_product,
    "delete_product": delete_product,
    "buy": buy,
}
