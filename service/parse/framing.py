"""Control-character framing shared by ANPA-1312 and IPTC 7901 transmissions.

Both formats frame a story as SOH (0x01) header, STX (0x02) text, ETX (0x03)
trailer and EOT (0x04); ANPA precedes SOH with two SYN (0x16). One record may
hold several stories back to back (a multi-item transmission); each one starts
at its SOH. They predate Unicode: the bytes are UTF-8 when they decode as such,
else Windows-1252 (the code page AP and dpa send).
"""

from __future__ import annotations

import re

SOH, STX, ETX, EOT = "\x01", "\x02", "\x03", "\x04"
# ANPA-1312: SYN SYN SOH, selector code letter, 4-digit sequence, US (0x1f).
ANPA_START = re.compile(rb"\A[\s\x16]*\x01[A-Za-z]\d{4}\x1f")
# IPTC 7901: SOH, service id and number, priority digit, category, word count (e.g. "eca062 4 i 211").
IPTC7901_START = re.compile(rb"\A[\s\x16]*\x01[A-Za-z]{0,8}\d{0,6} \d [A-Za-z]{1,3} +\d{0,5}")
_ITEM_START = re.compile(r"\x16*\x01")
_LINE_END = re.compile(r"\r\n|\r|\n")
# Control characters that are framing or typesetting codes, not text (tab and line ends are kept).
CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def decode_transmission(raw: bytes) -> str:
    """UTF-8 when the bytes are UTF-8, else Windows-1252 (Latin-1 for its five unassigned bytes)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        return raw.decode("latin_1")


def split_items(text: str) -> list[str]:
    """The stories of a transmission, each starting after its SOH."""
    return [part for part in _ITEM_START.split(text) if part.strip(EOT + "\x7f\r\n\x0c ")]


def lines_of(text: str) -> list[str]:
    """Lines split on CR/LF only: str.splitlines would also split on the FS/GS/RS codes tables use."""
    return _LINE_END.split(text)


def split_frame(item: str) -> tuple[str, str, str]:
    """(header before STX, text between STX and ETX, trailer after ETX) of one story."""
    header, _, rest = item.partition(STX)
    text, _, trailer = rest.partition(ETX)
    return header, text, trailer
