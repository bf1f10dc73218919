"""The retail indicator system: a YAML taxonomy of aspects, sub-aspects, touchpoints and keywords.

The shipped default (``retail_taxonomy.yaml``) follows DESIGN.md; users copy and edit it. Loading
validates ids, languages and (when a journey map is given) touchpoints, naming the field at fault.
"""

from __future__ import annotations

import re
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from cxlens.text.matching import KeywordMatcher

if TYPE_CHECKING:
    from cxlens.journey.map import JourneyMap

DEFAULT_TAXONOMY = Path(__file__).with_name("retail_taxonomy.yaml")
LANGUAGES = ("en", "zh", "ja", "ko", "ru", "pt", "es", "fr", "de", "it", "nl", "ar")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


class TaxonomyError(ValueError):
    """The taxonomy file is missing or invalid."""


class SubAspect(BaseModel):
    """A sub-aspect with its keywords per language."""

    label: str
    keywords: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("keywords")
    @classmethod
    def _known_languages(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for lang, words in value.items():
            if lang not in LANGUAGES:
                raise ValueError(f"unknown language {lang!r} (use one of {', '.join(LANGUAGES)})")
            if any(not isinstance(w, str) or not w.strip() for w in words):
                raise ValueError(f"{lang}: keywords must be non-empty strings")
        return value


class Aspect(BaseModel):
    """A top-level aspect: label, touchpoints where it arises, sub-aspects."""

    label: str
    touchpoints: list[str] = Field(default_factory=list)
    sub_aspects: dict[str, SubAspect]

    @field_validator("sub_aspects")
    @classmethod
    def _ids(cls, value: dict[str, SubAspect]) -> dict[str, SubAspect]:
        bad = [k for k in value if not _ID.match(k)]
        if bad:
            raise ValueError(f"sub-aspect ids must be snake_case: {bad}")
        if not value:
            raise ValueError("an aspect needs at least one sub-aspect")
        return value


class Taxonomy(BaseModel):
    """The whole indicator system; ``matcher`` finds ``aspect/sub_aspect`` labels in text."""

    version: int = 1
    aspects: dict[str, Aspect]

    @field_validator("aspects")
    @classmethod
    def _ids(cls, value: dict[str, Aspect]) -> dict[str, Aspect]:
        bad = [k for k in value if not _ID.match(k)]
        if bad:
            raise ValueError(f"aspect ids must be snake_case: {bad}")
        return value

    @cached_property
    def matcher(self) -> KeywordMatcher:
        """Keyword matcher whose labels are ``aspect/sub_aspect``."""
        by_lang: dict[str, dict[str, list[str]]] = {}
        for aid, aspect in self.aspects.items():
            for sid, sub in aspect.sub_aspects.items():
                for lang, words in sub.keywords.items():
                    by_lang.setdefault(lang, {})[f"{aid}/{sid}"] = words
        return KeywordMatcher(by_lang)

    def labels(self) -> list[str]:
        """Every ``aspect/sub_aspect`` id."""
        return [f"{a}/{s}" for a, asp in self.aspects.items() for s in asp.sub_aspects]

    def touchpoints_of(self, aspect: str) -> list[str]:
        """Touchpoints where a top-level aspect arises."""
        return list(self.aspects[aspect].touchpoints)

    def check_touchpoints(self, journey_map: JourneyMap) -> None:
        """Raise :class:`TaxonomyError` if an aspect names a touchpoint the journey map lacks."""
        known = set(journey_map.touchpoint_ids)
        for aid, aspect in self.aspects.items():
            missing = sorted(set(aspect.touchpoints) - known)
            if missing:
                raise TaxonomyError(
                    f"aspects.{aid}.touchpoints: not in the journey map: {', '.join(missing)}"
                )


def load_taxonomy(path: str | Path | None = None, journey_map: JourneyMap | None = None) -> Taxonomy:
    """Read and validate a taxonomy YAML file (default: the shipped retail taxonomy)."""
    path = Path(path) if path else DEFAULT_TAXONOMY
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TaxonomyError(f"cannot read taxonomy {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise TaxonomyError(f"{path}: not valid YAML: {exc}") from None
    try:
        taxonomy = Taxonomy.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise TaxonomyError(f"{path}: {where}: {first['msg']}") from None
    if journey_map is not None:
        taxonomy.check_touchpoints(journey_map)
    return taxonomy


@lru_cache(maxsize=1)
def default_taxonomy() -> Taxonomy:
    """The shipped retail taxonomy (parsed once per process)."""
    return load_taxonomy()
