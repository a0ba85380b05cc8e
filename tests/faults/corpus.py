"""Input streams whose every item has a known identity and a known expected destination.

Each input record carries its identity as the Kafka key. Kinds:

* ``good``: a ninjs item with a unique URI and a unique random body -> canonical (+ enriched);
* ``bad``: something the parser must reject -> dead-letter topic;
* ``resend``: the exact bytes of an earlier good item under another key -> duplicates topic
  (or canonical, if it happens to be processed before its original: one of the group is);
* ``near``: the body of an earlier good item under another URI and headline -> same rule.
* ``hostile``: an input built to break the parser (see hostile.py) -> the dead-letter topic or
  a valid event, whichever; only where it ended must be one place.

Bodies are random words from a large made-up vocabulary, so two unrelated items never look
alike to the near-duplicate detector.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

import orjson

Kind = Literal["good", "bad", "resend", "near", "hostile"]

_SYLLABLES = [c + v for c in "bcdfghklmnprstvz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]


@dataclass(frozen=True)
class InputItem:
    key: str
    kind: Kind
    group: str  # the key of the item whose story this is (itself for good and bad items)
    value: bytes


def _vocabulary(rng: random.Random, size: int = 6000) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def _ninjs(uri: str, headline: str, body: str, minute: int) -> bytes:
    stamp = f"2024-05-{1 + minute // 1440 % 28:02d}T{minute // 60 % 24:02d}:{minute % 60:02d}:00Z"
    return orjson.dumps(
        {
            "uri": uri,
            "version": "1",
            "type": "text",
            "language": "en",
            "headline": headline,
            "body_text": body,
            "firstcreated": stamp,
            "versioncreated": stamp,
            "byline": "Fault Desk",
        }
    )


def _bad(index: int) -> bytes:
    choice = index % 4
    if choice == 0:
        return b'{"uri": "urn:bad:' + str(index).encode() + b'", "headline": "cut off'
    if choice == 1:
        return orjson.dumps({"uri": f"urn:bad:{index}", "version": "1"})  # no headline, no body
    if choice == 2:
        return (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><newsItem>&b;</newsItem>'
        )
    return orjson.dumps({"uri": f"urn:bad:{index}", "headline": 12345, "body_text": ["not", "text"]})


def make_inputs(
    run: str,
    count: int,
    *,
    seed: int = 7,
    bad_share: float = 0.08,
    resend_share: float = 0.05,
    near_share: float = 0.04,
) -> list[InputItem]:
    """`count` input items of mixed kinds, deterministic for a given seed."""
    rng = random.Random(seed)
    vocabulary = _vocabulary(rng)
    items: list[InputItem] = []
    goods: list[tuple[InputItem, str]] = []  # (item, body)
    for index in range(count):
        key = f"{run}-{index:06d}"
        roll = rng.random()
        if goods and roll < resend_share:
            original, _ = rng.choice(goods)
            items.append(InputItem(key, "resend", original.group, original.value))
        elif goods and roll < resend_share + near_share:
            original, body = rng.choice(goods)
            headline = " ".join(rng.choices(vocabulary, k=7)).capitalize()
            value = _ninjs(f"urn:fault:{run}:{index}", headline, body, index)
            items.append(InputItem(key, "near", original.group, value))
        elif roll < resend_share + near_share + bad_share:
            items.append(InputItem(key, "bad", key, _bad(index)))
        else:
            headline = " ".join(rng.choices(vocabulary, k=8)).capitalize()
            paragraphs = [" ".join(rng.choices(vocabulary, k=40)).capitalize() + "." for _ in range(3)]
            body = "\n\n".join(paragraphs)
            item = InputItem(key, "good", key, _ninjs(f"urn:fault:{run}:{index}", headline, body, index))
            items.append(item)
            goods.append((item, body))
    return items
