"""Masking contact and address data of protected organisations (e.g. a women's shelter)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MASK = "(skyddad)"
PROTECTED_FIELDS = ("contact_name", "contact_email", "contact_phone", "address")


def mask_value(value: Any, secrets: Sequence[str]) -> tuple[Any, bool]:
    """``value`` with protected keys and every occurrence of a secret masked; and whether anything was."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        changed = False
        for key, item in value.items():
            if key in PROTECTED_FIELDS and item not in (None, ""):
                out[key], hit = MASK, True
            else:
                out[key], hit = mask_value(item, secrets)
            changed = changed or hit
        return out, changed
    if isinstance(value, list):
        pairs = [mask_value(item, secrets) for item in value]
        return [p[0] for p in pairs], any(p[1] for p in pairs)
    if isinstance(value, str):
        text = value
        for secret in secrets:
            if secret and secret in text:
                text = text.replace(secret, MASK)
        return text, text != value
    return value, False


def mask_record(record: dict[str, Any], secrets: Sequence[str]) -> dict[str, Any]:
    """A log record of a protected organisation's case, masked; ``masked: true`` when anything was.

    A masked record no longer reproduces its hash: that is what ``masked`` says.
    """
    data, hit_data = mask_value(record["data"], secrets)
    reason, hit_reason = mask_value(record["reason"], secrets)
    if not (hit_data or hit_reason):
        return record
    return {**record, "data": data, "reason": reason, "masked": True}
