"""Chinese plate formats (GA 36): what a valid plate text looks like."""

from __future__ import annotations

import re

PROVINCES = "京津沪渝冀晋蒙辽吉黑苏浙皖闽赣鲁豫鄂湘粤桂琼川贵云藏陕甘青宁新"
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # I and O are never used
DIGITS = "0123456789"
SUFFIXES = "挂学警港澳领使"
PLATE_CHARS = PROVINCES + LETTERS + DIGITS + SUFFIXES

_BODY = f"[{LETTERS}{DIGITS}]"
_PATTERNS = [
    re.compile(f"^[{PROVINCES}][{LETTERS}]{_BODY}{{5}}$"),  # ordinary 7-character plate
    re.compile(f"^[{PROVINCES}][{LETTERS}]{_BODY}{{4}}[挂学警港澳]$"),  # trailer, coach, police, HK/Macao
    # New energy (8 characters): small cars D/F first, large vehicles D/F last.
    re.compile(f"^[{PROVINCES}][{LETTERS}][DF]{_BODY}[{DIGITS}]{{4}}$"),
    re.compile(f"^[{PROVINCES}][{LETTERS}][{DIGITS}]{{5}}[DF]$"),
    re.compile(f"^使[{DIGITS}]{{6}}$"),  # embassy
    re.compile(f"^[{PROVINCES}][{DIGITS}]{{2}}[{DIGITS}]{{5}}$"),  # agricultural vehicles: province + 2 + 5 digits
]


def is_valid_plate(text: str) -> bool:
    """True when ``text`` follows one of the national plate formats."""
    return any(p.match(text) for p in _PATTERNS)


_BOTTOM_ROW = re.compile(f"^{_BODY}{{4}}[{LETTERS}{DIGITS}挂学]$")


def is_bottom_row(text: str) -> bool:
    """True when ``text`` is what the bottom row of a double-row plate reads alone: five characters and no
    province (the province and letter are on the top row)."""
    return bool(_BOTTOM_ROW.match(text))
