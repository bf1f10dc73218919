"""Display names for ids, per locale, with readable fallbacks; money and numbers per locale."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from cxlens import display
from cxlens.config import Settings, get_settings
from cxlens.display import build_names, money, number, readable
from cxlens.journey.map import load_journey_map
from cxlens.text.taxonomy import default_taxonomy

STORES = pd.DataFrame(
    {"store_id": ["S001", "S002", "S003", "S004"], "name": ["Midtown", "Loop", "Loop", None]}
)


@pytest.fixture
def names() -> display.DisplayNames:
    return build_names(journey_map=load_journey_map(), taxonomy=default_taxonomy(), stores=STORES)


def test_every_kind_of_id_gets_its_name(names: display.DisplayNames) -> None:
    assert names("tp:store_visit") == "Store visit"
    assert names("store_visit", "touchpoint") == "Store visit"
    assert names("post_purchase", "stage") == "Post-purchase"
    assert names("web", "channel") == "Web shop"
    assert names("returns_after_sales") == "Returns and after-sales"
    assert names("aspect:delivery") == "Delivery"
    assert names("op:delivery_on_time") == "On-time delivery"
    # as key drivers, a text aspect says so (the touchpoint "Delivery" has the same name)
    assert names.drivers(["tp:delivery", "aspect:delivery"]) == ["Delivery", "Delivery (comments)"]
    assert names("S001", "store") == "Midtown"
    # two stores with one name keep their ids; a store with no name shows its id
    assert names("S002", "store") == "Loop (S002)"
    assert names("S004", "store") == "S004"


def test_unknown_ids_read_as_words_and_never_fail(names: display.DisplayNames) -> None:
    assert names("returns_after_sales_v2") == "Returns after sales v2"
    assert names("tp:something_new") == "Something new"
    assert names("op:basket_size") == "Basket size"
    assert names(None) == "–"
    assert names(float("nan")) == "–"
    assert names("North America") == "North America"
    assert names("S999", "store") == "S999"
    assert readable("returns_after_sales") == "Returns after sales"


def test_no_journey_map_taxonomy_or_stores_falls_back_to_ids() -> None:
    bare = build_names()
    assert bare("tp:store_visit") == "Store visit"
    assert bare("S001", "store") == "S001"
    assert build_names(stores=STORES.iloc[0:0])("S001") == "S001"


@pytest.mark.parametrize("locale", ["zh", "ja", "ko", "ru"])
def test_names_are_translated_in_every_ui_language(locale: str) -> None:
    names = build_names(journey_map=load_journey_map(), taxonomy=default_taxonomy(), locale=locale)
    jm, tax = load_journey_map(), default_taxonomy()
    english = (
        [c.name for c in jm.channels]
        + [s.name for s in jm.stages]
        + [t.name for s in jm.stages for t in s.touchpoints]
        + [a.label for a in tax.aspects.values()]
        + list(display.OPERATIONAL.values())
    )
    missing = [e for e in english if e not in display.translations(locale)]
    assert not missing, f"{locale}: no names.json entry for {missing}"
    assert names("tp:store_visit") != "Store visit"
    assert names("S001", "store") == "S001"  # store ids with no table stay ids


def test_names_files_are_objects_of_strings() -> None:
    for locale in display.LOCALES:
        path = display.NAMES_DIR / locale / "names.json"
        entries = json.loads(Path(path).read_text(encoding="utf-8"))
        assert isinstance(entries, dict)
        assert all(isinstance(v, str) and v.strip() for v in entries.values())


def test_money_follows_the_currency_setting_and_the_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    assert money(6609617.4) == "$6,609,617"
    assert money(6609617.4, "zh") == "US$6,609,617"
    assert money(6609617.4, "ru").replace("\xa0", " ") == "6 609 617 $"
    assert money(12.5, digits=2) == "$12.50"
    assert money(-0.2) == "$0"  # never "−$0"
    assert money(None) == "–"
    monkeypatch.setenv("CXLENS_CURRENCY", "EUR")
    get_settings.cache_clear()
    try:
        assert money(1234) == "€1,234"
        assert money(1234, "ja") == "€1,234"
    finally:
        monkeypatch.delenv("CXLENS_CURRENCY")
        get_settings.cache_clear()
    with pytest.raises(ValueError, match="currency"):
        Settings(currency="dollars")


def test_numbers_in_full_with_locale_separators() -> None:
    assert number(145269) == "145,269"
    assert number(145269, "ru").replace("\xa0", " ") == "145 269"
    assert number(-0.04, digits=1) == "0.0"
    assert display.separators("en") == ".,"


def test_customer_names_where_on_file_and_ids_where_not(tmp_path: Path) -> None:
    from cxlens.storage.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    frame = pd.DataFrame({"customer_id": ["C1", "C2", "C3"], "value": [3.0, 2.0, 1.0]})
    assert display.with_customer_names(ws, frame) is frame  # no customers table yet
    ws.ingest("customers", pd.DataFrame({"customer_id": ["C9"]}))
    assert display.with_customer_names(ws, frame) is frame  # customers, but none of these on file
    ws.ingest("customers", pd.DataFrame({"customer_id": ["C1", "C2"], "name": ["Ana Lima", None]}))
    named = display.with_customer_names(ws, frame)
    assert list(named.columns) == ["customer_id", "name", "value"]
    assert named["name"].tolist() == ["Ana Lima", None, None]
    assert display.customer_names(ws.table, ["C1", "C3"]) == {"C1": "Ana Lima"}
    ws.close()


def test_demo_customers_have_names_in_their_language(tmp_path: Path) -> None:
    from cxlens.demo._names import customer_names

    codes = ("en", "zh", "ja", "ko", "ru", "pt", "es")
    names = customer_names(
        pd.Series(range(1, 8)).to_numpy(), pd.Series(range(7)).to_numpy(), codes
    ).to_pylist()
    assert " " in names[0]
    assert names[0].isascii()
    assert all("\u4e00" <= ch <= "\u9fff" for ch in names[1])  # Chinese: family name first, no space
    assert " " in names[2]  # Japanese: family name, a space, given name
    assert all("\uac00" <= ch <= "\ud7a3" for ch in names[3])  # Hangul
    assert all(ch == " " or "\u0400" <= ch <= "\u04ff" for ch in names[4])  # Cyrillic
    assert names[6].isascii()  # no list for Spanish: English names
    again = customer_names(pd.Series(range(1, 8)).to_numpy(), pd.Series(range(7)).to_numpy(), codes)
    assert again.to_pylist() == names  # from the customer number alone
