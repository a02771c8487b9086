"""Sweden's municipalities and regions as reference data: the one resolver of ``--municipality``.

``config/municipalities.toml`` ships the 290 municipalities (kommunkod, 4 digits) and the 21
regions (regionkod = länskod, 2 digits) with their SCB codes and provenance. :func:`resolve`
turns what a person writes into a :class:`Place`: the name in any case ("stenungsund"), the name
in its usual genitive form before "kommun" or "stad" ("Stenungsunds kommun", "Marks kommun",
"Borås kommun", "Falu kommun"), a region's name ("Region Stockholm") or a code ("1415", "01").
Anything else is :class:`UnknownMunicipality` (exit 6, HTTP 422) naming the nearest names.

Cases, guidelines, grants and tokens store the code; people see the name (:func:`name_of`).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from iop_workflow.domain import tomldoc
from iop_workflow.errors import InvalidInput

MUNICIPALITY: Literal["municipality"] = "municipality"
REGION: Literal["region"] = "region"
_NO_S = ("s", "x", "z", "a", "e", "i", "o", "u", "y", "å", "ä", "ö")
_SUFFIXES = ("kommun", "stad")


@dataclass(frozen=True, slots=True, kw_only=True)
class Place:
    """A municipality or a region: its SCB code, its name, and the län it lies in."""

    code: str
    name: str
    kind: Literal["municipality", "region"]
    county_code: str
    genitive: str = ""  # the form before "kommun" (municipalities only)
    county_short: str = ""  # the län's short name, "Västra Götaland" (regions only)

    @property
    def formal(self) -> str:
        """How it is named in a letter: "Stenungsunds kommun", "Region Stockholm"."""
        return f"{self.genitive} kommun" if self.kind == MUNICIPALITY else self.name


def genitive(name: str) -> str:
    """The usual form before "kommun": an s added unless the name ends in s, x, z or a vowel."""
    return name if name.casefold().endswith(_NO_S) else name + "s"


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


class UnknownMunicipality(InvalidInput):
    """No municipality or region has this name or code; carries the nearest names."""

    code = "unknown_municipality"

    def __init__(self, *, field: str, value: object, suggestions: tuple[str, ...]) -> None:
        near_sv = f"; närmast: {', '.join(suggestions)}" if suggestions else ""
        near_en = f"; nearest: {', '.join(suggestions)}" if suggestions else ""
        super().__init__(
            field=field,
            value=value,
            problem_sv=f"ingen svensk kommun eller region har det namnet eller den koden{near_sv}",
            problem_en=f"no Swedish municipality or region has that name or code{near_en}",
        )
        self.suggestions = suggestions

    def details(self) -> dict[str, Any]:
        return {**super().details(), "suggestions": list(self.suggestions)}


class Register:
    """Every place by code, and every accepted spelling (case-folded) of each."""

    def __init__(self, places: tuple[Place, ...], source: dict[str, Any]) -> None:
        self.places = places
        self.source = source
        self.by_code = {p.code: p for p in places}
        self._keys: dict[str, Place] = {}
        for p in places:
            for spelling in self._spellings(p):
                self._keys.setdefault(_key(spelling), p)

    @staticmethod
    def _spellings(p: Place) -> list[str]:
        if p.kind == REGION:  # "Region Västra Götaland" for Västra Götalandsregionen, "Region Kalmar"
            return [p.code, p.name, f"Region {p.county_short}"]
        forms = {p.genitive, p.name}  # "Stenungsunds kommun", and the forgiving "Stenungsund kommun"
        return [p.code, p.name, *(f"{form} {suffix}" for form in forms for suffix in _SUFFIXES)]

    def find(self, value: str) -> Place | None:
        return self._keys.get(_key(value))

    def nearest(self, value: str, n: int = 3) -> tuple[str, ...]:
        """The names (with their codes) of the places whose spellings are closest to ``value``, best first."""
        out: dict[str, None] = {}
        for hit in difflib.get_close_matches(_key(value), self._keys, n=4 * n, cutoff=0.6):
            p = self._keys[hit]
            out.setdefault(f"{p.name} ({p.code})")
        return tuple(out)[:n]


@lru_cache(maxsize=1)
def register() -> Register:
    """The shipped reference data, read once."""
    from iop_workflow.resources import config_dir, read_text  # noqa: PLC0415 - resources imports the domain

    path = config_dir() / "municipalities.toml"
    data = tomldoc.parse(read_text(path), file=str(path))
    places = [
        Place(code=r["code"], name=r["name"], kind=REGION, county_code=r["code"], county_short=r["county_short"])
        for r in data["regions"]
    ]
    places += [
        Place(
            code=m["code"],
            name=m["name"],
            kind=MUNICIPALITY,
            county_code=m["code"][:2],
            genitive=m.get("genitive") or genitive(m["name"]),
        )
        for m in data["municipalities"]
    ]
    return Register(tuple(places), dict(data.get("source", {})))


def resolve(value: object, *, field: str = "municipality") -> Place:
    """The place ``value`` names; InvalidInput (missing, too long) or UnknownMunicipality otherwise."""
    from iop_workflow.service import validate  # noqa: PLC0415 - validate imports the store

    text = validate.text(field, value, max_len=100)
    found = register().find(text)
    if found is None:
        raise UnknownMunicipality(field=field, value=text, suggestions=register().nearest(text))
    return found


def code_of(value: object, *, field: str = "municipality") -> str:
    """The SCB code of the place ``value`` names (see :func:`resolve`)."""
    return resolve(value, field=field).code


def name_of(stored: str) -> str:
    """The name of the place a stored code names; any other stored text (``*``, a name kept from
    before migration 0007 that named no place) as it is."""
    found = register().by_code.get(stored)
    return found.name if found is not None else stored
