"""Warehouse products: import from a file, list, and linking store products to them (rule R6)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from kade.audit import record_event
from kade.errors import UserError
from kade.inputs import check_ean, check_name, parse_count, parse_json, parse_price, read_text
from kade.models import Product, Tenant, utcnow

FIELDS = ("sku", "ean", "name", "price", "stock")
SKU_LENGTH = 100  # products.sku
NAME_LENGTH = 300  # products.name


def read_product_file(path: Path) -> Iterator[dict[str, Any]]:
    """Rows from a CSV (header: sku,ean,name,price,stock; UTF-8, with or without the byte-order
    mark Excel writes) or a JSON list of objects."""
    text = read_text(path, "product file")
    if path.suffix.lower() == ".json":
        data = parse_json(text, f"product file {str(path)!r}")
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise UserError(f"{path}: expected a JSON list of product objects")
        yield from data
        return
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    if "sku" not in header:
        raise UserError(f"{path}: the CSV header must name at least the column 'sku' (and ean,name,price,stock); "
                        f"found {', '.join(repr(h) for h in header) or 'nothing'}")
    reader.fieldnames = header
    yield from reader


def _clean(row: dict[str, Any], lineno: int) -> dict[str, Any]:
    sku = str(row.get("sku") or "").strip()
    if not sku:
        raise UserError(f"product row {lineno}: sku is empty")
    where = f"product row {lineno} ({sku})"
    check_name(sku, f"product row {lineno}: sku", SKU_LENGTH)
    out: dict[str, Any] = {"sku": sku}
    ean = str(row.get("ean") or "").strip()
    out["ean"] = check_ean(ean, f"{where}: barcode") if ean else None
    out["name"] = str(row.get("name") or "").strip()
    if out["name"]:
        check_name(out["name"], f"{where}: name", NAME_LENGTH)
    price = row.get("price")
    if price not in (None, ""):
        out["price"] = parse_price(price, f"{where}: price")
    stock = row.get("stock")
    if stock not in (None, ""):
        out["stock"] = parse_count(stock, f"{where}: stock")
    return out


def upsert_products(session: Session, tenant: Tenant, rows: Iterable[dict[str, Any]]) -> tuple[int, int]:
    """Upsert warehouse products by SKU. Validates every row before writing any (all or nothing)."""
    assert tenant.id is not None
    cleaned = [_clean(row, n) for n, row in enumerate(rows, start=2)]
    first_row: dict[str, int] = {}
    for n, row in enumerate(cleaned, start=2):
        earlier = first_row.setdefault(row["sku"], n)
        if earlier != n:
            raise UserError(f"product rows {earlier} and {n} both have SKU {row['sku']!r}; each SKU once per import")
    skus = list({row["sku"] for row in cleaned})
    existing: dict[str, Product] = {}
    for start in range(0, len(skus), 5000):  # only the rows named, in chunks the drivers accept
        existing.update((p.sku, p) for p in session.exec(
            select(Product).where(Product.tenant_id == tenant.id, col(Product.sku).in_(skus[start:start + 5000]))
        ).all())
    created = updated = 0
    for row in cleaned:
        product = existing.get(row["sku"])
        if product is None:
            product = Product(tenant_id=tenant.id, **row)
            existing[row["sku"]] = product
            created += 1
        else:
            for key, value in row.items():
                setattr(product, key, value)
            product.updated_at = utcnow()
            updated += 1
        session.add(product)
    record_event(session, "products_imported", "ok", f"{created} created, {updated} updated", tenant_id=tenant.id)
    return created, updated


#: deprecated name of :func:`upsert_products` (``import_products`` is also the connection setting;
#: this is the warehouse's own product rows from a file or the HTTP API)
import_products = upsert_products


def get_product(session: Session, tenant: Tenant, sku: str) -> Product:
    product = session.exec(select(Product).where(Product.tenant_id == tenant.id, Product.sku == sku)).first()
    if product is None:
        raise UserError(f"tenant {tenant.slug!r} has no product with SKU {sku!r}")
    return product


def list_products(session: Session, tenant: Tenant, limit: int = 100) -> list[Product]:
    return list(
        session.exec(select(Product).where(Product.tenant_id == tenant.id).order_by(Product.sku).limit(limit)).all()
    )


def match_product(
    session: Session, tenant_id: int, sku: str | None, ean: str | None, order: str = "sku_first"
) -> Product | None:
    """Find the warehouse product for a store product (rule R6): by SKU then EAN, or the reverse.

    Several matches → the first found (lowest id), as the rule says.
    """

    def by_sku() -> Product | None:
        if not sku:
            return None
        return session.exec(
            select(Product).where(Product.tenant_id == tenant_id, Product.sku == sku).order_by(col(Product.id))
        ).first()

    def by_ean() -> Product | None:
        if not ean:
            return None
        return session.exec(
            select(Product).where(Product.tenant_id == tenant_id, Product.ean == ean).order_by(col(Product.id))
        ).first()

    first, second = (by_sku, by_ean) if order == "sku_first" else (by_ean, by_sku)
    return first() or second()


def find_or_create_product(
    session: Session, tenant_id: int, sku: str | None, ean: str | None, *, name: str = "",
    price: Decimal | None = None, order: str = "sku_first", create: bool = True,
) -> tuple[Product | None, bool]:
    """The matching product, created when there is none and ``create`` allows; (product, created).

    Race-safe: another job creating the same SKU first (a new connection's product linking
    running beside its first order import) turns into a match, not a failed job.
    """
    product = match_product(session, tenant_id, sku, ean, order)
    if product is not None or not create or not (sku or ean):
        return product, False
    candidate = Product(tenant_id=tenant_id, sku=sku or f"EAN-{ean}", ean=ean, name=name, price=price, stock=0)
    try:
        with session.begin_nested():
            session.add(candidate)
    except sa.exc.IntegrityError:
        return match_product(session, tenant_id, candidate.sku, ean, order), False
    return candidate, True
