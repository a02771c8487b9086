"""Hypothesis strategies for values the product must refuse, whatever command or file they reach.

Each strategy draws only values that are bad by the product's documented rules
(service/validate.py, the loaders), so a success is a finding, never noise.
"""

from __future__ import annotations

import calendar

from hypothesis import strategies as st
from stdnum import luhn
from stdnum.se import orgnr

# C0 controls and DEL, except tab and line breaks (which text fields accept).
CONTROL = [chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F)]
SQL = [
    "'; DROP TABLE cases; --",
    "' OR '1'='1",
    "1; DELETE FROM transition_log",
    '" OR 1=1 --',
    "Robert'); DROP TABLE organisations;--",
    "%' UNION SELECT name FROM sqlite_master --",
    "$$; TRUNCATE cases CASCADE; $$",
    "IOP-2026-0001' --",
    "\\'; UPDATE cases SET state='active'; --",
]
# Ordinary text around the bad part: letters, digits, Swedish letters, punctuation (no controls).
_PLAIN = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs"))
plain = st.text(_PLAIN, max_size=12)
HUGE_MIN = 10_002  # over every text limit (the longest is 10 000), even after strip()


def _around(middle: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(plain, middle, plain).map("".join)


def with_control() -> st.SearchStrategy[str]:
    """A control character that survives ``str.strip()`` (which removes \\x1c-\\x1f at the ends)."""
    return _around(st.sampled_from(CONTROL)).filter(lambda s: any(ch in CONTROL for ch in s.strip()))


def not_utf8() -> st.SearchStrategy[str]:
    """What Python makes of non-UTF-8 bytes in argv or the environment: lone surrogates."""
    return _around(st.integers(0x80, 0xFF).map(lambda b: chr(0xDC00 + b)))


def is_text(value: str) -> bool:
    """No lone surrogates: the value can be written as UTF-8 (in a JSON line, say)."""
    return not any("\ud800" <= ch <= "\udfff" for ch in value)


def huge(minimum: int = HUGE_MIN, maximum: int = 32_000) -> st.SearchStrategy[str]:
    """Longer than any limit; at most 128 kB, the kernel's limit for one argument."""
    return st.builds(
        lambda unit, n: (unit * n)[:n], st.sampled_from(["x", "å", "🙂", "a b "]), st.integers(minimum, maximum)
    )


def blank() -> st.SearchStrategy[str]:
    return st.text(st.sampled_from(" \t\n\r\u00a0\u2003\u3000"), max_size=6)


def bad_text(*, optional: bool = False) -> st.SearchStrategy[str]:
    """A value no text field accepts (blank is fine where the field is optional)."""
    kinds = [with_control(), not_utf8(), huge()]
    return st.one_of(*kinds) if optional else st.one_of(*kinds, blank())


def impossible_date() -> st.SearchStrategy[str]:
    """YYYY-MM-DD shaped, but no such day: 2026-02-30, 2025-13-01, 0000-01-01, ..."""
    past_month_end = st.tuples(st.integers(1, 9999), st.integers(1, 12)).flatmap(
        lambda ym: st.tuples(st.just(ym[0]), st.just(ym[1]), st.integers(calendar.monthrange(*ym)[1] + 1, 99))
    )
    bad_month = st.tuples(st.integers(1, 9999), st.sampled_from([0, *range(13, 100)]), st.integers(1, 28))
    zero = st.tuples(st.sampled_from([0]), st.integers(1, 12), st.integers(1, 28))
    zero_day = st.tuples(st.integers(1, 9999), st.integers(1, 12), st.just(0))
    return st.one_of(past_month_end, bad_month, zero, zero_day).map(lambda t: f"{t[0]:04d}-{t[1]:02d}-{t[2]:02d}")


def bad_date() -> st.SearchStrategy[str]:
    junk = st.sampled_from(
        [
            "2026-02-30",
            "2026-1-1",
            "31/12/2026",
            "2026/01/01",
            "i morgon",
            "",
            "2026-01-01T10:00",
            "+2026-01-01",
            "１９９９-01-01",
            "99999-01-01",
            "2026-02-29",
            "-2026-01-01",
            "2026-00-10",
        ]
    )
    return st.one_of(impossible_date(), junk, st.sampled_from(SQL), with_control(), not_utf8(), huge())


def bad_amount() -> st.SearchStrategy[str]:
    """Negative, zero, below one öre, over the ceiling, not a number."""
    positive = st.decimals(min_value="0.01", max_value="999999999999.99", places=2).map(str)
    return st.one_of(
        positive.map(lambda s: "-" + s),
        st.sampled_from(["0", "0.00", "-0", "0e9", "0,00", "0.004", "0.001", "4e-3", "1e-999999999", "0.0049"]),
        st.integers(10**12, 10**40).map(str),
        st.sampled_from(["1e13", "9" * 50, "1E+999999999", "1000000000000.00"]),
        st.sampled_from(["NaN", "sNaN", "Infinity", "-inf", "12 kr", "1.2.3", "", "SEK", "0x10", "1/2", "٣٣,٣٣٣.٣"]),
        st.sampled_from(SQL),
        with_control(),
        not_utf8(),
    )


def _org_number(digits: str, shift: int = 0) -> str:
    check = (int(luhn.calc_check_digit(digits)) + shift) % 10
    return f"{digits[:6]}-{digits[6:]}{check}"


def bad_org_number() -> st.SearchStrategy[str]:
    """Shaped like NNNNNN-NNNN but failing the check, or not shaped like one at all."""
    shaped = st.builds(_org_number, st.from_regex(r"\A[0-9]{9}\Z"), st.integers(1, 9))
    return st.one_of(
        shaped, st.sampled_from(SQL), plain.filter(lambda s: not orgnr.is_valid(s)), with_control(), not_utf8(), huge()
    )


def unknown_org_number() -> st.SearchStrategy[str]:
    """A valid number that no organisation in the test database has."""
    return st.from_regex(r"\A[0-9]{9}\Z").map(_org_number).filter(lambda s: s != "802479-1322")


def unknown_ref() -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers(1, 9999).map(lambda n: f"IOP-2099-{n:04d}"),
        st.sampled_from(SQL),
        with_control(),
        not_utf8(),
        huge(),
        plain.filter(bool),
    )


def bad_choice(known: frozenset[str]) -> st.SearchStrategy[str]:
    return st.one_of(plain, st.sampled_from(SQL), with_control(), not_utf8(), huge(10, 200)).filter(
        lambda s: s not in known
    )


def identifier_not_in(known: frozenset[str]) -> st.SearchStrategy[str]:
    return st.from_regex(r"\A[a-z_][a-z0-9_]{0,30}\Z").filter(lambda s: s not in known)


def bad_whole(low: int, high: int) -> st.SearchStrategy[str]:
    """Out of range or not a whole number at all."""
    return st.one_of(
        st.integers(max_value=low - 1).map(str),
        st.integers(min_value=high + 1, max_value=10**40).map(str),
        st.sampled_from(["1.5", "ett", "", "0x1f", "1e3", "NaN"]),
        not_utf8(),
    )
