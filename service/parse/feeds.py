"""stub"""

from __future__ import annotations

from ..errors import ParseError, ReasonCode
from ..models import ParsedItem


def parse_rss(text: str) -> list[ParsedItem]:
    raise ParseError(ReasonCode.UNSUPPORTED_FORMAT, "not yet")


def parse_atom(text: str) -> list[ParsedItem]:
    raise ParseError(ReasonCode.UNSUPPORTED_FORMAT, "not yet")
