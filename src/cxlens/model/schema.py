"""The canonical retail data model: tables, columns, keys, and the rules every loaded row must meet.

This module is the single source of truth for the data model. Ingest validates against it, the
engines create tables from it, and ``docs/data-model.md`` is generated from it (a test keeps the
document in step with the code).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ColumnType(StrEnum):
    """Logical column types, mapped to DuckDB/Spark/Ibis types by the storage layer."""

    STRING = "string"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    TIMESTAMP = "timestamp"
    DATE = "date"
    JSON = "json"


#: Physical type of each logical type in the embedded DuckDB store (storage layer only).
DUCKDB_TYPES: dict[ColumnType, str] = {
    ColumnType.STRING: "VARCHAR",
    ColumnType.INT: "BIGINT",
    ColumnType.FLOAT: "DOUBLE",
    ColumnType.BOOL: "BOOLEAN",
    ColumnType.TIMESTAMP: "TIMESTAMP",  # UTC, normalised on load (offsets honoured)
    ColumnType.DATE: "DATE",
    ColumnType.JSON: "VARCHAR",
}

#: Text fields longer than this are rejected (protects the store from pathological input).
MAX_TEXT_CHARS = 100_000
#: Identifier-like strings longer than this are rejected.
MAX_ID_CHARS = 256


@dataclass(frozen=True)
class Column:
    """One column of a canonical table and the rules its values must meet."""

    name: str
    type: ColumnType
    description: str
    required: bool = False
    min: float | None = None
    max: float | None = None
    allowed: tuple[str, ...] | None = None
    #: Name of a journey-map list whose ids are the allowed values ("channels" or "touchpoints").
    allowed_from_journey: str | None = None
    max_length: int | None = None
    references: str | None = None
    pii: bool = False

    @property
    def string_limit(self) -> int | None:
        """Maximum length for string columns (ids get a default limit, free text its own)."""
        if self.type not in (ColumnType.STRING, ColumnType.JSON):
            return None
        return self.max_length or MAX_ID_CHARS


@dataclass(frozen=True)
class RowRule:
    """A rule across several columns of one row, checked after the column rules."""

    name: str
    description: str
    #: At least one of these columns must be non-null.
    any_of: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """A canonical table: its columns, primary key and row rules."""

    name: str
    description: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    row_rules: tuple[RowRule, ...] = field(default=())

    def column(self, name: str) -> Column:
        """Return the column called ``name`` (KeyError if the table has none)."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    @property
    def column_names(self) -> list[str]:
        """Column names in declaration order."""
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        """Names of columns that must be present and non-null in every row."""
        return [c.name for c in self.columns if c.required]


S, INT, F, B, TS, D, J = (
    ColumnType.STRING,
    ColumnType.INT,
    ColumnType.FLOAT,
    ColumnType.BOOL,
    ColumnType.TIMESTAMP,
    ColumnType.DATE,
    ColumnType.JSON,
)

AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+", "unknown")
GENDERS = ("female", "male", "other", "unknown")
INCOME_BANDS = ("low", "middle", "high", "unknown")
LOYALTY_TIERS = ("none", "bronze", "silver", "gold", "platinum")
ID_TYPES = ("cookie", "device", "loyalty_card", "payment_token", "email", "phone", "survey", "login")
STORE_FORMATS = ("hypermarket", "supermarket", "convenience", "flagship", "outlet", "online")
ORDER_STATUSES = ("placed", "paid", "shipped", "delivered", "collected", "cancelled", "returned")
FULFILMENT = ("delivery", "click_and_collect", "in_store")
PROMOTION_TYPES = (
    "percent_discount",
    "amount_discount",
    "charm_price",
    "spend_get",
    "bundle",
    "gift_card",
    "multi_buy",
    "loyalty_points",
    "limited_time",
)
FEEDBACK_SOURCES = ("survey", "review", "social", "call", "chat", "email")
#: Points ledger entries: earned, spent (burned), expired, or adjusted by hand or by a carry-over.
POINTS_KINDS = ("earn", "burn", "expire", "adjust")
#: Offer mechanics of a campaign: the promotion types plus coupons and plain messages.
OFFER_MECHANICS = (*PROMOTION_TYPES, "coupon", "message")
LANGUAGES = ("en", "zh", "ja", "ko", "ru", "pt", "es", "fr", "de", "it", "nl", "ar", "other")


def _id(name: str, description: str, required: bool = False, references: str | None = None) -> Column:
    return Column(name, S, description, required=required, references=references)


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "customers",
            "Known customers (loyalty members, account holders) and their segment attributes.",
            (
                _id("customer_id", "Customer identifier.", required=True),
                Column("created_at", TS, "When the customer became known."),
                Column("age_band", S, "Age band.", allowed=AGE_BANDS),
                Column("gender", S, "Self-reported gender.", allowed=GENDERS),
                Column("income_band", S, "Household income band.", allowed=INCOME_BANDS),
                Column("loyalty_tier", S, "Loyalty programme tier.", allowed=LOYALTY_TIERS),
                Column(
                    "preferred_channel",
                    S,
                    "Channel the customer uses most.",
                    allowed_from_journey="channels",
                ),
                _id("home_store_id", "Store the customer shops at most.", references="stores"),
                Column("region", S, "Home region."),
                Column("country", S, "ISO 3166-1 alpha-2 country code.", max_length=2),
                Column("language", S, "Preferred language (ISO 639-1).", allowed=LANGUAGES),
                Column("email", S, "E-mail address (personal data).", pii=True),
                Column("name", S, "Name staff see in lists and cases (personal data).", pii=True),
            ),
            ("customer_id",),
        ),
        Table(
            "identities",
            "Links from anonymous ids (cookie, device, loyalty card, payment token) to customers.",
            (
                _id("anonymous_id", "Anonymous or device identifier.", required=True),
                _id("customer_id", "Customer the anonymous id belongs to.", True, "customers"),
                Column("id_type", S, "Kind of identifier.", required=True, allowed=ID_TYPES),
                Column("linked_at", TS, "When the link was observed (login, card scan, payment)."),
                Column("source", S, "System that observed the link."),
            ),
            ("anonymous_id", "customer_id"),
        ),
        Table(
            "stores",
            "Physical and online stores.",
            (
                _id("store_id", "Store identifier.", required=True),
                Column("name", S, "Store name.", required=True),
                Column("region", S, "Sales region."),
                Column("city", S, "City."),
                Column("country", S, "ISO 3166-1 alpha-2 country code.", max_length=2),
                Column("format", S, "Store format.", allowed=STORE_FORMATS),
                Column("opened_on", D, "Opening date."),
                Column("latitude", F, "Latitude in degrees.", min=-90, max=90),
                Column("longitude", F, "Longitude in degrees.", min=-180, max=180),
                Column("size_sqm", F, "Sales area in square metres.", min=0),
            ),
            ("store_id",),
        ),
        Table(
            "products",
            "Products sold, with their category and brand.",
            (
                _id("product_id", "Product identifier (SKU).", required=True),
                Column("name", S, "Product name.", required=True, max_length=1000),
                Column("category", S, "Top-level category."),
                Column("subcategory", S, "Subcategory."),
                Column("brand", S, "Product brand."),
                Column("price", F, "List price.", min=0),
                Column("own_brand", B, "Whether the product is the retailer's own label."),
            ),
            ("product_id",),
        ),
        Table(
            "promotions",
            "Promotions and price mechanics (charm prices, spend-and-get, bundles, gift cards, ...).",
            (
                _id("promotion_id", "Promotion identifier.", required=True),
                Column("name", S, "Promotion name.", required=True, max_length=1000),
                Column("type", S, "Promotion mechanic.", required=True, allowed=PROMOTION_TYPES),
                Column("start_at", TS, "Start of the promotion.", required=True),
                Column("end_at", TS, "End of the promotion."),
                Column("channel", S, "Channel it runs in (empty: all).", allowed_from_journey="channels"),
                Column("value", F, "Discount value: percent, amount, or reward.", min=0),
                Column("threshold", F, "Spend threshold that triggers it.", min=0),
                Column("description", S, "Free-text description.", max_length=MAX_TEXT_CHARS),
            ),
            ("promotion_id",),
        ),
        Table(
            "orders",
            "Orders and store transactions (one row per basket).",
            (
                _id("order_id", "Order identifier.", required=True),
                _id("customer_id", "Buyer, when known.", references="customers"),
                _id("anonymous_id", "Anonymous buyer id, for guests."),
                Column("ordered_at", TS, "When the order was placed.", required=True),
                Column("channel", S, "Sales channel.", required=True, allowed_from_journey="channels"),
                _id("store_id", "Store that sold or fulfils it.", references="stores"),
                Column("status", S, "Latest order status.", allowed=ORDER_STATUSES),
                Column("fulfilment", S, "How the goods reach the customer.", allowed=FULFILMENT),
                Column("total_amount", F, "Amount paid, after discounts.", required=True, min=0),
                Column("discount_amount", F, "Total discount granted.", min=0),
                Column("currency", S, "ISO 4217 currency code.", max_length=3),
                _id("promotion_id", "Promotion applied to the basket.", references="promotions"),
                Column("promised_delivery_at", TS, "Delivery time promised at checkout."),
                Column("delivered_at", TS, "Actual delivery or collection time."),
            ),
            ("order_id",),
            (
                RowRule(
                    "buyer",
                    "an order names a customer_id or an anonymous_id",
                    ("customer_id", "anonymous_id"),
                ),
            ),
        ),
        Table(
            "order_items",
            "Lines of an order.",
            (
                _id("order_id", "Order the line belongs to.", True, "orders"),
                Column("line_no", INT, "Line number within the order.", required=True, min=1),
                _id("product_id", "Product sold.", True, "products"),
                Column("quantity", INT, "Units sold.", required=True, min=1, max=100_000),
                Column("unit_price", F, "Price per unit, before line discount.", required=True, min=0),
                Column("discount", F, "Discount on the line.", min=0),
                Column("returned_quantity", INT, "Units returned later.", min=0),
            ),
            ("order_id", "line_no"),
        ),
        Table(
            "events",
            "Touchpoint interactions: clickstream, app, store, call-centre and delivery events.",
            (
                _id("event_id", "Event identifier (idempotency key).", required=True),
                Column("occurred_at", TS, "When it happened.", required=True),
                _id("customer_id", "Customer, when known.", references="customers"),
                _id("anonymous_id", "Anonymous/device id, when the customer is not known."),
                _id("session_id", "Session the event belongs to."),
                Column("channel", S, "Channel.", required=True, allowed_from_journey="channels"),
                Column(
                    "touchpoint",
                    S,
                    "Journey-map touchpoint; derived from event_type when empty.",
                    required=True,
                    allowed_from_journey="touchpoints",
                ),
                Column("event_type", S, "Raw event type, e.g. page_view, add_to_cart.", required=True),
                _id("store_id", "Store involved.", references="stores"),
                _id("product_id", "Product involved.", references="products"),
                _id("order_id", "Order involved.", references="orders"),
                Column("value", F, "Numeric value (amount, duration in seconds, ...)."),
                Column("properties", J, "Other attributes as a JSON object.", max_length=MAX_TEXT_CHARS),
            ),
            ("event_id",),
            (
                RowRule(
                    "actor",
                    "an event names a customer_id or an anonymous_id",
                    ("customer_id", "anonymous_id"),
                ),
            ),
        ),
        Table(
            "feedback",
            "Survey answers, reviews, social posts and call/chat transcripts, ours and competitors'.",
            (
                _id("feedback_id", "Feedback identifier.", required=True),
                Column("submitted_at", TS, "When it was given.", required=True),
                Column("source", S, "Kind of feedback.", required=True, allowed=FEEDBACK_SOURCES),
                _id("customer_id", "Customer, when known.", references="customers"),
                _id("anonymous_id", "Anonymous id, when the customer is not known."),
                Column("channel", S, "Channel it is about.", allowed_from_journey="channels"),
                Column("touchpoint", S, "Touchpoint it is about.", allowed_from_journey="touchpoints"),
                _id("store_id", "Store it is about.", references="stores"),
                _id("product_id", "Product it is about.", references="products"),
                _id("order_id", "Order it is about.", references="orders"),
                _id("survey_id", "Survey that collected it."),
                Column("brand", S, "Brand it is about; empty means our own brand."),
                Column("language", S, "Language of the text (ISO 639-1).", allowed=LANGUAGES),
                Column("nps", INT, "Likelihood to recommend, 0-10.", min=0, max=10),
                Column("csat", INT, "Satisfaction, 1-5 (5 best).", min=1, max=5),
                Column("ces", INT, "Customer effort, 1-7 (1 = very easy, 7 = very hard).", min=1, max=7),
                Column("rating", INT, "Star rating, 1-5.", min=1, max=5),
                Column("title", S, "Title of a review or post.", max_length=1000),
                Column("text", S, "Verbatim text (untrusted).", max_length=MAX_TEXT_CHARS, pii=True),
            ),
            ("feedback_id",),
            (
                RowRule(
                    "content",
                    "feedback carries at least one score or a text",
                    ("nps", "csat", "ces", "rating", "text"),
                ),
            ),
        ),
        Table(
            "loyalty_members",
            "Loyalty programme members: when they enrolled and their current tier.",
            (
                _id("customer_id", "The member.", True, "customers"),
                _id("member_id", "Card or membership number."),
                Column("enrolled_at", TS, "When the customer joined the programme.", required=True),
                Column("tier", S, "Current tier.", allowed=LOYALTY_TIERS),
                Column("enrolment_channel", S, "Channel of enrolment.", allowed_from_journey="channels"),
                _id("enrolment_store_id", "Store of enrolment.", references="stores"),
                Column("left_at", TS, "When the membership ended (empty: still a member)."),
            ),
            ("customer_id",),
        ),
        Table(
            "points_ledger",
            "Every change to a member's points balance. `points` is the change: earn positive, burn "
            "and expire negative, adjust either way; analytics read burn and expire by their size, "
            "so exports that record them as positive numbers work too.",
            (
                _id("entry_id", "Ledger entry identifier.", required=True),
                _id("customer_id", "Member whose balance changes.", True, "customers"),
                Column("occurred_at", TS, "When the balance changed.", required=True),
                Column("kind", S, "Kind of change.", required=True, allowed=POINTS_KINDS),
                Column("points", F, "Change in points (see the table description for signs).", required=True),
                _id("order_id", "Order that earned or spent the points.", references="orders"),
                Column("value", F, "Money value of the points at the programme's rate.", min=0),
                Column("expires_at", TS, "When earned points expire."),
                Column("reason", S, "Why (promotion, goodwill, carry-over, ...).", max_length=1000),
            ),
            ("entry_id",),
        ),
        Table(
            "tier_history",
            "Tier changes and tier reviews. A review may be recorded for every member reviewed, with "
            "`from_tier` = `to_tier` when nothing changed; with `qualifying_value` such rows allow a "
            "regression-discontinuity estimate at the tier thresholds.",
            (
                _id("customer_id", "The member.", True, "customers"),
                Column("changed_at", TS, "When the tier changed or was reviewed.", required=True),
                Column("from_tier", S, "Tier before (empty at enrolment).", allowed=LOYALTY_TIERS),
                Column("to_tier", S, "Tier after.", required=True, allowed=LOYALTY_TIERS),
                Column("reason", S, "enrolment, review, manual, ...", max_length=1000),
                Column("qualifying_value", F, "Points or spend the review counted.", min=0),
            ),
            ("customer_id", "changed_at"),
        ),
        Table(
            "campaigns",
            "Marketing campaigns sent to chosen customers (coupons, offers, messages), with their dates.",
            (
                _id("campaign_id", "Campaign identifier.", required=True),
                Column("name", S, "Campaign name.", max_length=1000),
                Column("type", S, "The retailer's own campaign type (e.g. Type A).", max_length=1000),
                Column("channel", S, "Channel it is sent through.", allowed_from_journey="channels"),
                Column("mechanic", S, "Offer mechanic.", allowed=OFFER_MECHANICS),
                Column("start_at", TS, "First day of the campaign.", required=True),
                Column("end_at", TS, "End of the campaign (exclusive)."),
                Column("value", F, "Offer value: percent, amount, or points multiplier.", min=0),
                Column("threshold", F, "Spend threshold of the offer.", min=0),
                _id("promotion_id", "Price promotion the campaign advertises.", references="promotions"),
                Column("holdout_share", F, "Planned share of selected customers held out.", min=0, max=1),
                Column("description", S, "Free-text description.", max_length=MAX_TEXT_CHARS),
            ),
            ("campaign_id",),
        ),
        Table(
            "campaign_targets",
            "Customers selected for a campaign; `holdout` marks those deliberately not contacted.",
            (
                _id("campaign_id", "Campaign.", True, "campaigns"),
                _id("customer_id", "Customer (household) selected.", True, "customers"),
                Column("holdout", B, "Selected but held out as a control (empty: contacted)."),
                Column("targeted_at", TS, "When the customer was contacted or held out."),
            ),
            ("campaign_id", "customer_id"),
        ),
        Table(
            "coupons",
            "Coupons of a campaign and the products each applies to (one row per coupon and product; "
            "the product id `*` marks a coupon on the whole basket).",
            (
                _id("campaign_id", "Campaign that issued the coupon.", True, "campaigns"),
                _id("coupon_id", "Coupon code (e.g. its UPC).", required=True),
                _id("product_id", "Product the coupon applies to.", True, "products"),
                Column("value", F, "Discount: percent or amount.", min=0),
                Column("threshold", F, "Spend needed to use it.", min=0),
            ),
            ("campaign_id", "coupon_id", "product_id"),
        ),
        Table(
            "coupon_redemptions",
            "Coupons used by customers.",
            (
                _id("campaign_id", "Campaign of the coupon.", True, "campaigns"),
                _id("coupon_id", "Coupon used.", required=True),
                _id("customer_id", "Customer who used it.", True, "customers"),
                Column("redeemed_at", TS, "When it was used.", required=True),
                _id("order_id", "Order it was used on.", references="orders"),
                _id("store_id", "Store where it was used.", references="stores"),
                Column("discount", F, "Discount granted.", min=0),
            ),
            ("campaign_id", "coupon_id", "customer_id", "redeemed_at"),
        ),
        Table(
            "product_promotions",
            "In-store promotion of a product per store and week: display, mailer and shelf price. "
            "Empty, `0` or `none` in `display`/`mailer` means not featured.",
            (
                _id("product_id", "Product.", True, "products"),
                _id("store_id", "Store.", True, "stores"),
                Column("week_start", D, "First day of the promotion week.", required=True),
                Column("display", S, "Display location (e.g. front, end cap, aisle).", max_length=64),
                Column("mailer", S, "Mailer placement (e.g. front page, interior).", max_length=64),
                Column("price", F, "Shelf price that week.", min=0),
                _id("promotion_id", "Promotion the week belongs to.", references="promotions"),
            ),
            ("product_id", "store_id", "week_start"),
        ),
    )
}

#: Load order that respects references (parents before children).
TABLE_ORDER: tuple[str, ...] = (
    "stores",
    "products",
    "promotions",
    "customers",
    "identities",
    "orders",
    "order_items",
    "events",
    "feedback",
    "loyalty_members",
    "points_ledger",
    "tier_history",
    "campaigns",
    "campaign_targets",
    "coupons",
    "coupon_redemptions",
    "product_promotions",
)


def get_table(name: str) -> Table:
    """Return the canonical table ``name`` or raise a ValueError listing the known tables."""
    try:
        return TABLES[name]
    except KeyError:
        known = ", ".join(TABLE_ORDER)
        raise ValueError(f"unknown table {name!r}; the data model has: {known}") from None
