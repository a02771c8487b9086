"""Decision bodies: who may decide on an IOP in each municipality (``[decision_bodies]`` of the settings).

The values (:class:`DecisionBodies`, the delegate's name) and their reading from a settings file,
the shipped ``config/iop.toml``'s table being the default. Re-exported by :mod:`iop_workflow.settings`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iop_workflow.domain import tomldoc
from iop_workflow.errors import DefinitionError
from iop_workflow.resources import read_text
from iop_workflow.settings_read import default_config_path, typed_value

# A delegate's decision (delegationsbeslut): its body is written this way and it names the point of
# the municipality's delegationsordning it was taken under (``delegation_ref``).
DELEGATE = "Delegat"


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionBodies:
    """``[decision_bodies.<municipality>]``: who may decide on an IOP in one municipality.

    ``bodies``: kommunfullmäktige, kommunstyrelsen and the nämnder, by name. ``delegation_order``:
    the reference of the delegationsordning; when set, a delegate (:data:`DELEGATE`) may decide too,
    naming the point of the order it used.
    """

    bodies: tuple[str, ...]
    delegation_order: str = ""

    def allowed(self) -> tuple[str, ...]:
        """Every body a decision may name, the delegate last when delegation is configured."""
        return (*self.bodies, DELEGATE) if self.delegation_order else self.bodies

    def match(self, body: str) -> str | None:
        """The configured spelling of ``body`` (case and spacing aside), or None."""
        wanted = " ".join(body.split()).casefold()
        return next((b for b in self.allowed() if b.casefold() == wanted), None)


_BODY_KEYS = {"bodies", "delegation_order"}


def read_decision_bodies(table: Any, file: str) -> dict[str, DecisionBodies]:
    """``[decision_bodies]``: one table per municipality, ``bodies`` (at least one) and ``delegation_order``;
    two keys naming one place are refused."""
    if not isinstance(table, dict):
        raise DefinitionError(file=file, key="decision_bodies", problem="must be a table")
    out: dict[str, DecisionBodies] = {}
    codes: dict[str, str] = {}  # SCB code -> the key that named it
    for municipality, spec in table.items():
        key = f"decision_bodies.{municipality}"
        code = _place(file, key, municipality)
        if not isinstance(spec, dict):
            raise DefinitionError(file=file, key=key, problem="must be a table with bodies = [...]")
        for name in spec:
            if name not in _BODY_KEYS:
                raise tomldoc.unknown(file, f"{key}.{name}", _BODY_KEYS)
        raw = spec.get("bodies")
        if not isinstance(raw, list) or not raw:
            raise DefinitionError(file=file, key=f"{key}.bodies", problem="must be a non-empty list of names")
        bodies = tuple(" ".join(typed_value(b, str, file, f"{key}.bodies").split()) for b in raw)
        if any(not b for b in bodies) or len({b.casefold() for b in bodies}) != len(bodies):
            raise DefinitionError(file=file, key=f"{key}.bodies", problem="names must be non-empty and distinct")
        if any(b.casefold() == DELEGATE.casefold() for b in bodies):
            raise DefinitionError(
                file=file,
                key=f"{key}.bodies",
                problem=f"{DELEGATE!r} is not a body: set delegation_order to let a delegate decide",
            )
        order = typed_value(spec.get("delegation_order", ""), str, file, f"{key}.delegation_order").strip()
        if code in codes:
            raise DefinitionError(file=file, key=key, problem=f"names the place {codes[code]!r} names too")
        codes[code] = str(municipality)
        out[str(municipality)] = DecisionBodies(bodies=bodies, delegation_order=order)
    return out


def _place(file: str, key: str, municipality: str) -> str:
    """The SCB code of the place a ``[decision_bodies]`` key names (as ``--municipality`` takes it)."""
    from iop_workflow.municipalities import UnknownMunicipality, resolve  # noqa: PLC0415 - only files that set it

    try:
        return resolve(municipality).code
    except UnknownMunicipality as exc:
        nearest = ", ".join(exc.suggestions)
        raise DefinitionError(
            file=file,
            key=key,
            problem=f"no municipality or region {municipality!r}" + (f"; nearest: {nearest}" if nearest else ""),
        ) from None


_SHIPPED_BODIES: dict[str, DecisionBodies] = {}


def shipped_decision_bodies() -> dict[str, DecisionBodies]:
    """The ``[decision_bodies]`` of the shipped ``config/iop.toml`` (read once): the default."""
    if not _SHIPPED_BODIES:
        path = default_config_path()
        data = tomldoc.parse(read_text(path, field="config"), file=str(path))
        _SHIPPED_BODIES.update(read_decision_bodies(data.get("decision_bodies", {}), str(path)))
    return dict(_SHIPPED_BODIES)
