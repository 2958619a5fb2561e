"""The retailer's catalogue: everyday items through laptops, consoles, tires and gold coins.

Why it matters: refund fraud is about money and weight. Fraud targets a few high-value, resellable
categories (laptops, phones, consoles, tires, gold coins, watches), which makes it a tiny share of
refunds by count but a large share by money; empty-box fraud shows up as a parcel far lighter
than what was ordered, except for dense goods such as gold coins, where weight says little. Each
product has a fixed price and a shipping weight, and a prebuilt :class:`LineItem` per quantity so
the hot path does not build them again.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate

from vigil.events.schemas import LineItem


@dataclass(frozen=True, slots=True)
class Category:
    name: str
    code: str
    #: share of line items in everyday (legitimate) orders
    share: float
    price_min_cents: int
    price_max_cents: int
    weight_min_g: int
    weight_max_g: int
    #: relative chance that an order with this item is returned
    return_rate: float
    #: quantities bought at once (tires come in fours)
    quantities: tuple[int, ...]
    n_skus: int
    #: weight when fraudsters pick targets (0: never)
    fraud_weight: float = 0.0


CATEGORIES: tuple[Category, ...] = (
    Category("grocery", "GRO", 0.20, 199, 2_500, 100, 2_500, 0.02, (1, 1, 2, 3), 300),
    Category("household", "HSH", 0.10, 399, 4_500, 200, 4_000, 0.05, (1, 1, 2), 200),
    Category("beauty", "BTY", 0.10, 499, 8_000, 50, 600, 0.06, (1, 1, 2), 200),
    Category("books_media", "BKM", 0.08, 599, 4_500, 150, 1_200, 0.05, (1,), 300),
    Category("clothing", "CLO", 0.17, 999, 8_000, 150, 1_400, 0.26, (1,), 400),
    Category("shoes", "SHO", 0.07, 2_999, 15_000, 600, 1_800, 0.22, (1,), 150),
    Category("toys", "TOY", 0.06, 799, 9_000, 100, 3_000, 0.08, (1,), 150),
    Category("home_kitchen", "HOM", 0.08, 1_299, 25_000, 300, 9_000, 0.09, (1,), 200),
    Category("small_electronics", "ELS", 0.07, 1_299, 20_000, 50, 900, 0.10, (1,), 150),
    Category("phone", "PHN", 0.006, 24_900, 139_900, 350, 600, 0.08, (1,), 25, 3.0),
    Category("laptop", "LAP", 0.004, 59_900, 319_900, 1_800, 3_500, 0.09, (1,), 30, 3.0),
    Category("console", "CON", 0.004, 29_900, 69_900, 3_500, 6_000, 0.07, (1,), 10, 2.0),
    Category("tires", "TIR", 0.004, 8_900, 34_900, 8_000, 12_000, 0.04, (4,), 40, 1.0),
    Category("gold_coin", "GLD", 0.0008, 210_000, 280_000, 60, 120, 0.03, (1, 1, 2), 8, 1.5),
    Category("watch_jewelry", "JWL", 0.006, 7_900, 250_000, 80, 500, 0.10, (1,), 60, 1.0),
)


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    category: str
    price_cents: int
    weight_g: int
    #: LineItem by quantity (index = quantity - 1)
    items: tuple[LineItem, ...]
    return_rate: float
    high_value: bool


#: Largest quantity of one product in a line item.
MAX_QUANTITY = 5

#: A product is "high value" at or above this price (one unit).
HIGH_VALUE_CENTS = 30_000


class Catalog:
    """Products by category with weighted picks for everyday and fraudulent baskets."""

    def __init__(self, rng: random.Random) -> None:
        self.by_category: list[list[Product]] = []
        for cat in CATEGORIES:
            products = []
            for k in range(cat.n_skus):
                price = _log_uniform(rng, cat.price_min_cents, cat.price_max_cents)
                price = max(cat.price_min_cents, (price // 100) * 100 - 1)
                weight = round(_log_uniform(rng, cat.weight_min_g, cat.weight_max_g))
                sku = f"{cat.code}-{k:04d}"
                items = tuple(
                    LineItem(
                        sku=sku,
                        category=cat.name,
                        price_cents=price,
                        quantity=q,
                        weight_g=weight,
                    )
                    for q in range(1, MAX_QUANTITY + 1)
                )
                products.append(
                    Product(
                        sku=sku,
                        category=cat.name,
                        price_cents=price,
                        weight_g=weight,
                        items=items,
                        return_rate=cat.return_rate,
                        high_value=price >= HIGH_VALUE_CENTS,
                    )
                )
            self.by_category.append(products)
        self._cum = list(accumulate(c.share for c in CATEGORIES))
        self._fraud_cats = [i for i, c in enumerate(CATEGORIES) if c.fraud_weight > 0]
        self._fraud_cum = list(accumulate(CATEGORIES[i].fraud_weight for i in self._fraud_cats))
        self._wardrobe = [i for i, c in enumerate(CATEGORIES) if c.name in ("clothing", "shoes")]

    def everyday(self, rng: random.Random) -> tuple[Product, int]:
        """One product and quantity for an ordinary basket."""
        ci = bisect_right(self._cum, rng.random() * self._cum[-1])
        ci = min(ci, len(CATEGORIES) - 1)
        products = self.by_category[ci]
        quantities = CATEGORIES[ci].quantities
        return products[int(rng.random() * len(products))], quantities[
            int(rng.random() * len(quantities))
        ]

    def fraud_target(self, rng: random.Random) -> tuple[Product, int]:
        """A high-value, resellable product that fraudsters go for."""
        k = bisect_right(self._fraud_cum, rng.random() * self._fraud_cum[-1])
        ci = self._fraud_cats[min(k, len(self._fraud_cats) - 1)]
        cat = CATEGORIES[ci]
        candidates = [p for p in self.by_category[ci] if p.high_value] or self.by_category[ci]
        product = candidates[int(rng.random() * len(candidates))]
        if cat.name == "tires":
            quantity = 4
        elif cat.name == "gold_coin":
            quantity = rng.randint(1, 4)
        elif cat.name in ("phone", "laptop", "console"):
            quantity = 1 if rng.random() < 0.7 else 2
        else:
            quantity = 1
        return product, quantity

    def priced(
        self, lo_cents: int, hi_cents: int, categories: tuple[str, ...] = ()
    ) -> list[Product]:
        """Products whose unit price is in [lo, hi] (of ``categories`` if given), in a fixed
        order; computed on demand, so callers keep the list."""
        return [
            p
            for ci, cat in enumerate(CATEGORIES)
            if not categories or cat.name in categories
            for p in self.by_category[ci]
            if lo_cents <= p.price_cents <= hi_cents
        ]

    def wardrobe(self, rng: random.Random) -> tuple[Product, int]:
        """Clothing or shoes: what serial returners buy and send back worn."""
        ci = self._wardrobe[int(rng.random() * len(self._wardrobe))]
        products = self.by_category[ci]
        return products[int(rng.random() * len(products))], 1


def _log_uniform(rng: random.Random, lo: float, hi: float) -> int:
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))
