"""Deterministic demo data: a small shop's audit events written as Firehose raw objects (DESIGN §4).

A simulated shop runs for `days` days: checkouts (user, order, order items, inventory reservation, payment),
fulfilment (packed, shipped with a shipment, delivered), cancellations, item changes, profile changes and
restocks. Every event goes through `LocalFirehoseSink` with a simulated clock: arrival = event time plus a
short delivery delay, about 1% arrive 1-30 hours late, about 0.5% are re-delivered (same `event_id`, new
envelope `id`, later but on the same arrival day, so one ETL run removes them) and about 0.05% of records
(at least one a day) are malformed so that the ETL's quarantine has work. Same seed, same files.

>>> import tempfile
>>> summary = generate_demo(Path(tempfile.mkdtemp()), days=1, events_per_day=50, end_date=date(2026, 11, 27))
>>> summary.events, summary.first_event_time.date(), summary.malformed
(50, datetime.date(2026, 11, 27), 1)
"""

from __future__ import annotations

import heapq
import json
import random
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from audit_events.sink import LocalFirehoseSink

ACCOUNT = "000000000000"
REGION = "local"
SOURCES: tuple[str, ...] = ("shop.orders", "shop.inventory", "shop.users", "shop.payments", "shop.shipping")
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

LATE_RATE = 0.01
DUPLICATE_RATE = 0.005
MALFORMED_RATE = 0.0005
DEMO_BUFFER_SECONDS = 900.0
"""Firehose's largest buffer interval; keeps the demo at roughly 100 objects per day at 20K events/day."""

# Actors: (type code, name). 0 Service, 1 User, 2 Client.
SVC_ORDERS = (0, "order-service")
SVC_INVENTORY = (0, "inventory-service")
SVC_PAYMENTS = (0, "payment-service")
SVC_SHIPPING = (0, "shipping-service")
SVC_USERS = (0, "user-service")
SVC_WAREHOUSE = (0, "warehouse-service")
STAFF_WAREHOUSE = ((1, "bob@example.com"), (1, "erin@example.com"))
STAFF_SUPPORT = ((1, "alice@example.com"), (1, "carol@example.com"))
STAFF_MERCH = ((1, "dave@example.com"),)
CLIENT_FOR_CHANNEL = {
    "web": (2, "web-checkout"),
    "ios": (2, "mobile-app"),
    "android": (2, "mobile-app"),
    "pos": (2, "pos-terminal-07"),
}
CHANNELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("web", ("shop-de", "shop-fr", "shop-uk")),
    ("ios", ("shop-de", "shop-fr", "shop-uk")),
    ("android", ("shop-de", "shop-fr")),
    ("pos", ("store-berlin-01", "store-paris-02")),
)
CHANNEL_WEIGHTS = (50, 20, 20, 10)
HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 3, 5, 7, 8, 9, 9, 9, 9, 9, 9, 9, 9, 10, 10, 9, 7, 4, 2)

FIRST_NAMES = ("Zoë", "José", "Łukasz", "Søren", "Amélie", "Jürgen", "Ana", "Mei", "Olu", "Priya", "Björk",
               "Chloé", "Dmitri", "Fatima", "Noah", "Emma", "李")
LAST_NAMES = ("Müller", "García", "Nowak", "Kierkegaard", "Dubois", "O'Brien", "Tanaka", "Smith", "Okafor",
              "Sharma", "Hansen", "Rossi", "王")
ADDRESSES = (
    ("Hauptstraße", "München", "80331", "DE"),
    ("Rue de la Paix", "Paris", "75002", "FR"),
    ("Baker Street", "London", "NW1 6XE", "GB"),
    ("Calle Mayor", "Madrid", "28013", "ES"),
    ("Nørrebrogade", "København", "2200", "DK"),
    ("ul. Marszałkowska", "Warszawa", "00-624", "PL"),
    ("Chiyoda", "東京", "100-0001", "JP"),
)
PRODUCTS = (
    ("Café Crème 250g", 6.49), ("Müsli Classic", 4.99), ("Jalapeño Salsa", 3.49),
    ("Smørrebrød Board", 24.0), ("Crème Brûlée Set", 19.9), ("Matcha 抹茶 Tin", 12.5),
    ("Ærø Sea Salt", 5.25), ("Piñata Deluxe", 29.99), ("Bergkäse 200g", 7.8),
    ("Łódź Pierogi Pack", 8.4), ("Kaffeebohnen Äthiopien", 11.9), ("Olive Oil “Extra Virgin”", 9.95),
    ("Emoji Mug ☕", 12.0), ("Tea Sampler", 14.0),
)
VARIANTS = ("", " (small)", " (large)", " – gift box")
CARD_BRANDS = ("visa", "mastercard", "amex")
CARRIERS = ("DHL", "UPS", "La Poste", "PostNord")
NOTES = (None, None, None, None, "Bitte beim Nachbarn abgeben", "Leave at the door 🚪",
         "Geschenk – bitte ohne Rechnung")

# Operations: name -> (weight, most events it emits).
OPERATIONS: dict[str, tuple[float, int]] = {
    "checkout": (20, 6),
    "fulfil": (52, 3),
    "cancel": (2, 3),
    "modify": (4, 2),
    "profile": (10, 1),
    "signup": (4, 1),
    "restock": (7, 1),
    "price": (1, 1),
    "delete_user": (0.2, 1),
}
_OP_NAMES = tuple(OPERATIONS)
_OP_WEIGHTS = tuple(w for w, _ in OPERATIONS.values())


@dataclass(frozen=True)
class DemoSummary:
    """What `generate_demo` wrote: `events` is what the ETL stores, the rest what it removes or quarantines.

    events: distinct valid events (days x events_per_day); rows: their entity items (table rows);
    duplicates: re-deliveries (same event_id, new envelope id, same arrival day as the first copy);
    malformed: records the ETL quarantines; late: distinct events that arrived on a later UTC day than their
    event date; records: every record written (events + duplicates + malformed).
    """

    data_dir: Path
    start_date: date
    end_date: date
    events: int
    rows: int
    duplicates: int
    malformed: int
    late: int
    records: int
    files: int
    first_event_time: datetime | None
    last_event_time: datetime | None
    sample_order_ids: tuple[str, ...]
    paths: tuple[Path, ...]


class _SimClock:
    """The sink's clock in the demo: the arrival time of the record being put."""

    def __init__(self) -> None:
        self.now = EPOCH

    def __call__(self) -> datetime:
        return self.now


def _ms_to_datetime(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def _format_time(ms: int, offset_hours: int = 0) -> str:
    """ISO-8601 with milliseconds: 'Z' for UTC, else the local time and its offset."""
    moment = _ms_to_datetime(ms + offset_hours * HOUR_MS)
    suffix = "Z" if offset_hours == 0 else f"{offset_hours:+03d}:00"
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}{suffix}"


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _ascii_slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in plain.lower() if ch.isalnum())


class _Shop:
    """The simulated shop: its state (users, stock, open orders) and the events its changes produce."""

    def __init__(
        self, seed: int, sink: LocalFirehoseSink, clock: _SimClock, horizon_ms: int | None = None
    ) -> None:
        self.rng = random.Random(seed)
        self.horizon_ms = horizon_ms  # nothing arrives after this instant (the real "now" of a default run)
        self.sink = sink
        self.clock = clock
        self.pending: list[tuple[int, int, bytes]] = []  # heap of (arrival ms, sequence, record)
        self.seq = 0
        self.t = 0
        self.step = 1
        self.day_end = 0
        self.emitted_today = 0
        self.count = 0
        self.events = self.rows = self.duplicates = self.malformed = self.late = 0
        self.first_ms: int | None = None
        self.last_ms: int | None = None
        self.next_order = 100_000
        self.next_user = 10_000
        self.next_shipment = 1
        self.delivered_ids: list[str] = []
        self.cancelled_ids: list[str] = []
        self.modified_ids: list[str] = []
        self.pending_orders: list[dict[str, Any]] = []
        self.active_orders: list[dict[str, Any]] = []  # paid, packed or shipped
        self.skus: list[int] = []
        self.stock: dict[int, dict[str, Any]] = {}
        self.product_name: dict[int, str] = {}
        for i in range(len(PRODUCTS) * len(VARIANTS)):
            sku = 50_001 + i
            self.skus.append(sku)
            product, base = PRODUCTS[i // len(VARIANTS)]
            self.product_name[sku] = product + VARIANTS[i % len(VARIANTS)]
            self.stock[sku] = {
                "sku": sku,
                "on_hand": self.rng.randint(50, 500),
                "reserved": 0,
                "price": round(base * (1 + 0.5 * (i % len(VARIANTS) == 2)), 2),
                "warehouse": self.rng.choice(("FRA-1", "CDG-2")),
                "reorder": False,
            }
        self.users: list[dict[str, Any]] = [self._new_user_state() for _ in range(200)]

    # ---- helpers ---------------------------------------------------------------------------------
    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def correlation(self) -> str:
        return f"req-{self.rng.getrandbits(64):016x}"

    def _address(self) -> dict[str, Any]:
        street, city, postcode, country = self.rng.choice(ADDRESSES)
        return {"street": f"{street} {self.rng.randint(1, 120)}", "city": city, "postcode": postcode,
                "country": country}

    def _new_user_state(self) -> dict[str, Any]:
        rng = self.rng
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        user_id = f"u-{self.next_user}"
        self.next_user += 1
        local = f"{_ascii_slug(first)}.{_ascii_slug(last)}".strip(".") or "customer"
        return {
            "id": user_id,
            "name": f"{first} {last}",
            "email": f"{local}{self.next_user}@example.com",
            "address": self._address(),
            "marketing_opt_in": rng.random() < 0.4,
            "phone": None if rng.random() < 0.5 else f"+49 151 {rng.randint(1000000, 9999999)}",
            "loyalty_points": rng.randint(0, 500),
            "verified": rng.random() < 0.8,
        }

    @staticmethod
    def _user_entity(
        user: dict[str, Any], before: dict[str, Any] | None, after: dict[str, Any] | None
    ) -> dict[str, Any]:
        item: dict[str, Any] = {"entity": {"id": user["id"], "name": user["name"]}}
        if before is not None:
            item["before"] = before
        if after is not None:
            item["after"] = after
        return item

    @staticmethod
    def _user_view(user: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in user.items() if k != "id"}

    @staticmethod
    def _order_parent(order: dict[str, Any], as_number: bool = False) -> dict[str, Any]:
        oid = order["id"]
        return {"id": int(oid) if as_number else oid, "name": f"Order #{oid}", "type": "Order"}

    def _order_item(
        self, order: dict[str, Any], before: dict[str, Any] | None, after: dict[str, Any] | None
    ) -> dict[str, Any]:
        item: dict[str, Any] = {"entity": {"id": order["id"], "name": f"Order #{order['id']}"}}
        if before is not None:
            item["before"] = before
        if after is not None:
            item["after"] = after
        item["channel_code"] = order["channel"]
        item["channel_account_code"] = order["account"]
        return item

    def _line_item(self, order: dict[str, Any], line: dict[str, Any], before: dict[str, Any] | None,
                   after: dict[str, Any] | None) -> dict[str, Any]:
        item: dict[str, Any] = {"entity": {"id": line["id"], "name": self.product_name[line["sku"]]}}
        if before is not None:
            item["before"] = before
        if after is not None:
            item["after"] = after
        item["parent"] = self._order_parent(order)
        item["channel_code"] = order["channel"]
        item["channel_account_code"] = order["account"]
        return item

    def _stock_item(self, sku: int, before: dict[str, Any]) -> dict[str, Any]:
        return {"entity": {"id": sku, "name": self.product_name[sku]}, "before": before,
                "after": dict(self.stock[sku])}

    @staticmethod
    def _line_view(line: dict[str, Any]) -> dict[str, Any]:
        return {"sku": line["sku"], "quantity": line["quantity"], "unit_price": line["unit_price"],
                "currency": "EUR", "discount": line["discount"]}

    @staticmethod
    def _total(order: dict[str, Any]) -> float:
        total: float = round(sum(li["quantity"] * li["unit_price"] for li in order["lines"]), 2)
        return total

    # ---- emitting --------------------------------------------------------------------------------
    def emit(self, source: str, detail_type: str, entity_type: str, action: str, actor: tuple[int, str],
             entities: list[dict[str, Any]], correlation_id: str) -> None:
        """Serialize one valid event, schedule its arrival (and maybe a re-delivery), count it."""
        rng = self.rng
        t = self.t
        self.t = min(t + rng.randint(1, self.step), self.day_end - 1)
        envelope = {
            "version": "0",
            "id": self.uuid(),
            "detail-type": detail_type,
            "source": source,
            "account": ACCOUNT,
            "time": _format_time(t, 1 if source == "shop.shipping" else 0),
            "region": REGION,
            "resources": [],
            "detail": {
                "entities": entities,
                "entity_type": entity_type,
                "action": action,
                "correlation_id": correlation_id,
                "actor": {"type": actor[0], "name": actor[1]},
                "event_id": self.uuid(),
            },
        }
        roll = rng.random()
        if roll < LATE_RATE:
            arrival = t + rng.randint(HOUR_MS, 30 * HOUR_MS)
        elif roll < LATE_RATE + 0.02:
            arrival = t + rng.randint(3_000, 600_000)
        else:
            arrival = t + rng.randint(50, 3_000)
        arrival = self.capped(arrival)
        self.schedule(arrival, _dumps(envelope))
        if arrival // DAY_MS > t // DAY_MS:
            self.late += 1
        if rng.random() < DUPLICATE_RATE:
            envelope["id"] = self.uuid()
            end_of_arrival_day = (arrival // DAY_MS + 1) * DAY_MS - 1
            again = min(arrival + rng.randint(1_000, 2 * HOUR_MS), end_of_arrival_day)
            self.schedule(again, _dumps(envelope))
            self.duplicates += 1
        self.events += 1
        self.rows += len(entities)
        self.emitted_today += 1
        if self.first_ms is None:
            self.first_ms = t
        self.last_ms = t

    def emit_stock(self, actor: tuple[int, str], items: list[dict[str, Any]], corr: str) -> None:
        self.emit("shop.inventory", "InventoryChanged", "InventoryItem", "Update", actor, items, corr)

    def capped(self, arrival_ms: int) -> int:
        """An arrival time no later than the horizon, when the run has one."""
        return arrival_ms if self.horizon_ms is None else min(arrival_ms, self.horizon_ms)

    def schedule(self, arrival_ms: int, record: bytes) -> None:
        self.seq += 1
        heapq.heappush(self.pending, (self.capped(arrival_ms), self.seq, record))

    def deliver(self, up_to_ms: int | None) -> None:
        """Put every scheduled record that has arrived by `up_to_ms` (all when None), in arrival order."""
        pending = self.pending
        while pending and (up_to_ms is None or pending[0][0] <= up_to_ms):
            arrival, _, record = heapq.heappop(pending)
            self.clock.now = _ms_to_datetime(arrival)
            self.sink.put(record)

    def schedule_malformed(self, day_start: int, count: int) -> None:
        """Records the ETL must quarantine: truncated JSON, an entity without id, an empty entity list."""
        rng = self.rng
        for k in range(count):
            t = day_start + rng.randrange(DAY_MS)
            order_id = str(self.next_order - 1 - rng.randrange(min(self.next_order - 100_000, 50) or 1))
            envelope: dict[str, Any] = {
                "version": "0", "id": self.uuid(), "detail-type": "OrderChanged", "source": "shop.orders",
                "account": ACCOUNT, "time": _format_time(t), "region": REGION, "resources": [],
                "detail": {
                    "entities": [{"entity": {"id": order_id, "name": f"Order #{order_id}"},
                                  "before": {"status": "paid"}, "after": {"status": "packed"}}],
                    "entity_type": "Order", "action": "Update", "correlation_id": self.correlation(),
                    "actor": {"type": 0, "name": "order-service"}, "event_id": self.uuid(),
                },
            }
            kind = (k + rng.randrange(3)) % 3
            if kind == 1:
                del envelope["detail"]["entities"][0]["entity"]["id"]
            elif kind == 2:
                envelope["detail"]["entities"] = []
            record = _dumps(envelope)
            if kind == 0:
                record = record[: rng.randint(10, len(record) - 10)]
            self.schedule(t + rng.randint(50, 3_000), record)
            self.malformed += 1

    # ---- one day ---------------------------------------------------------------------------------
    def run_day(self, day_start: int, count: int, progress: Callable[[int], None]) -> None:
        """Emit exactly `count` valid events with event times inside the day starting at `day_start`."""
        rng = self.rng
        self.day_end = day_start + DAY_MS
        self.step = max(1, min(500, DAY_MS // count // 3))
        self.emitted_today = 0
        self.count = count
        self.schedule_malformed(day_start, max(1, round(count * MALFORMED_RATE)))
        hours = rng.choices(range(24), weights=HOUR_WEIGHTS, k=count)
        slots = sorted(day_start + h * HOUR_MS + rng.randrange(HOUR_MS) for h in hours)
        last_reported = 0
        while self.emitted_today < count:
            start = max(slots[self.emitted_today], self.t + 1)
            self.t = min(start, self.day_end - 1)
            self.deliver(self.t)
            remaining = count - self.emitted_today
            op = rng.choices(_OP_NAMES, weights=_OP_WEIGHTS)[0]
            if OPERATIONS[op][1] > remaining:
                op = "profile" if rng.random() < 0.5 else "restock"
            getattr(self, f"op_{op}")()
            if self.emitted_today - last_reported >= 1000:
                progress(self.emitted_today - last_reported)
                last_reported = self.emitted_today
        progress(self.emitted_today - last_reported)

    # ---- operations (each emits 1..OPERATIONS[name][1] events) -------------------------------------
    def op_checkout(self) -> None:
        rng = self.rng
        corr = self.correlation()
        channel, accounts = rng.choices(CHANNELS, weights=CHANNEL_WEIGHTS)[0]
        client = CLIENT_FOR_CHANNEL[channel]
        if rng.random() < 0.15:
            user = self._new_user_state()
            self.users.append(user)
            actor = client if rng.random() < 0.7 else (1, user["email"])
            self.emit("shop.users", "UserChanged", "User", "Create", actor,
                      [self._user_entity(user, None, self._user_view(user))], corr)
        else:
            user = rng.choice(self.users)
        actor = client if rng.random() < 0.7 else (1, user["email"])
        order_id = str(self.next_order)
        self.next_order += 1
        lines = []
        size = rng.choices((1, 2, 3, 4), weights=(40, 30, 20, 10))[0]
        for n, sku in enumerate(rng.sample(self.skus, size)):
            lines.append({"id": f"{order_id}-{n + 1}", "sku": sku, "quantity": rng.randint(1, 3),
                          "unit_price": self.stock[sku]["price"],
                          "discount": None if rng.random() < 0.8 else round(rng.choice((0.1, 0.15, 0.2)), 2)})
        order: dict[str, Any] = {"id": order_id, "channel": channel, "account": rng.choice(accounts),
                                 "lines": lines, "payment": None, "shipment": None}
        method = ({"type": "card", "brand": rng.choice(CARD_BRANDS), "last4": f"{rng.randint(0, 9999):04d}"}
                  if rng.random() < 0.75 else {"type": "paypal", "email": user["email"]})
        order["state"] = {
            "status": "pending", "customer_id": user["id"], "total": self._total(order), "currency": "EUR",
            "items_count": len(lines), "shipping_address": dict(user["address"]), "payment_method": method,
            "gift": rng.random() < 0.1, "note": rng.choice(NOTES),
        }
        self.emit("shop.orders", "OrderChanged", "Order", "Create", actor,
                  [self._order_item(order, None, order["state"])], corr)
        self.emit("shop.orders", "OrderItemChanged", "OrderItem", "Create", actor,
                  [self._line_item(order, li, None, self._line_view(li)) for li in lines], corr)
        reserved = []
        for li in lines:
            before = dict(self.stock[li["sku"]])
            stock = self.stock[li["sku"]]
            stock["reserved"] += li["quantity"]
            stock["reorder"] = stock["on_hand"] - stock["reserved"] < 20
            reserved.append(self._stock_item(li["sku"], before))
        self.emit_stock(SVC_INVENTORY, reserved, corr)
        if rng.random() < 0.1:  # payment not completed: the order stays pending
            self.pending_orders.append(order)
            return
        payment = {"id": f"pay_{rng.getrandbits(48):012x}", "status": "authorized",
                   "amount": order["state"]["total"], "currency": "EUR", "method": method,
                   "captured_at": None}
        order["payment"] = payment
        self.emit("shop.payments", "PaymentChanged", "Payment", "Create", SVC_PAYMENTS,
                  [self._payment_item(order, None)], corr)
        self._set_status(order, "paid", SVC_PAYMENTS, corr)
        self.active_orders.append(order)

    def _fallback(self) -> None:
        """An operation that found nothing to work on: start a checkout if the day's budget allows."""
        if self.count - self.emitted_today >= OPERATIONS["checkout"][1]:
            self.op_checkout()
        else:
            self.op_profile()

    def _payment_item(self, order: dict[str, Any], before: dict[str, Any] | None) -> dict[str, Any]:
        payment = order["payment"]
        item: dict[str, Any] = {"entity": {"id": payment["id"], "name": f"Payment for order {order['id']}"}}
        if before is not None:
            item["before"] = before
        item["after"] = {k: v for k, v in payment.items() if k != "id"}
        # payment-service sends order ids as JSON numbers; they are stored as text like every id.
        item["parent"] = self._order_parent(order, as_number=True)
        item["channel_code"] = order["channel"]
        item["channel_account_code"] = order["account"]
        return item

    def _set_status(self, order: dict[str, Any], status: str, actor: tuple[int, str], corr: str,
                    **changes: Any) -> None:
        before = order["state"]
        order["state"] = {**before, "status": status, **changes}
        self.emit("shop.orders", "OrderChanged", "Order", "Update", actor,
                  [self._order_item(order, before, order["state"])], corr)

    def _remove(self, orders: list[dict[str, Any]], order: dict[str, Any]) -> None:
        i = orders.index(order)
        orders[i] = orders[-1]
        orders.pop()

    def op_fulfil(self) -> None:
        rng = self.rng
        if not self.active_orders:
            return self._fallback()
        order = rng.choice(self.active_orders)
        corr = self.correlation()
        status = order["state"]["status"]
        if status == "paid":
            actor = rng.choice(STAFF_WAREHOUSE) if rng.random() < 0.5 else SVC_WAREHOUSE
            self._set_status(order, "packed", actor, corr)
        elif status == "packed":
            shipment = {"id": f"SHP-{self.next_shipment:07d}", "carrier": rng.choice(CARRIERS),
                        "tracking": f"{rng.getrandbits(40):010X}", "status": "in_transit",
                        "address": order["state"]["shipping_address"],
                        "weight_kg": round(rng.uniform(0.2, 9), 2)}
            self.next_shipment += 1
            order["shipment"] = shipment
            self._set_status(order, "shipped", SVC_SHIPPING, corr)
            self.emit("shop.shipping", "ShipmentChanged", "Shipment", "Create", SVC_SHIPPING,
                      [self._shipment_item(order, None)], corr)
            before = {k: v for k, v in order["payment"].items() if k != "id"}
            order["payment"] = {**order["payment"], "status": "captured", "captured_at": _format_time(self.t)}
            self.emit("shop.payments", "PaymentChanged", "Payment", "Update", SVC_PAYMENTS,
                      [self._payment_item(order, before)], corr)
        else:  # shipped
            before = {k: v for k, v in order["shipment"].items() if k != "id"}
            order["shipment"] = {**order["shipment"], "status": "delivered"}
            self.emit("shop.shipping", "ShipmentChanged", "Shipment", "Update", SVC_SHIPPING,
                      [self._shipment_item(order, before)], corr)
            self._set_status(order, "delivered", SVC_SHIPPING, corr)
            self._remove(self.active_orders, order)
            if len(self.delivered_ids) < 5:
                self.delivered_ids.append(order["id"])
        return None

    def _shipment_item(self, order: dict[str, Any], before: dict[str, Any] | None) -> dict[str, Any]:
        shipment = order["shipment"]
        name = f"{shipment['carrier']} {shipment['tracking']}"
        item: dict[str, Any] = {"entity": {"id": shipment["id"], "name": name}}
        if before is not None:
            item["before"] = before
        item["after"] = {k: v for k, v in shipment.items() if k != "id"}
        item["parent"] = self._order_parent(order)
        return item

    def op_cancel(self) -> None:
        rng = self.rng
        candidates = self.pending_orders if self.pending_orders and rng.random() < 0.6 else [
            o for o in self.active_orders[-50:] if o["state"]["status"] == "paid"]
        if not candidates:
            return self._fallback()
        order = rng.choice(candidates)
        corr = self.correlation()
        actor = rng.choice(STAFF_SUPPORT) if rng.random() < 0.5 else (1, "customer-self-service")
        self._set_status(order, "cancelled", actor, corr, cancel_reason=rng.choice(
            ("customer request", "payment failed", "out of stock", "Betrugsverdacht")))
        released = []
        for li in order["lines"]:
            before = dict(self.stock[li["sku"]])
            self.stock[li["sku"]]["reserved"] = max(0, self.stock[li["sku"]]["reserved"] - li["quantity"])
            released.append(self._stock_item(li["sku"], before))
        self.emit_stock(SVC_INVENTORY, released, corr)
        if order["payment"] is not None:
            before = {k: v for k, v in order["payment"].items() if k != "id"}
            order["payment"] = {**order["payment"], "status": "voided"}
            self.emit("shop.payments", "PaymentChanged", "Payment", "Update", SVC_PAYMENTS,
                      [self._payment_item(order, before)], corr)
        self._remove(self.pending_orders if order in self.pending_orders else self.active_orders, order)
        if len(self.cancelled_ids) < 2:
            self.cancelled_ids.append(order["id"])
        return None

    def op_modify(self) -> None:
        rng = self.rng
        pool = self.pending_orders or [o for o in self.active_orders[-50:] if o["state"]["status"] == "paid"]
        if not pool:
            return self._fallback()
        order = rng.choice(pool)
        corr = self.correlation()
        actor = rng.choice(STAFF_SUPPORT)
        line = rng.choice(order["lines"])
        if len(order["lines"]) > 1 and rng.random() < 0.3:
            order["lines"] = [li for li in order["lines"] if li is not line]
            self.emit("shop.orders", "OrderItemChanged", "OrderItem", "Delete", actor,
                      [self._line_item(order, line, self._line_view(line), None)], corr)
        else:
            before = self._line_view(line)
            line["quantity"] = max(1, line["quantity"] + rng.choice((-1, 1, 2)))
            if rng.random() < 0.3:
                line["unit_price"] = round(line["unit_price"] * 0.9, 2)
                line["discount"] = 0.1
            self.emit("shop.orders", "OrderItemChanged", "OrderItem", "Update", actor,
                      [self._line_item(order, line, before, self._line_view(line))], corr)
        self._set_status(order, order["state"]["status"], actor, corr, total=self._total(order),
                         items_count=len(order["lines"]))
        if len(self.modified_ids) < 2:
            self.modified_ids.append(order["id"])
        return None

    def op_profile(self) -> None:
        rng = self.rng
        user = rng.choice(self.users)
        before = self._user_view(user)
        change = rng.random()
        if change < 0.4:
            user["email"] = f"{_ascii_slug(user['name']) or 'user'}.{rng.randint(1, 999)}@example.org"
            actor = (1, user["email"])
        elif change < 0.7:
            user["address"] = self._address()
            actor = rng.choice(((2, "mobile-app"), (2, "web-checkout")))
        elif change < 0.85:
            user["marketing_opt_in"] = not user["marketing_opt_in"]
            actor = (2, "mobile-app")
        else:
            user["loyalty_points"] += rng.randint(5, 200)
            user["verified"] = True
            actor = SVC_USERS
        self.emit("shop.users", "UserChanged", "User", "Update", actor,
                  [self._user_entity(user, before, self._user_view(user))], self.correlation())

    def op_signup(self) -> None:
        user = self._new_user_state()
        self.users.append(user)
        actor = self.rng.choice(((2, "web-checkout"), (2, "mobile-app"), (2, "partner-api")))
        self.emit("shop.users", "UserChanged", "User", "Create", actor,
                  [self._user_entity(user, None, self._user_view(user))], self.correlation())

    def op_delete_user(self) -> None:
        if len(self.users) < 50:
            return self.op_signup()
        user = self.users.pop(self.rng.randrange(len(self.users)))
        self.emit("shop.users", "UserChanged", "User", "Delete", self.rng.choice(STAFF_SUPPORT),
                  [self._user_entity(user, self._user_view(user), None)], self.correlation())
        return None

    def op_restock(self) -> None:
        rng = self.rng
        items = []
        for sku in rng.sample(self.skus, rng.randint(1, 3)):
            before = dict(self.stock[sku])
            stock = self.stock[sku]
            stock["on_hand"] += rng.randint(10, 200)
            stock["reorder"] = False
            items.append(self._stock_item(sku, before))
        actor = SVC_WAREHOUSE if rng.random() < 0.7 else (2, "pos-terminal-07")
        self.emit_stock(actor, items, self.correlation())

    def op_price(self) -> None:
        rng = self.rng
        sku = rng.choice(self.skus)
        before = dict(self.stock[sku])
        self.stock[sku]["price"] = round(before["price"] * rng.choice((0.9, 0.95, 1.05, 1.1)), 2)
        self.emit("shop.inventory", "InventoryChanged", "InventoryItem", "Update", rng.choice(STAFF_MERCH),
                  [self._stock_item(sku, before)], self.correlation())


def generate_demo(
    data_dir: Path,
    *,
    days: int = 14,
    events_per_day: int = 20000,
    end_date: date | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> DemoSummary:
    """Write `days` x `events_per_day` valid events (plus re-deliveries and malformed records) as raw objects.

    Event times fall in [end_date - days + 1, end_date] (UTC); late arrivals may land in raw folders after
    end_date. Without end_date the range is the `days` x 24 hours ending now, and nothing arrives after now,
    so a fresh demo never holds events from the future (such a run depends on the clock, so it is
    deterministic only with end_date). `progress(done, total)` is called as valid events are generated.
    """
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    if events_per_day < 1:
        raise ValueError(f"events_per_day must be at least 1, got {events_per_day}")
    now = datetime.now(UTC)
    end = end_date or now.date()
    start = end - timedelta(days=days - 1)
    if end_date is None:
        now_ms = (now - EPOCH) // timedelta(milliseconds=1)
        horizon_ms: int | None = now_ms
        first_day_ms = now_ms - days * DAY_MS
        start = _ms_to_datetime(first_day_ms).date()
    else:
        horizon_ms = None
        first_day_ms = (start - date(1970, 1, 1)).days * DAY_MS
    total = days * events_per_day
    done = 0

    def report(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    clock = _SimClock()
    names = random.Random(f"{seed}-object-names")
    sink = LocalFirehoseSink(
        Path(data_dir),
        buffer_seconds=DEMO_BUFFER_SECONDS,
        clock=clock,
        compresslevel=5,
        object_id=lambda: str(uuid.UUID(int=names.getrandbits(128), version=4)),
    )
    shop = _Shop(seed, sink, clock, horizon_ms)
    with sink:
        for i in range(days):
            shop.run_day(first_day_ms + i * DAY_MS, events_per_day, report)
        shop.deliver(None)
    samples = tuple(dict.fromkeys(shop.delivered_ids[:3] + shop.cancelled_ids[:1] + shop.modified_ids[:1]
                                  + shop.delivered_ids[3:]))
    return DemoSummary(
        data_dir=Path(data_dir),
        start_date=start,
        end_date=end,
        events=shop.events,
        rows=shop.rows,
        duplicates=shop.duplicates,
        malformed=shop.malformed,
        late=shop.late,
        records=sink.records_written,
        files=sink.files_written,
        first_event_time=None if shop.first_ms is None else _ms_to_datetime(shop.first_ms),
        last_event_time=None if shop.last_ms is None else _ms_to_datetime(shop.last_ms),
        sample_order_ids=samples,
        paths=tuple(sink.written),
    )


LIVE_BUFFER_SECONDS = 2.0
"""The live demo's sink buffer (seconds): short, so an event is a raw object within seconds."""
LIVE_ORDER_START = 900_000
LIVE_USER_START = 90_000
"""Live ids start far above the batch demo's (orders from 100000, users from u-10000), so a live order never
continues a historical one with contradicting values."""


@dataclass(frozen=True)
class LiveSummary:
    """What `run_live` published before it was stopped."""

    events: int
    records: int
    files: int


def run_live(
    data_dir: Path,
    *,
    rate: float = 3.0,
    seed: int | None = None,
    stop: Any = None,
    on_file: Callable[[Path], None] | None = None,
) -> LiveSummary:
    """Keep the simulated shop running in real time: about `rate` valid events a second (checkouts,
    fulfilment, cancellations, profile and stock changes) through the local Firehose sink, until `stop` (a
    threading.Event) is set.

    Event times are the real clock; arrivals follow the batch demo's delays (a few re-deliveries; the 1% that
    arrive hours late are still in memory when stopped and are dropped). `seed` None draws a fresh seed, so
    event ids never repeat an earlier run's.
    """
    import threading
    import time

    if rate <= 0:
        raise ValueError(f"rate must be positive (events per second), got {rate:g}")
    stop = stop if stop is not None else threading.Event()
    clock = _SimClock()
    sink = LocalFirehoseSink(Path(data_dir), buffer_seconds=LIVE_BUFFER_SECONDS, clock=clock)
    shop = _Shop(random.SystemRandom().getrandbits(64) if seed is None else seed, sink, clock)
    shop.next_order, shop.next_user = LIVE_ORDER_START, LIVE_USER_START
    shop.users = [shop._new_user_state() for _ in range(200)]
    shop.step = 200
    seen = 0

    def now_ms() -> int:
        return (datetime.now(UTC) - EPOCH) // timedelta(milliseconds=1)

    def publish() -> None:
        nonlocal seen
        shop.deliver(now_ms())
        clock.now = datetime.now(UTC)
        sink.flush_if_due()
        for path in sink.written[seen:]:
            if on_file is not None:
                on_file(path)
        seen = len(sink.written)

    with sink:
        while not stop.is_set():
            start = now_ms()
            shop.t, shop.day_end = start, start + DAY_MS
            before = shop.events
            op = shop.rng.choices(_OP_NAMES, weights=_OP_WEIGHTS)[0]
            getattr(shop, f"op_{op}")()
            emitted = max(1, shop.events - before)
            deadline = time.monotonic() + emitted / rate
            while not stop.is_set() and time.monotonic() < deadline:
                publish()
                stop.wait(min(0.25, max(0.0, deadline - time.monotonic())))
        publish()
    for path in sink.written[seen:]:  # the last buffer, written on close
        if on_file is not None:
            on_file(path)
    return LiveSummary(events=shop.events, records=sink.records_written, files=sink.files_written)
