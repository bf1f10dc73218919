"""Journey map configuration: stages, touchpoints, channels and event-type mapping, loaded from YAML."""

from __future__ import annotations

from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

ID_PATTERN = r"^[a-z][a-z0-9_]*$"


class JourneyMapError(ValueError):
    """A journey map file could not be read or is invalid; the message says where and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Channel(_Strict):
    """A channel through which the customer meets the retailer."""

    id: str = Field(pattern=ID_PATTERN)
    name: str
    kind: Literal["online", "offline", "assisted"]


class Touchpoint(_Strict):
    """A point of contact within a stage, reachable through some channels."""

    id: str = Field(pattern=ID_PATTERN)
    name: str
    channels: tuple[str, ...] = Field(min_length=1)
    event_types: tuple[str, ...] = ()


class Stage(_Strict):
    """A stage of the journey, holding its touchpoints in order."""

    id: str = Field(pattern=ID_PATTERN)
    name: str
    touchpoints: tuple[Touchpoint, ...] = Field(min_length=1)


class JourneyMap(_Strict):
    """A validated journey map. Ids are unique; touchpoints name declared channels; each event
    type maps to exactly one touchpoint."""

    name: str
    channels: tuple[Channel, ...] = Field(min_length=1)
    stages: tuple[Stage, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_references(self) -> JourneyMap:
        channel_ids = [c.id for c in self.channels]
        _no_duplicates("channels", channel_ids)
        _no_duplicates("stages", [s.id for s in self.stages])
        _no_duplicates("touchpoints", [t.id for s in self.stages for t in s.touchpoints])
        known = set(channel_ids)
        seen_types: dict[str, str] = {}
        for si, stage in enumerate(self.stages):
            for ti, tp in enumerate(stage.touchpoints):
                where = f"stages[{si}] ({stage.id}).touchpoints[{ti}] ({tp.id})"
                for ch in tp.channels:
                    if ch not in known:
                        raise ValueError(
                            f"{where}.channels: unknown channel {ch!r}; declared channels: "
                            f"{', '.join(channel_ids)}"
                        )
                for et in tp.event_types:
                    if et in seen_types:
                        raise ValueError(
                            f"{where}.event_types: {et!r} already maps to touchpoint "
                            f"{seen_types[et]!r}; an event type maps to one touchpoint"
                        )
                    seen_types[et] = tp.id
        return self

    @cached_property
    def channel_ids(self) -> tuple[str, ...]:
        """Channel ids in declaration order."""
        return tuple(c.id for c in self.channels)

    @cached_property
    def touchpoint_ids(self) -> tuple[str, ...]:
        """Touchpoint ids in journey order."""
        return tuple(t.id for s in self.stages for t in s.touchpoints)

    @cached_property
    def stage_of(self) -> dict[str, str]:
        """Touchpoint id to stage id."""
        return {t.id: s.id for s in self.stages for t in s.touchpoints}

    @cached_property
    def touchpoint_of_event_type(self) -> dict[str, str]:
        """Event type to touchpoint id."""
        return {et: t.id for s in self.stages for t in s.touchpoints for et in t.event_types}

    def allowed(self, list_name: str) -> tuple[str, ...]:
        """Ids of the named list ("channels" or "touchpoints"), used by data-model validation."""
        if list_name == "channels":
            return self.channel_ids
        if list_name == "touchpoints":
            return self.touchpoint_ids
        raise KeyError(f"journey map has no list {list_name!r}")

    def rows(self) -> list[dict[str, object]]:
        """One row per touchpoint: stage, touchpoint, channels and event types (for tables and joins)."""
        return [
            {
                "stage_order": si,
                "stage": s.id,
                "stage_name": s.name,
                "touchpoint_order": ti,
                "touchpoint": t.id,
                "touchpoint_name": t.name,
                "channels": ", ".join(t.channels),
                "event_types": ", ".join(t.event_types),
            }
            for si, s in enumerate(self.stages)
            for ti, t in enumerate(s.touchpoints)
        ]


def _no_duplicates(what: str, ids: list[str]) -> None:
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"{what}: duplicate id(s) {', '.join(dupes)}")


def _format_validation_error(source: str, err: ValidationError) -> str:
    lines = [f"invalid journey map {source}:"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"  {loc}: {msg}")
    return "\n".join(lines)


def parse_journey_map(text: str, source: str = "<string>") -> JourneyMap:
    """Parse and validate a journey map from YAML text; errors name the source and the field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise JourneyMapError(f"invalid journey map {source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise JourneyMapError(f"invalid journey map {source}: expected a mapping at the top level")
    try:
        return JourneyMap.model_validate(data)
    except ValidationError as exc:
        raise JourneyMapError(_format_validation_error(source, exc)) from None


def load_journey_map(path: str | Path | None = None) -> JourneyMap:
    """Load a journey map from ``path``, or the retail default shipped with cxlens."""
    if path is None:
        text = resources.files("cxlens.journey").joinpath("default_journey.yaml").read_text("utf-8")
        return parse_journey_map(text, "retail-default")
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise JourneyMapError(f"cannot read journey map {p}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise JourneyMapError(f"invalid journey map {p}: not UTF-8 text") from None
    return parse_journey_map(text, str(p))
