"""Chinese plate formats (GA 36): what a valid plate text looks like, position by position."""

from __future__ import annotations

import re

PROVINCES = "京津沪渝冀晋蒙辽吉黑苏浙皖闽赣鲁豫鄂湘粤桂琼川贵云藏陕甘青宁新"
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # I and O are never used
DIGITS = "0123456789"
SUFFIXES = "挂学警港澳领使"
PLATE_CHARS = PROVINCES + LETTERS + DIGITS + SUFFIXES

_BODY = LETTERS + DIGITS
# Each format is the set of characters allowed at each position.
FORMATS: tuple[tuple[str, ...], ...] = (
    (PROVINCES, LETTERS, *[_BODY] * 5),  # ordinary 7-character plate
    (PROVINCES, LETTERS, *[_BODY] * 4, "挂学警港澳"),  # trailer, coach, police, HK/Macao
    # New energy (8 characters): small cars D/F first, large vehicles D/F last.
    (PROVINCES, LETTERS, "DF", _BODY, *[DIGITS] * 4),
    (PROVINCES, LETTERS, *[DIGITS] * 5, "DF"),
    ("使", *[DIGITS] * 6),  # embassy
    (PROVINCES, *[DIGITS] * 7),  # agricultural vehicles: province + 2 + 5 digits
)


def is_valid_plate(text: str) -> bool:
    """True when ``text`` follows one of the national plate formats."""
    return any(fits(text, layout) for layout in FORMATS)


def fits(text: str, layout: tuple[str, ...]) -> bool:
    return len(text) == len(layout) and all(char in allowed for char, allowed in zip(text, layout, strict=True))


_BOTTOM_ROW = re.compile(f"^[{_BODY}]{{4}}[{_BODY}挂学]$")


def is_bottom_row(text: str) -> bool:
    """True when ``text`` is what the bottom row of a double-row plate reads alone: five characters and no
    province (the province and letter are on the top row)."""
    return bool(_BOTTOM_ROW.match(text))
