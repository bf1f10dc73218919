"""The demo retailer's fixed catalogue: stores, products and promotions.

The catalogue does not depend on the random seed (only on the period), so store S002 is always
the same store and the planted store lists stay meaningful; the seed drives customers and behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise

import numpy as np
import pyarrow as pa

from cxlens.demo import _tables as arrow
from cxlens.demo.planted import Planted
from cxlens.demo.texts import LANGUAGES

_CATALOGUE_SEED = 20250101

#: Regions and the language mix of customers per country (codes from texts.LANGUAGES order).
REGIONS: tuple[str, ...] = (
    "North America",
    "Europe & Central Asia",
    "Latin America",
    "Greater China",
    "Japan & Korea",
)
COUNTRY_LANGUAGES: dict[str, dict[str, float]] = {
    "US": {"en": 0.88, "zh": 0.05, "ko": 0.03, "ru": 0.02, "pt": 0.02},
    "CA": {"en": 0.85, "zh": 0.10, "ko": 0.03, "pt": 0.02},
    "GB": {"en": 0.92, "pt": 0.03, "ru": 0.03, "zh": 0.02},
    "PT": {"pt": 0.92, "en": 0.08},
    "LV": {"ru": 0.55, "en": 0.45},
    "EE": {"ru": 0.45, "en": 0.55},
    "KZ": {"ru": 0.85, "en": 0.15},
    "BR": {"pt": 0.96, "en": 0.04},
    "CN": {"zh": 1.0},
    "HK": {"zh": 0.85, "en": 0.15},
    "TW": {"zh": 0.95, "en": 0.05},
    "JP": {"ja": 0.95, "en": 0.05},
    "KR": {"ko": 0.95, "en": 0.05},
}

# (city, district, country, region index, format, latitude, longitude)
_STORES: tuple[tuple[str, str, str, int, str, float, float], ...] = (
    ("New York", "Midtown", "US", 0, "flagship", 40.754, -73.984),
    ("New York", "Brooklyn", "US", 0, "hypermarket", 40.678, -73.944),
    ("Chicago", "Loop", "US", 0, "supermarket", 41.882, -87.628),
    ("Chicago", "Lincoln Park", "US", 0, "convenience", 41.921, -87.648),
    ("Los Angeles", "Downtown", "US", 0, "supermarket", 34.047, -118.251),
    ("Los Angeles", "Santa Monica", "US", 0, "outlet", 34.019, -118.491),
    ("Houston", "Galleria", "US", 0, "hypermarket", 29.739, -95.463),
    ("Seattle", "Capitol Hill", "US", 0, "convenience", 47.623, -122.320),
    ("Boston", "Back Bay", "US", 0, "supermarket", 42.350, -71.081),
    ("Toronto", "Yonge", "CA", 0, "supermarket", 43.670, -79.387),
    ("Toronto", "Scarborough", "CA", 0, "hypermarket", 43.777, -79.258),
    ("Vancouver", "Kitsilano", "CA", 0, "convenience", 49.268, -123.168),
    ("London", "Oxford Street", "GB", 1, "flagship", 51.515, -0.142),
    ("London", "Canary Wharf", "GB", 1, "supermarket", 51.505, -0.020),
    ("Manchester", "Piccadilly", "GB", 1, "supermarket", 53.477, -2.231),
    ("Birmingham", "Bullring", "GB", 1, "hypermarket", 52.477, -1.894),
    ("Lisbon", "Chiado", "PT", 1, "convenience", 38.711, -9.142),
    ("Lisbon", "Alvalade", "PT", 1, "hypermarket", 38.753, -9.144),
    ("Porto", "Boavista", "PT", 1, "supermarket", 41.158, -8.630),
    ("Riga", "Centre", "LV", 1, "supermarket", 56.949, 24.105),
    ("Tallinn", "Old Town", "EE", 1, "convenience", 59.437, 24.745),
    ("Almaty", "Dostyk", "KZ", 1, "hypermarket", 43.236, 76.957),
    ("Astana", "Esil", "KZ", 1, "supermarket", 51.128, 71.430),
    ("São Paulo", "Paulista", "BR", 2, "flagship", -23.561, -46.656),
    ("São Paulo", "Moema", "BR", 2, "supermarket", -23.601, -46.665),
    ("São Paulo", "Tatuapé", "BR", 2, "hypermarket", -23.540, -46.576),
    ("Rio de Janeiro", "Copacabana", "BR", 2, "supermarket", -22.971, -43.182),
    ("Rio de Janeiro", "Barra", "BR", 2, "outlet", -23.000, -43.365),
    ("Belo Horizonte", "Savassi", "BR", 2, "supermarket", -19.936, -43.935),
    ("Curitiba", "Batel", "BR", 2, "convenience", -25.443, -49.290),
    ("Shanghai", "Pudong", "CN", 3, "flagship", 31.235, 121.505),
    ("Shanghai", "Xuhui", "CN", 3, "supermarket", 31.188, 121.437),
    ("Shanghai", "Jing'an", "CN", 3, "hypermarket", 31.229, 121.448),
    ("Beijing", "Chaoyang", "CN", 3, "hypermarket", 39.921, 116.443),
    ("Beijing", "Haidian", "CN", 3, "supermarket", 39.959, 116.298),
    ("Shenzhen", "Futian", "CN", 3, "supermarket", 22.541, 114.055),
    ("Guangzhou", "Tianhe", "CN", 3, "hypermarket", 23.125, 113.361),
    ("Hangzhou", "Xihu", "CN", 3, "convenience", 30.259, 120.130),
    ("Chengdu", "Jinjiang", "CN", 3, "outlet", 30.655, 104.081),
    ("Hong Kong", "Causeway Bay", "HK", 3, "convenience", 22.280, 114.183),
    ("Hong Kong", "Mong Kok", "HK", 3, "supermarket", 22.319, 114.169),
    ("Taipei", "Xinyi", "TW", 3, "supermarket", 25.033, 121.565),
    ("Tokyo", "Shibuya", "JP", 4, "flagship", 35.659, 139.700),
    ("Tokyo", "Shinjuku", "JP", 4, "supermarket", 35.690, 139.700),
    ("Tokyo", "Ikebukuro", "JP", 4, "hypermarket", 35.729, 139.711),
    ("Osaka", "Umeda", "JP", 4, "supermarket", 34.703, 135.496),
    ("Yokohama", "Minatomirai", "JP", 4, "convenience", 35.457, 139.632),
    ("Seoul", "Gangnam", "KR", 4, "hypermarket", 37.498, 127.028),
    ("Seoul", "Myeongdong", "KR", 4, "flagship", 37.563, 126.982),
    ("Busan", "Haeundae", "KR", 4, "supermarket", 35.163, 129.164),
)
_SIZE_RANGE = {
    "hypermarket": (8000.0, 12000.0),
    "supermarket": (2500.0, 4500.0),
    "convenience": (300.0, 700.0),
    "flagship": (5000.0, 8000.0),
    "outlet": (1500.0, 3000.0),
}

CATEGORIES: tuple[str, ...] = ("grocery", "fresh", "electronics", "home", "fashion", "beauty")
# category -> (price range, brands, {subcategory: base product names})
_PRODUCTS: dict[str, tuple[tuple[float, float], tuple[str, ...], dict[str, tuple[str, ...]]]] = {
    "grocery": (
        (0.9, 19.9),
        ("Harbor Lane", "Golden Field", "Nonna's"),
        {
            "pantry": (
                "Basmati rice 1 kg",
                "Olive oil 500 ml",
                "Spaghetti 500 g",
                "Canned tomatoes",
                "Jasmine rice 2 kg",
                "Soy sauce 500 ml",
                "Rolled oats 1 kg",
                "Honey 350 g",
            ),
            "snacks": (
                "Sea salt crisps",
                "Dark chocolate 70%",
                "Mixed nuts 200 g",
                "Rice crackers",
                "Granola bars x6",
                "Butter cookies",
            ),
            "drinks": (
                "Sparkling water 6 x 1.5 l",
                "Green tea 20 bags",
                "Ground coffee 250 g",
                "Orange juice 1 l",
                "Oat drink 1 l",
            ),
        },
    ),
    "fresh": (
        (1.9, 29.9),
        ("Harbor Lane", "Green Valley", "Ocean Catch"),
        {
            "produce": (
                "Bananas 1 kg",
                "Avocados x2",
                "Strawberries 400 g",
                "Baby spinach 200 g",
                "Tomatoes on the vine",
                "Apples 1 kg",
            ),
            "dairy": (
                "Whole milk 2 l",
                "Greek yoghurt 500 g",
                "Free-range eggs x12",
                "Cheddar 400 g",
                "Butter 250 g",
            ),
            "meat_fish": (
                "Chicken breast 500 g",
                "Salmon fillets 2 x 125 g",
                "Beef mince 500 g",
                "Tofu 400 g",
            ),
        },
    ),
    "electronics": (
        (19.9, 999.0),
        ("Voltra", "Kumo", "Sonique"),
        {
            "audio": ("Wireless earbuds", "Bluetooth speaker", "Noise-cancelling headphones", "Soundbar"),
            "computing": (
                "14-inch laptop",
                "Tablet 10-inch",
                "Wireless mouse",
                "Mechanical keyboard",
                "USB-C hub",
                "External SSD 1 TB",
            ),
            "phones": ("Smartphone 128 GB", "Fast charger 30 W", "Phone case", "Smartwatch"),
        },
    ),
    "home": (
        (4.9, 299.0),
        ("Harbor Lane Home", "Nordhus", "Casa Viva"),
        {
            "kitchen": (
                "Non-stick frying pan",
                "Chef's knife",
                "Electric kettle",
                "Rice cooker",
                "Glass storage set",
            ),
            "furnishing": (
                "Cotton bath towel",
                "Duvet cover set",
                "Table lamp",
                "Scented candle",
                "Throw blanket",
            ),
            "cleaning": (
                "Laundry detergent 2 l",
                "Microfibre cloths x5",
                "Cordless vacuum",
                "Dish soap 750 ml",
            ),
        },
    ),
    "fashion": (
        (9.9, 199.0),
        ("Harbor Lane Wear", "Urbane", "Lumi"),
        {
            "women": ("Linen shirt", "Knit cardigan", "Midi skirt", "Ankle boots", "Rain jacket"),
            "men": ("Oxford shirt", "Chino trousers", "Wool jumper", "Leather belt", "Trainers"),
            "kids": ("Kids' T-shirt", "Kids' hoodie", "School shoes"),
        },
    ),
    "beauty": (
        (4.9, 99.0),
        ("Harbor Lane", "Seoul Glow", "Belle Rive"),
        {
            "skincare": (
                "Daily moisturiser",
                "Sunscreen SPF 50",
                "Sheet masks x5",
                "Vitamin C serum",
                "Cleansing foam",
            ),
            "haircare": ("Repair shampoo", "Conditioner", "Hair oil"),
            "makeup": ("Cushion foundation", "Lip tint", "Mascara", "Eyeshadow palette"),
        },
    ),
}
#: Share of lines of a category returned (before the product-quality factor).
RETURN_RATE = {
    "grocery": 0.005,
    "fresh": 0.01,
    "electronics": 0.06,
    "home": 0.04,
    "fashion": 0.18,
    "beauty": 0.03,
}

# (name, type, start day, duration days, channel or None, value, threshold, description)
_PROMOTIONS: tuple[tuple[str, str, int, int, str | None, float, float | None, str], ...] = (
    ("New year 9.9 deals", "charm_price", 0, 14, None, 9.9, None, "Hundreds of items at 9.9."),
    (
        "Spend 100 get 200",
        "spend_get",
        20,
        10,
        None,
        200.0,
        100.0,
        "Spend 100 in one basket and get 200 in vouchers for your next visits.",
    ),
    ("Lunar new year 15% off", "percent_discount", 27, 10, None, 15.0, None, "15% off everything."),
    ("App flash sale 48h", "limited_time", 45, 2, "app", 30.0, None, "30% off in the app, 48 hours only."),
    ("3 for 2 on snacks", "bundle", 60, 21, "store", 33.0, None, "Buy three snacks, pay for two."),
    ("10 off orders over 50", "amount_discount", 75, 14, "web", 10.0, 50.0, "10 off online orders over 50."),
    ("Gift card bonus", "gift_card", 90, 14, None, 20.0, 100.0, "Buy a 100 gift card, get a 20 bonus card."),
    ("Spring 9.9 deals", "charm_price", 100, 14, None, 9.9, None, "Spring favourites at 9.9."),
    ("Double points weekend", "loyalty_points", 118, 3, None, 2.0, None, "Double loyalty points."),
    ("Beauty week 20% off", "percent_discount", 130, 7, None, 20.0, None, "20% off beauty."),
    ("Buy 2 get 1 free", "multi_buy", 150, 14, "store", 33.0, None, "Buy two, get the third free."),
    ("Mid-year 618 sale", "limited_time", 165, 3, None, 25.0, None, "25% off for three days."),
    (
        "Summer spend 100 get 200",
        "spend_get",
        185,
        10,
        None,
        200.0,
        100.0,
        "Spend 100 and get 200 in vouchers.",
    ),
    ("Back to school 10% off", "percent_discount", 220, 21, None, 10.0, None, "10% off school essentials."),
    ("App exclusive 15 off 80", "amount_discount", 245, 14, "app", 15.0, 80.0, "15 off app orders over 80."),
    ("Autumn 9.9 deals", "charm_price", 270, 14, None, 9.9, None, "Autumn picks at 9.9."),
    ("Golden week 20% off", "limited_time", 273, 5, None, 20.0, None, "20% off for golden week."),
    ("Singles' day 11.11", "limited_time", 314, 2, None, 30.0, None, "30% off on 11.11."),
    ("Black Friday", "percent_discount", 331, 4, None, 25.0, None, "25% off Black Friday weekend."),
    ("Holiday gift card bonus", "gift_card", 335, 25, None, 25.0, 100.0, "Buy 100 in gift cards, get 25."),
    ("Holiday 3 for 2", "bundle", 340, 20, None, 33.0, None, "3 for 2 on gifts."),
    (
        "Year-end spend 100 get 200",
        "spend_get",
        350,
        10,
        None,
        200.0,
        100.0,
        "Spend 100 and get 200 in vouchers.",
    ),
)


def _discount_rate(kind: str, value: float) -> float:
    """Effective basket discount rate of a promotion mechanic (0 for rewards paid later)."""
    return {
        "percent_discount": value / 100.0,
        "limited_time": value / 100.0,
        "charm_price": 0.08,
        "bundle": 0.10,
        "multi_buy": 0.12,
    }.get(kind, 0.0)


@dataclass(frozen=True)
class Catalogue:
    """Arrow tables of the dimension rows plus the numpy attributes the generator samples from."""

    stores: pa.Table
    products: pa.Table
    promotions: pa.Table
    # stores: index 0 is the online store; physical stores are 1..n
    store_ids: pa.Array
    store_region: np.ndarray
    store_country: np.ndarray
    store_weight: np.ndarray
    store_queue: np.ndarray
    store_trained: np.ndarray
    countries: tuple[str, ...]
    country_language: np.ndarray
    # products
    product_ids: pa.Array
    product_category: np.ndarray
    product_price: np.ndarray
    product_quality: np.ndarray
    product_return_rate: np.ndarray
    category_cdf: np.ndarray
    # promotions
    promotion_ids: pa.Array
    promo_start: np.ndarray
    promo_end: np.ndarray
    promo_channel: np.ndarray
    promo_rate: np.ndarray
    promo_amount: np.ndarray
    promo_threshold: np.ndarray


def _charm(price: np.ndarray) -> np.ndarray:
    """Charm prices: x.9 below 100, x9.0 or x99.0 above."""
    small = np.floor(price) + 0.9
    large = np.floor(price / 10.0) * 10.0 + 9.0
    return np.round(np.where(price < 100, small, large), 2)


def build_catalogue(planted: Planted, channel_ids: tuple[str, ...]) -> Catalogue:
    """The stores, products and promotions for the period in ``planted`` (independent of the seed)."""
    rng = np.random.default_rng(_CATALOGUE_SEED)
    start_us = micros(planted.start)

    # stores (index 0 = online)
    n_phys = len(_STORES)
    store_num = np.arange(n_phys + 1)
    names = [f"{planted.retailer} Online"] + [f"{planted.retailer} {c} {d}" for c, d, *_ in _STORES]
    formats = ["online"] + [s[4] for s in _STORES]
    lo = np.array([0.0] + [_SIZE_RANGE[s[4]][0] for s in _STORES])
    hi = np.array([0.0] + [_SIZE_RANGE[s[4]][1] for s in _STORES])
    size = np.round(lo + (hi - lo) * rng.random(n_phys + 1), -1)
    opened = [date(2015, 3, 1)] + [
        date(2004, 1, 1) + timedelta(days=int(d)) for d in rng.integers(0, 19 * 365, n_phys)
    ]
    store_ids = arrow.ids("S", store_num, 3)
    countries = tuple(COUNTRY_LANGUAGES)
    stores = arrow.build(
        "stores",
        n_phys + 1,
        {
            "store_id": store_ids,
            "name": arrow.strings(names),
            "region": arrow.strings([None] + [REGIONS[s[3]] for s in _STORES]),
            "city": arrow.strings([None] + [s[0] for s in _STORES]),
            "country": arrow.strings([None] + [s[2] for s in _STORES]),
            "format": arrow.strings(formats),
            "opened_on": pa.array(opened, type=pa.date32()),
            "latitude": arrow.floats(np.array([np.nan] + [s[5] for s in _STORES])),
            "longitude": arrow.floats(np.array([np.nan] + [s[6] for s in _STORES])),
            "size_sqm": arrow.floats(np.where(store_num == 0, np.nan, size)),
        },
    )
    if any(b[3] < a[3] for a, b in pairwise(_STORES)):
        raise ValueError("stores must be listed region by region (the generator samples by region range)")
    id_list = store_ids.to_pylist()
    queue = np.array([sid in planted.queue_stores for sid in id_list])
    trained = np.array([sid in planted.training_stores for sid in id_list])
    # customers choose home stores by size; the planted stores are busy ones
    weight = np.sqrt(size) * np.where(queue | trained, 1.6, 1.0)
    weight[0] = 0.0
    lang_matrix = np.array([[COUNTRY_LANGUAGES[c].get(lang, 0.0) for lang in LANGUAGES] for c in countries])

    # products
    pid: list[int] = []
    pname: list[str] = []
    pcat: list[int] = []
    psub: list[str] = []
    pbrand: list[str] = []
    pprice: list[float] = []
    pown: list[bool] = []
    for ci, (prange, brands, subs) in enumerate(_PRODUCTS.values()):
        for sub, bases in subs.items():
            for base in bases:
                for bi, brand in enumerate(brands):
                    pid.append(len(pid) + 1)
                    pname.append(f"{brand} {base}")
                    pcat.append(ci)
                    psub.append(sub)
                    pbrand.append(brand)
                    pown.append(brand.startswith(planted.retailer))
                    lo_p, hi_p = prange
                    pprice.append(np.exp(rng.uniform(np.log(lo_p), np.log(hi_p))) * (1.0 + 0.1 * bi))
    n_prod = len(pid)
    product_ids = arrow.ids("P", np.array(pid), 5)
    price = _charm(np.array(pprice))
    category = np.array(pcat)
    quality = np.round(rng.uniform(3.4, 4.6, n_prod), 2)
    poor = np.isin(np.array(product_ids.to_pylist()), planted.poor_quality_products)
    quality[poor] = 2.1
    return_rate = np.array([RETURN_RATE[CATEGORIES[c]] for c in pcat]) * np.where(poor, 4.0, 1.0)
    products = arrow.build(
        "products",
        n_prod,
        {
            "product_id": product_ids,
            "name": arrow.strings(pname),
            "category": arrow.strings([CATEGORIES[c] for c in pcat]),
            "subcategory": arrow.strings(psub),
            "brand": arrow.strings(pbrand),
            "price": arrow.floats(price),
            "own_brand": pa.array(pown, type=pa.bool_()),
        },
    )
    # popularity: Zipf within category, as a global CDF where category c occupies [c, c + 1)
    cdf = np.empty(n_prod)
    for c in range(len(CATEGORIES)):
        idx = np.flatnonzero(category == c)
        w = 1.0 / np.arange(1, len(idx) + 1) ** 0.8
        w = w[rng.permutation(len(idx))]
        cdf[idx] = c + np.cumsum(w) / w.sum()
    cdf[np.r_[np.flatnonzero(np.diff(category)), n_prod - 1]] = np.arange(len(CATEGORIES)) + 1.0

    # promotions
    scale = planted.days / 365.0
    p_start = np.array([int(p[2] * scale) for p in _PROMOTIONS])
    p_len = np.array([max(1, int(p[3] * max(scale, 0.25))) for p in _PROMOTIONS])
    p_start_us = start_us + p_start * 86_400_000_000
    p_end_us = p_start_us + p_len * 86_400_000_000
    p_channel = np.array([-1 if p[4] is None else channel_ids.index(p[4]) for p in _PROMOTIONS])
    n_promo = len(_PROMOTIONS)
    promotion_ids = arrow.ids("PR", np.arange(1, n_promo + 1), 3)
    promotions = arrow.build(
        "promotions",
        n_promo,
        {
            "promotion_id": promotion_ids,
            "name": arrow.strings([p[0] for p in _PROMOTIONS]),
            "type": arrow.strings([p[1] for p in _PROMOTIONS]),
            "start_at": arrow.timestamps(p_start_us),
            "end_at": arrow.timestamps(p_end_us),
            "channel": arrow.strings([p[4] for p in _PROMOTIONS]),
            "value": arrow.floats(np.array([p[5] for p in _PROMOTIONS])),
            "threshold": arrow.floats(np.array([np.nan if p[6] is None else p[6] for p in _PROMOTIONS])),
            "description": arrow.strings([p[7] for p in _PROMOTIONS]),
        },
    )
    return Catalogue(
        stores=stores,
        products=products,
        promotions=promotions,
        store_ids=store_ids,
        store_region=np.array([-1] + [s[3] for s in _STORES]),
        store_country=np.array([-1] + [countries.index(s[2]) for s in _STORES]),
        store_weight=weight / weight.sum(),
        store_queue=queue,
        store_trained=trained,
        countries=countries,
        country_language=lang_matrix,
        product_ids=product_ids,
        product_category=category,
        product_price=price,
        product_quality=quality,
        product_return_rate=return_rate,
        category_cdf=cdf,
        promotion_ids=promotion_ids,
        promo_start=p_start_us,
        promo_end=p_end_us,
        promo_channel=p_channel,
        promo_rate=np.array([_discount_rate(p[1], p[5]) for p in _PROMOTIONS]),
        promo_amount=np.array([p[5] if p[1] == "amount_discount" else 0.0 for p in _PROMOTIONS]),
        promo_threshold=np.array([0.0 if p[6] is None else p[6] for p in _PROMOTIONS]),
    )


def micros(d: date) -> int:
    """Microseconds since the epoch at midnight UTC of ``d``."""
    return int(datetime.combine(d, time(), tzinfo=UTC).timestamp()) * 1_000_000


def sample_products(rng: np.random.Generator, cat: Catalogue, categories: np.ndarray) -> np.ndarray:
    """A product index per row, from the given category, by popularity."""
    u = categories + rng.random(len(categories)) * (1.0 - 1e-12)
    idx = np.searchsorted(cat.category_cdf, u, side="right")
    return np.minimum(idx, len(cat.category_cdf) - 1)
