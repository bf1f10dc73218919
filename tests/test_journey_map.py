"""Journey map: the retail default loads, bad maps fail with the field that is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cxlens.journey.map import JourneyMapError, load_journey_map, parse_journey_map

MINIMAL = {
    "name": "mini",
    "channels": [
        {"id": "web", "name": "Web", "kind": "online"},
        {"id": "store", "name": "Store", "kind": "offline"},
    ],
    "stages": [
        {
            "id": "buy",
            "name": "Buy",
            "touchpoints": [
                {"id": "cart", "name": "Cart", "channels": ["web"], "event_types": ["add_to_cart"]},
                {"id": "till", "name": "Till", "channels": ["store"], "event_types": ["pos_purchase"]},
            ],
        },
    ],
}


def test_retail_default_has_the_design_stages() -> None:
    jm = load_journey_map()
    assert [s.id for s in jm.stages] == [
        "awareness",
        "consideration",
        "purchase",
        "fulfilment",
        "post_purchase",
        "loyalty",
    ]
    assert {"web", "app", "store", "call", "chat", "courier"} <= set(jm.channel_ids)
    assert jm.touchpoint_of_event_type["store_checkout"] == "checkout_queue"
    assert jm.stage_of["delivery"] == "fulfilment"
    assert len(jm.rows()) == len(jm.touchpoint_ids)


def test_custom_map_from_file(tmp_path: Path) -> None:
    path = tmp_path / "map.yaml"
    path.write_text(yaml.safe_dump(MINIMAL))
    jm = load_journey_map(path)
    assert jm.touchpoint_ids == ("cart", "till")
    assert jm.allowed("channels") == ("web", "store")


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda m: m["stages"][0]["touchpoints"][0].update(channels=["fax"]),
            "stages[0] (buy).touchpoints[0] (cart).channels: unknown channel 'fax'; "
            "declared channels: web, store",
        ),
        (lambda m: m["stages"][0]["touchpoints"][1].update(id="cart"), "touchpoints: duplicate id(s) cart"),
        (
            lambda m: m["stages"][0]["touchpoints"][1].update(event_types=["add_to_cart"]),
            "'add_to_cart' already maps to touchpoint 'cart'",
        ),
        (lambda m: m["channels"][0].update(kind="telepathy"), "channels.0.kind: Input should be 'online'"),
        (lambda m: m["stages"][0].pop("name"), "stages.0.name: Field required"),
        (lambda m: m["stages"][0].update(colour="red"), "stages.0.colour: Extra inputs are not permitted"),
        (lambda m: m["stages"][0].update(id="Buy Now"), "stages.0.id: String should match pattern"),
        (lambda m: m.update(stages=[]), "stages: Tuple should have at least 1 item"),
    ],
)
def test_invalid_maps_say_where(tmp_path: Path, mutate, expected: str) -> None:  # type: ignore[no-untyped-def]
    import copy

    data = copy.deepcopy(MINIMAL)
    mutate(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(JourneyMapError) as exc:
        load_journey_map(path)
    assert f"invalid journey map {path}" in str(exc.value)
    assert expected in str(exc.value)


def test_not_yaml_and_not_a_mapping() -> None:
    with pytest.raises(JourneyMapError, match="not valid YAML"):
        parse_journey_map("stages: [unclosed", "x.yaml")
    with pytest.raises(JourneyMapError, match="expected a mapping"):
        parse_journey_map("- a\n- b\n", "x.yaml")


def test_missing_file() -> None:
    with pytest.raises(JourneyMapError, match="cannot read journey map"):
        load_journey_map("/nonexistent/map.yaml")
