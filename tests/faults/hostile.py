"""A generated corpus of hostile wire items: every one must end on the dead-letter topic or as a valid event.

Each family below is one way an input can attack a parser (bytes that are not text,
documents cut short, nested beyond reason, entity expansion, external entities, wrong
JSON types, dates outside any calendar, control characters, 10 MB bodies ...). Items are
single documents (never multi-item feeds), so each raw record has exactly one fate and
the delivery checker can hold it to that.

The XXE family points its external entities at a file holding `secret`: the secret
must never appear in any output message (`leaked_secret` checks that).

`make_hostile` is deterministic for a seed; `big_bodies` adds that many ~10 MB items.
"""

from __future__ import annotations

import base64
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from service.models import CanonicalArticle, DeadLetter, EnrichedArticle
from service.settings import Settings
from service.topics import create_topics

from .checker import Report, account, read_topic
from .corpus import InputItem
from .harness import OutputTail, ServiceProcess, fault_config, produce_items, settings_of

ROOT = Path(__file__).resolve().parents[2]
# Single-item samples only: a multi-item document may split between published and dead-lettered.
SAMPLE_NAMES = [
    "01_xi_putin_samarkand.newsml_g2.xml",
    "03_xi_putin_samarkand_v2.newsml_g2.xml",
    "04_erdogan_samarkand.nitf.xml",
    "06_lukashenko_samarkand.atom.xml",
    "07_mirziyoyev_closing.page.html",
    "08_lukashenko_trade.ninjs.json",
    "09_lukashenko_trade_kill.ninjs.json",
    "10_tokayev_xi_page.envelope.json",
    "xinhua_xi_aliyev_samarkand.txt",
    "xinhua_xi_aliyev_samarkand_reprint.ninjs.json",
]
SAMPLES = [(ROOT / "service" / "data" / "samples" / name).read_bytes() for name in SAMPLE_NAMES]
XML_SAMPLES = [s for s, n in zip(SAMPLES, SAMPLE_NAMES, strict=True) if n.endswith(".xml")]
JSON_SAMPLES = [s for s, n in zip(SAMPLES, SAMPLE_NAMES, strict=True) if n.endswith(".json")]

BIG_BODY_BYTES = 10 * 1024 * 1024
WORDS = [
    "summit",
    "leaders",
    "trade",
    "agreement",
    "samarkand",
    "president",
    "talks",
    "border",
    "energy",
    "pipeline",
    "railway",
    "minister",
    "delegation",
    "signed",
    "cooperation",
    "security",
    "regional",
    "economic",
    "forum",
    "visit",
    "bilateral",
]


@dataclass(frozen=True)
class Hostile:
    """One hostile item before it gets its key: its family and whether it must be dead-lettered."""

    family: str
    value: bytes
    must_reject: bool = False


Maker = Callable[[random.Random, int, "Context"], Hostile]


@dataclass(frozen=True)
class Context:
    run: str
    secret_path: Path


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choices(WORDS, k=words))


def _ninjs(rng: random.Random, index: int, run: str, **fields: object) -> dict[str, object]:
    document: dict[str, object] = {
        "uri": f"urn:hostile:{run}:{index}",
        "version": "1",
        "type": "text",
        "language": "en",
        "headline": _text(rng, 8).capitalize(),
        "body_text": _text(rng, 60).capitalize() + ".",
        "firstcreated": "2024-05-01T10:00:00Z",
        "versioncreated": "2024-05-01T10:00:00Z",
    }
    document.update(fields)
    return document


def _big(rng: random.Random, low: int, usual: int, extreme: int) -> int:
    """Mostly between `low` and `usual`, one time in ten up to `extreme`: keeps the corpus affordable."""
    return rng.randint(usual, extreme) if rng.random() < 0.1 else rng.randint(low, usual)


# ---------------------------------------------------------------- families


def random_bytes(rng: random.Random, index: int, ctx: Context) -> Hostile:
    return Hostile("random_bytes", rng.randbytes(rng.randint(1, 4096)))


def random_text(rng: random.Random, index: int, ctx: Context) -> Hostile:
    alphabet = [chr(c) for c in range(0x20, 0x7F)] + ["\n", "é", "中", "😀", "\u202e", "\ufeff", "<", "{"]
    return Hostile("random_text", "".join(rng.choices(alphabet, k=rng.randint(1, 3000))).encode("utf-8"))


def truncated(rng: random.Random, index: int, ctx: Context) -> Hostile:
    sample = rng.choice(SAMPLES)
    return Hostile("truncated_document", sample[: rng.randint(1, len(sample) - 1)])


def mutated(rng: random.Random, index: int, ctx: Context) -> Hostile:
    data = bytearray(rng.choice(SAMPLES))
    for _ in range(rng.randint(1, 12)):
        position = rng.randrange(len(data))
        action = rng.randrange(4)
        if action == 0:
            data[position] = rng.randrange(256)
        elif action == 1:
            del data[position : position + rng.randint(1, 40)]
        elif action == 2:
            data[position:position] = rng.choice(
                [b"<", b">", b"&", b'"', b"{", b"}", b"]]>", b"\x00", b"&#0;"]
            )
        else:
            data[position:position] = data[position : position + rng.randint(1, 200)]
        if not data:
            data = bytearray(b"x")
    return Hostile("mutated_sample", bytes(data))


def nested_json(rng: random.Random, index: int, ctx: Context) -> Hostile:
    depth = _big(rng, 600, 5_000, 500_000)
    inner = b'{"a":' * depth + b"1" + b"}" * depth if rng.random() < 0.5 else b"[" * depth + b"]" * depth
    if rng.random() < 0.5:  # nested inside a field of an otherwise good item
        inner = orjson.dumps(_ninjs(rng, index, ctx.run, subject="@")).replace(b'"@"', inner)
    return Hostile("nested_json", inner)


def nested_xml(rng: random.Random, index: int, ctx: Context) -> Hostile:
    depth = _big(rng, 300, 3_000, 100_000)
    tag = rng.choice([b"p", b"body.content", b"section"])
    core = (b"<" + tag + b">") * depth + b"deep" + (b"</" + tag + b">") * depth
    root = rng.choice([b"nitf", b"newsItem", b"rss"])
    return Hostile("nested_xml", b'<?xml version="1.0"?><' + root + b">" + core + b"</" + root + b">")


def oversized_xml(rng: random.Random, index: int, ctx: Context) -> Hostile:
    sample = rng.choice(XML_SAMPLES)
    cut = sample.rfind(b"</")
    shape = rng.randrange(3)
    if shape == 0:  # a huge attribute value
        filler = b'<x a="' + b"A" * _big(rng, 1000, 20_000, 2_000_000) + b'"/>'
    elif shape == 1:  # very many siblings
        filler = b"<p>w</p>" * _big(rng, 100, 3_000, 200_000)
    else:  # one enormous text node
        filler = b"<p>" + _text(rng, _big(rng, 100, 3_000, 300_000)).encode() + b"</p>"
    return Hostile("oversized_xml", sample[:cut] + filler + sample[cut:])


def oversized_json(rng: random.Random, index: int, ctx: Context) -> Hostile:
    shape = rng.randrange(3)
    if shape == 0:
        extra: dict[str, object] = {
            "subject": [{"name": _text(rng, 3)} for _ in range(_big(rng, 10, 1_000, 60_000))]
        }
    elif shape == 1:
        extra = {f"k{i}": i for i in range(_big(rng, 10, 1_000, 80_000))}
    else:
        extra = {"headline": _text(rng, _big(rng, 100, 3_000, 150_000))}
    return Hostile("oversized_json", orjson.dumps(_ninjs(rng, index, ctx.run, **extra)))


def entity_expansion(rng: random.Random, index: int, ctx: Context) -> Hostile:
    levels = rng.randint(3, 10)
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, levels)
    ]
    if rng.random() < 0.3:  # quadratic blow-up: one big entity referenced many times
        entities = [f'<!ENTITY big "{"x" * 50_000}">']
        body = "&big;" * 2000
    else:
        body = f"&lol{levels - 1};"
    root = rng.choice(["newsItem", "nitf", "rss", "feed"])
    doc = f'<?xml version="1.0"?>\n<!DOCTYPE {root} [\n{"".join(entities)}\n]>\n<{root}>{body}</{root}>'
    return Hostile("entity_expansion", doc.encode(), must_reject=True)


XXE_BODIES = [
    (
        "nitf",
        "<nitf><head><title>&xxe;</title></head><body><body.content><p>&xxe;</p></body.content></body></nitf>",
    ),
    (
        "rss",
        "<rss version='2.0'><channel><item><title>&xxe;</title>"
        "<description>&xxe;</description></item></channel></rss>",
    ),
    ("html", "<html><body><h1>&xxe;</h1><p>&xxe;</p></body></html>"),
    ("newsItem", "<newsItem><contentSet><inlineXML>&xxe;</inlineXML></contentSet></newsItem>"),
]


def external_entity(rng: random.Random, index: int, ctx: Context) -> Hostile:
    url = ctx.secret_path.as_uri()
    root, body = rng.choice(XXE_BODIES)
    shape = rng.randrange(3)
    if shape == 0:
        doc = f'<?xml version="1.0"?><!DOCTYPE {root} [<!ENTITY xxe SYSTEM "{url}">]>{body}'
    elif shape == 1:  # a parameter entity, expanded inside the DTD itself
        doc = f'<?xml version="1.0"?><!DOCTYPE {root} [<!ENTITY % p SYSTEM "{url}"> %p;]>{body}'
    else:  # UTF-16, where a byte-level scan for "<!ENTITY" finds nothing
        doc = f'<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE {root} [<!ENTITY xxe SYSTEM "{url}">]>{body}'
        return Hostile("external_entity", doc.encode("utf-16"), must_reject=True)
    return Hostile("external_entity", doc.encode(), must_reject=True)


def xinclude(rng: random.Random, index: int, ctx: Context) -> Hostile:
    """No DTD at all: an XInclude of the secret file must not be processed either."""
    url = ctx.secret_path.as_uri()
    doc = (
        '<?xml version="1.0"?><nitf xmlns:xi="http://www.w3.org/2001/XInclude"><head><title>Include '
        f'{index}</title></head><body><body.content><p><xi:include href="{url}" parse="text"/></p>'
        "<p>Leaders met in Samarkand.</p></body.content></body></nitf>"
    )
    return Hostile("xinclude", doc.encode())


def invalid_encoding(rng: random.Random, index: int, ctx: Context) -> Hostile:
    good = orjson.dumps(_ninjs(rng, index, ctx.run))
    shape = rng.randrange(6)
    if shape == 0:  # invalid UTF-8 sequences in the middle of a JSON string
        cut = good.index(b"body_text") + 14
        value = (
            good[:cut]
            + rng.choice([b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"])
            + good[cut:]
        )
    elif shape == 1:  # Latin-1 bytes under a UTF-8 declaration
        value = (
            '<?xml version="1.0" encoding="UTF-8"?><nitf><head><title>Caf\xe9 na\xefve</title></head></nitf>'
        ).encode("latin-1")
    elif shape == 2:  # an encoding that does not exist
        value = (
            b'<?xml version="1.0" encoding="x-no-such-charset"?><nitf><head><title>t</title></head></nitf>'
        )
    elif shape == 3:  # UTF-16 without a BOM
        value = orjson.dumps(_ninjs(rng, index, ctx.run)).decode().encode("utf-16-le")
    elif shape == 4:  # a lone surrogate escaped in JSON
        value = good.replace(b'"headline":"', b'"headline":"\\ud800\\udc00\\udfff ', 1)
    else:  # a BOM that contradicts the bytes
        value = b"\xfe\xff" + good
    return Hostile("invalid_encoding", value)


# Lexbor (selectolax) parses nested block elements (div, section, ul, blockquote) in time
# quadratic in the depth: 20,000 levels take ~0.5 s, 200,000 (a 1 MB page) about a minute.
# Inline elements are linear. The corpus keeps block nesting at a depth the suite can afford.
DEEP_BLOCK_MAX = 20_000


def deep_html(rng: random.Random, index: int, ctx: Context) -> Hostile:
    tag = rng.choice(["div", "span", "table><tr><td", "b", "section", "ul"])
    inline = tag in ("span", "b", "table><tr><td")
    depth = _big(rng, 500, 5_000, 200_000 if inline else DEEP_BLOCK_MAX)
    opening = f"<{tag}>" * depth
    text = f"<h1>{_text(rng, 6)}</h1><p>{_text(rng, 80)}</p>" if rng.random() < 0.5 else ""
    closing = "" if rng.random() < 0.5 else f"</{tag.split('>')[0]}>" * depth
    return Hostile("deep_html", f"<!doctype html><html><body>{opening}{text}{closing}</body></html>".encode())


def wrong_types(rng: random.Random, index: int, ctx: Context) -> Hostile:
    weird: list[object] = [
        None,
        True,
        0,
        -1,
        1e308,
        "",
        [],
        {},
        [1, "a", None],
        {"a": {"b": []}},
        2**70,
        "x" * 300,
    ]
    if rng.random() < 0.15:  # not even an object
        return Hostile(
            "wrong_types", orjson.dumps(rng.choice([[1, 2], "text", 42, None, True, [{"headline": "x"}]]))
        )
    document = _ninjs(rng, index, ctx.run)
    for name in rng.sample(
        [
            "uri",
            "version",
            "type",
            "language",
            "headline",
            "body_text",
            "firstcreated",
            "versioncreated",
            "subject",
            "urgency",
            "byline",
            "located",
            "pubstatus",
        ],
        rng.randint(1, 4),
    ):
        document[name] = rng.choice(weird)
    # Big integers are beyond orjson; the stdlib writes them.
    return Hostile("wrong_types", json.dumps(document).encode())


EXTREME_DATES: list[object] = [
    "0000-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "10000-01-01T00:00:00Z",
    "-0001-01-01T00:00:00Z",
    "1969-12-31T23:59:59Z",
    "1900-02-29T00:00:00Z",
    "2023-02-30T25:61:61Z",
    "2024-05-01T10:00:00+99:00",
    "9999-12-31T23:59:59-14:00",
    -1,
    -62135596800,
    -1e20,
    1e20,
    253402300800,
    0,
    "now",
    "",
    "NaN",
    "1e309",
    2**63,
    -(2**63),
]


def extreme_dates(rng: random.Random, index: int, ctx: Context) -> Hostile:
    shape = rng.randrange(3)
    if shape == 0:
        fields = {
            "firstcreated": rng.choice(EXTREME_DATES),
            "versioncreated": rng.choice(EXTREME_DATES),
        }
        return Hostile("extreme_dates", json.dumps(_ninjs(rng, index, ctx.run, **fields)).encode())
    if shape == 1:
        stamp = rng.choice(
            ["00000101T000000+0000", "99991231T235959+0000", "-00010101T000000Z", "19691231T235959-9999", "0"]
        )
        doc = (
            f'<?xml version="1.0"?><nitf><head><title>{_text(rng, 6)}</title><docdata>'
            f'<date.issue norm="{stamp}"/><date.release norm="{stamp}"/></docdata></head>'
            f"<body><body.content><p>{_text(rng, 50)}</p></body.content></body></nitf>"
        )
        return Hostile("extreme_dates", doc.encode())
    stamp = rng.choice(
        [
            "Mon, 01 Jan 0000 00:00:00 GMT",
            "Fri, 31 Dec 9999 23:59:59 +0000",
            "Thu, 01 Jan 1970 00:00:00 -2400",
            "yesterday",
        ]
    )
    doc = (
        f'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><entry><id>urn:hostile:{ctx.run}:{index}</id>'
        f"<title>{_text(rng, 6)}</title><updated>{stamp}</updated><published>{stamp}</published>"
        f"<content>{_text(rng, 40)}</content></entry></feed>"
    )
    return Hostile("extreme_dates", doc.encode())


CONTROL = "".join(
    chr(c) for c in [*range(0, 32), 0x7F, 0x85, 0x2028, 0x2029, 0x200B, 0x202E, 0xFEFF, 0xFFFE, 0xFFFF]
)


def control_characters(rng: random.Random, index: int, ctx: Context) -> Hostile:
    def dirty(text: str) -> str:
        chars = list(text)
        for _ in range(rng.randint(1, 30)):
            chars.insert(rng.randint(0, len(chars)), rng.choice(CONTROL))
        return "".join(chars)

    shape = rng.randrange(4)
    if shape == 0:
        document = _ninjs(rng, index, ctx.run)
        document["headline"] = dirty(str(document["headline"]))
        document["body_text"] = dirty(str(document["body_text"]))
        return Hostile("control_characters", orjson.dumps(document))
    if shape == 1:  # raw control bytes inside XML, which XML 1.0 forbids
        doc = (
            f'<?xml version="1.0"?><nitf><head><title>{dirty(_text(rng, 6))}</title></head>'
            f"<body><body.content><p>{dirty(_text(rng, 40))}</p></body.content></body></nitf>"
        )
        return Hostile("control_characters", doc.encode("utf-8", "surrogatepass"))
    if shape == 2:
        return Hostile(
            "control_characters",
            dirty(_text(rng, 6) + "\n\n" + _text(rng, 80)).encode("utf-8", "surrogatepass"),
        )
    return Hostile("control_characters", bytes(rng.choice(range(32)) for _ in range(rng.randint(1, 500))))


def bad_envelope(rng: random.Random, index: int, ctx: Context) -> Hostile:
    inner = rng.choice(SAMPLES)
    shape = rng.randrange(5)
    envelope: dict[str, object] = {"wire_ingest_envelope": 1, "source": "Hostile", "format": "ninjs"}
    if shape == 0:
        envelope["payload_base64"] = "!!!not base64!!!"
    elif shape == 1:  # an envelope inside an envelope
        envelope["payload_base64"] = base64.b64encode(SAMPLES[7]).decode()
        envelope.pop("format")
    elif shape == 2:
        envelope["payload_base64"] = base64.b64encode(inner).decode()
        envelope["encoding"] = rng.choice(["ebcdic-xx", "utf-32", "", 5])
    elif shape == 3:
        envelope["payload"] = inner.decode("utf-8", "replace")
        envelope["format"] = rng.choice(["nitf", "rss", "envelope", "nonsense", None, 3])
    else:
        envelope["wire_ingest_envelope"] = rng.choice([2, "1", None, -1])
        envelope["payload"] = {"not": "a string"}
    return Hostile("bad_envelope", orjson.dumps(envelope))


def empty(rng: random.Random, index: int, ctx: Context) -> Hostile:
    return Hostile("empty", rng.choice([b"", b" ", b"\n\n\t", b"\r\n" * 100, b"\x00" * 0]), must_reject=True)


# ---------------------------------------------------------------- scan attacks
# Inputs that cost the parsers time quadratic (or worse) in their size before issue 11: a
# pattern rescanned the rest of the record from each of many starts, or tried every split of
# one run. Each builder makes a record of about `size` bytes; tools/bench_scans.py times them
# per doubling of the size and tests/unit/test_linear_scans.py checks their results at 2 MB.


def _scan_ninjs(body_html: str) -> bytes:
    return orjson.dumps({"uri": "urn:hostile:scan", "headline": "Scan attack", "body_html": body_html})


def _repeat(unit: str, size: int) -> str:
    return unit * max(1, size // len(unit))


_RSS_HEAD = '<?xml version="1.0"?><rss version="2.0"><channel><title>Scan attack</title>'
_LEAD = "<p>Lead paragraph.</p>"

SCAN_ATTACKS: dict[str, Callable[[int], bytes]] = {
    # ninjs body_html: "<script>" never closed, once searched for its end from each opening.
    "unclosed_script": lambda size: _scan_ninjs(_LEAD + _repeat("<script>", size)),
    # "<p " never followed by ">": the block-tag pattern scanned to the end from each.
    "unclosed_block_tag": lambda size: _scan_ninjs(_LEAD + _repeat("<p ", size)),
    # "<" and whitespace: two "\s*" around an optional "/" tried every split (cubic).
    "tag_whitespace": lambda size: _scan_ninjs(_LEAD + "<" + " " * size),
    # "<a" and whitespace, no ">": the HTML sniffing pattern, the same way.
    "attribute_whitespace": lambda size: _scan_ninjs("Lead paragraph. <a" + " " * size),
    # "<!DOCTYPE " again and again with no ">" or "[": the DTD refusal scanned to the end from each.
    "repeated_doctype": lambda size: (_RSS_HEAD + _repeat("<!DOCTYPE ", size)).encode(),
    # Comments never closed (lxml's and the prolog skipper's scans were always linear: a guard).
    "unclosed_comment": lambda size: (_RSS_HEAD + _repeat("<!--", size)).encode(),
    # "in A-A-A-..." with no ", Country": every split of the hyphenated city was tried.
    "hyphenated_place": lambda size: (
        "Leaders open the summit\n\nLeaders met in " + _repeat("A-", size) + " on Friday."
    ).encode(),
    # A page block of "(photo by ///..." ending in ")": the photo-credit pattern was tried at each "(".
    "parenthesised_credits": lambda size: (
        "Leaders open the summit\n\nThe summit opened on Friday. "
        + _repeat("(photo by " + "/" * 50, size)
        + ")"
    ).encode(),
    # Block containers nested without end: lexbor's tree building and the block texts.
    "nested_blocks": lambda size: (
        "<html><body><article><h1>Summit opens</h1>" + _repeat("<blockquote>w ", size)
    ).encode(),
    # A feed of empty items: linear, but ~30 µs an item.
    "many_items": lambda size: (_RSS_HEAD + _repeat("<item/>", size) + "</channel></rss>").encode(),
    # Named entities by the thousand (NITF): the entity rewriting before lxml.
    "many_entities": lambda size: (
        "<nitf><head><title>Caf&eacute;</title></head><body><body.content><p>"
        + _repeat("&eacute;&amp;", size)
        + "</p></body.content></body></nitf>"
    ).encode(),
}
# Smallest size at which "many_items" holds more items than parse accepts: one fate per record.
SCAN_MIN_BYTES = 80_000


def scan_attack(rng: random.Random, index: int, ctx: Context) -> Hostile:
    name = rng.choice(sorted(SCAN_ATTACKS))
    return Hostile("scan_attack", SCAN_ATTACKS[name](_big(rng, SCAN_MIN_BYTES, 200_000, 2_000_000)))


FAMILIES: list[Maker] = [
    random_bytes,
    random_text,
    truncated,
    mutated,
    nested_json,
    nested_xml,
    oversized_xml,
    oversized_json,
    entity_expansion,
    external_entity,
    xinclude,
    invalid_encoding,
    deep_html,
    wrong_types,
    extreme_dates,
    control_characters,
    bad_envelope,
    empty,
    scan_attack,
]


def big_body(rng: random.Random, index: int, ctx: Context) -> Hostile:
    """A ~10 MB item: ninjs body, NITF body, or a plain text page."""
    words = _text(rng, BIG_BODY_BYTES // 8)
    paragraphs = [words[i : i + 4000] for i in range(0, len(words), 4000)]
    shape = index % 3
    if shape == 0:
        value = orjson.dumps(_ninjs(rng, index, ctx.run, body_text="\n\n".join(paragraphs)))
    elif shape == 1:
        body = "".join(f"<p>{p}</p>" for p in paragraphs)
        value = (
            f'<?xml version="1.0"?><nitf><head><title>Big {index}</title></head><body>'
            f"<body.content>{body}</body.content></body></nitf>"
        ).encode()
    else:
        value = (f"Big page {index} about the summit\n\n" + "\n\n".join(paragraphs)).encode()
    return Hostile("big_body_10mb", value[:BIG_BODY_BYTES] if shape == 2 else value)


def make_hostile(
    run: str, count: int, secret_path: Path, *, seed: int = 13, big_bodies: int = 2
) -> list[InputItem]:
    """`count` hostile items (plus `big_bodies` ~10 MB ones), families in turn, deterministic for a seed."""
    rng = random.Random(seed)
    ctx = Context(run, secret_path)
    items: list[InputItem] = []
    # The big ones spread evenly through the stream.
    big_at = {(i + 1) * (count + big_bodies) // (big_bodies + 1) for i in range(big_bodies)}
    for index in range(count + big_bodies):
        if index in big_at:
            hostile = big_body(rng, index, ctx)
        else:
            hostile = FAMILIES[index % len(FAMILIES)](rng, index, ctx)
        key = f"{run}-{index:06d}-{hostile.family}"
        kind = "bad" if hostile.must_reject else "hostile"
        items.append(InputItem(key, kind, key, hostile.value))
    return items


def family_of(item: InputItem) -> str:
    return item.key.rsplit("-", 1)[1]


def write_secret(directory: Path, run: str) -> tuple[Path, bytes]:
    """The file the external entities point at, and the secret it holds."""
    secret = f"XXE-SECRET-{run}-do-not-leak".encode()
    path = directory / f"secret-{run}.txt"
    path.write_bytes(secret)
    return path, secret


# ---------------------------------------------------------------- through the real service

MB = 1024 * 1024
# Room for a 10 MB body: its canonical and enriched events are over 10 MB, its dead letter
# (the raw bytes in base64) about 14 MB. Tansu took single records of 40 MB here.
BIG_ITEM_SETTINGS: dict[str, dict[str, Any]] = {
    "kafka": {"max_request_size": 32 * MB, "fetch_max_bytes": 64 * MB, "max_partition_fetch_bytes": 32 * MB},
    "pipeline": {"max_item_bytes": 12 * MB, "max_batch_records": 100},
    # The corpus mixes 2022 samples with 2024 items: with the 7-day window, a resend of a
    # 2022 kill that arrives after the window moved on is judged afresh and published again
    # (same event ID). A window spanning the corpus keeps the checker strict on duplicates.
    "dedupe": {"window_days": 36_500},
}
MUST_REJECT_REASONS = {
    "entity_expansion": {"forbidden_xml"},
    "external_entity": {"forbidden_xml"},
    "empty": {"empty_item"},
}


@dataclass
class HostileRun:
    """What became of a hostile corpus run through `wire-ingest run`."""

    report: Report
    items: int
    bytes_in: int
    seconds: float
    exit_code: int
    alive_until_terminated: bool
    peak_rss_bytes: int
    families: Counter[str] = field(default_factory=Counter)  # items generated per family
    reasons: Counter[str] = field(default_factory=Counter)  # dead letters per reason
    by_family: dict[str, Counter[str]] = field(default_factory=dict)  # family -> destination/reason -> items
    invalid_events: list[str] = field(default_factory=list)  # outputs that fail their own model
    leaks: list[str] = field(default_factory=list)  # outputs holding the XXE secret
    wrong_reasons: list[str] = field(default_factory=list)  # must-reject items with an unexpected reason
    stalled_partitions: list[str] = field(default_factory=list)  # committed offset short of the end
    oversized_outputs: list[str] = field(default_factory=list)  # messages over pipeline.max_message_bytes
    reassignments: int = 0  # partition assignments after the first: a record must never cause one
    worker_peak_rss_bytes: int = 0  # the largest worker process, from the service's last log line

    def problems(self) -> list[str]:
        found = self.report.problems(allow_redeliveries=False)
        for name in ("invalid_events", "leaks", "wrong_reasons", "stalled_partitions", "oversized_outputs"):
            values: list[str] = getattr(self, name)
            if values:
                found.append(f"{name} ({len(values)}): {values[:5]}")
        if not self.alive_until_terminated:
            found.append("the service exited before it was told to stop")
        if self.exit_code != 0:
            found.append(f"exit code {self.exit_code} on SIGTERM")
        if self.reassignments:
            found.append(
                f"{self.reassignments} rebalance(s) while one member ran alone: a record cost the membership"
            )
        return found

    def figures(self) -> dict[str, Any]:
        return {
            **self.report.summary(),
            "bytes_in_mb": round(self.bytes_in / MB, 1),
            "seconds": round(self.seconds, 1),
            "exit_code_on_sigterm": self.exit_code,
            "peak_rss_mb": round(self.peak_rss_bytes / MB, 1),
            "worker_peak_rss_mb": round(self.worker_peak_rss_bytes / MB, 1),
            "oversized_outputs": len(self.oversized_outputs),
            "reassignments": self.reassignments,
            "dead_letter_reasons": dict(self.reasons.most_common()),
            "by_family": {
                name: dict(counts.most_common()) for name, counts in sorted(self.by_family.items())
            },
            "invalid_events": len(self.invalid_events),
            "secret_leaks": len(self.leaks),
            "stalled_partitions": self.stalled_partitions,
        }


async def committed_short_of_end(settings: Settings, raw: list[Any]) -> list[str]:
    """Partitions whose committed offset is short of their last record + 1 (Tansu's end offsets are wrong)."""
    ends: dict[int, int] = {}
    for record in raw:
        ends[record.partition] = max(ends.get(record.partition, 0), record.offset + 1)
    consumer = AIOKafkaConsumer(**settings.kafka.client_kwargs(), group_id=settings.kafka.group_id)
    await consumer.start()
    try:
        short = []
        for partition, end in sorted(ends.items()):
            committed = await consumer.committed(TopicPartition(settings.topics.raw, partition))
            if committed is None or committed < end:
                short.append(f"{settings.topics.raw}-{partition}: committed {committed}, end {end}")
        return short
    finally:
        await consumer.stop()


def _judge(
    run: HostileRun, items: list[InputItem], dumps: dict[str, list[Any]], settings: Settings, secret: bytes
) -> None:
    topics = settings.topics
    family = {item.key: family_of(item) for item in items}
    raw_key = {(r.partition, r.offset): (r.key or b"").decode() for r in dumps[topics.raw]}
    models: dict[str, type[CanonicalArticle] | type[DeadLetter]] = {
        topics.canonical: CanonicalArticle,
        topics.duplicates: CanonicalArticle,
        topics.enriched: EnrichedArticle,
        topics.dlq: DeadLetter,
    }
    for topic, model in models.items():
        for record in dumps[topic]:
            value = record.value or b""
            size = (
                len(value) + len(record.key or b"") + sum(len(k) + len(v or b"") for k, v in record.headers)
            )
            if size > settings.pipeline.max_message_bytes:
                run.oversized_outputs.append(f"{topic}@{record.partition}:{record.offset}: {size} bytes")
            if secret in value:
                run.leaks.append(f"{topic}@{record.partition}:{record.offset}")
            try:
                parsed = model.model_validate_json(value)
            except ValueError as error:
                run.invalid_events.append(f"{topic}@{record.partition}:{record.offset}: {error}"[:300])
                continue
            if isinstance(parsed, DeadLetter):
                key = raw_key.get((parsed.source_partition, parsed.source_offset), "?")
                name = family.get(key, "?")
                run.reasons[parsed.reason] += 1
                run.by_family.setdefault(name, Counter())[f"dlq:{parsed.reason}"] += 1
                expected = MUST_REJECT_REASONS.get(name)
                if expected is not None and parsed.reason not in expected:
                    run.wrong_reasons.append(f"{key}: {parsed.reason}")
            elif topic != topics.enriched:
                lineage = parsed.lineage
                name = family.get(raw_key.get((lineage.partition, lineage.offset), "?"), "?")
                destination = "canonical" if topic == topics.canonical else "duplicates"
                run.by_family.setdefault(name, Counter())[destination] += 1


async def run_hostile(
    bootstrap_servers: str,
    workdir: Path,
    run: str,
    count: int,
    *,
    big_bodies: int = 2,
    seed: int = 13,
    deadline_seconds: float = 600.0,
) -> HostileRun:
    """Generate the corpus, run it through a `wire-ingest run` subprocess, and judge every output."""
    secret_path, secret = write_secret(workdir, run)
    items = make_hostile(run, count, secret_path, seed=seed, big_bodies=big_bodies)
    data = fault_config(bootstrap_servers, run, workdir, **BIG_ITEM_SETTINGS)
    settings = settings_of(data)
    await create_topics(settings)
    service = ServiceProcess(data, workdir / f"service-{run}.log")
    started = time.monotonic()
    async with OutputTail(settings, settings.topics.outputs()) as tail:
        service.start()
        try:
            await produce_items(settings, items)
            # Every raw record has exactly one fate, so the service is done when each has an output.
            await tail.wait_until(lambda t: len(t.sources) >= len(items), within=deadline_seconds)
            seconds = time.monotonic() - started
            alive = service.alive()
            await service.wait_for_log("service_started", within=60)
            exit_code = service.terminate()
        finally:
            service.kill()
    names = settings.topics.all()
    dumps = dict(zip(names, [await read_topic(settings, name) for name in names], strict=True))
    outputs = {name: dumps[name] for name in settings.topics.outputs()}
    report = account(items, dumps[settings.topics.raw], outputs, settings)
    result = HostileRun(
        report=report,
        items=len(items),
        bytes_in=sum(len(item.value) for item in items),
        seconds=seconds,
        exit_code=exit_code,
        alive_until_terminated=alive,
        peak_rss_bytes=service.peak_rss,
        families=Counter(family_of(item) for item in items),
    )
    _judge(result, items, dumps, settings, secret)
    result.stalled_partitions = await committed_short_of_end(settings, dumps[settings.topics.raw])
    events = service.log_events()
    assigned = [e for e in events if e.get("event") == "partitions_assigned"]
    result.reassignments = max(0, len(assigned) - 1)
    stopped = [e for e in events if e.get("event") == "workers_stopped"]
    result.worker_peak_rss_bytes = int(stopped[-1].get("peak_rss_bytes", 0)) if stopped else 0
    return result
