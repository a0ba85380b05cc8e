"""Property tests: any bytes end as valid canonical articles or a ParseError/NormalizeError, nothing else."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service import ids
from service.errors import NormalizeError, ParseError
from service.models import CanonicalArticle, RecordMeta, WireFormat
from service.normalize import normalize
from service.parse import parse

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_FILES = sorted((ROOT / "service" / "data" / "samples").iterdir()) + sorted(
    (ROOT / "tests" / "fixtures" / "formats" / "inputs").iterdir()
)
SAMPLES = [p.read_bytes() for p in SAMPLE_FILES]
RECORD = RecordMeta(topic="wire.raw", partition=0, offset=0, timestamp=datetime(2022, 9, 17, tzinfo=UTC))
NO_TIMESTAMP = RecordMeta(topic="wire.raw", partition=0, offset=0)
PROPERTY_SETTINGS = settings(
    max_examples=int(os.environ.get("WIRE_INGEST_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def check_outcome(raw: bytes, hint: WireFormat | None = None, record: RecordMeta = RECORD) -> None:
    """Every input is either rejected with a reason code or gives articles that pass their model."""
    try:
        items = parse(raw, hint=hint, max_item_bytes=64 * 1024)
    except ParseError as exc:
        assert exc.reason.value
        return
    assert items, "parse returned no items without raising"
    for item in items:
        try:
            article = normalize(item, record, raw_sha256=ids.sha256_hex(raw))
        except NormalizeError as exc:
            assert exc.reason.value
            continue
        # Round trip through JSON proves the event is a valid, serializable model.
        again = CanonicalArticle.model_validate_json(article.model_dump_json())
        assert again == article
        assert article.headline.strip() == article.headline and article.headline
        # The order is the item's; a reversed pair is published as given, never without its flag.
        in_order = article.firstcreated <= article.versioncreated
        assert in_order != ("firstcreated_after_versioncreated" in article.date_flags)
        assert article.content_hash == ids.sha256_hex(article.headline + "\n\n" + article.body_text)


@PROPERTY_SETTINGS
@given(st.binary(max_size=2048))
def test_random_bytes(raw: bytes) -> None:
    """Random bytes never raise anything but ParseError/NormalizeError."""
    check_outcome(raw)


@PROPERTY_SETTINGS
@given(st.binary(max_size=512), st.sampled_from(list(WireFormat)))
def test_random_bytes_with_forced_format(raw: bytes, hint: WireFormat) -> None:
    """Forcing any parser on random bytes is still safe."""
    check_outcome(raw, hint=hint)


@st.composite
def mutated_sample(draw: st.DrawFn) -> bytes:
    """A sample file with bytes flipped, cut, duplicated or inserted."""
    data = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        if not data:
            break
        position = draw(st.integers(min_value=0, max_value=len(data) - 1))
        action = draw(st.sampled_from(["flip", "cut", "insert", "delete", "duplicate"]))
        if action == "flip":
            data[position] = draw(st.integers(min_value=0, max_value=255))
        elif action == "cut":
            del data[position:]
        elif action == "insert":
            data[position:position] = draw(
                st.sampled_from(
                    [b"<", b">", b"&", b"&amp;", b"]]>", b'"', b"{", b"}", b"\x00", b"\xff", b"<!ENTITY"]
                )
            )
        elif action == "delete":
            del data[position : position + draw(st.integers(min_value=1, max_value=50))]
        else:
            data[position:position] = data[position : position + 64]
    return bytes(data)


@PROPERTY_SETTINGS
@given(mutated_sample())
def test_mutated_samples(raw: bytes) -> None:
    """Damaged real-looking items end as events or dead-letter reasons."""
    check_outcome(raw)


@PROPERTY_SETTINGS
@given(mutated_sample())
def test_mutated_samples_without_record_timestamp(raw: bytes) -> None:
    """Without a record timestamp, a missing date is a NormalizeError, never a crash or a made-up date."""
    check_outcome(raw, record=NO_TIMESTAMP)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
NINJS_KEYS = [
    "uri", "guid", "version", "versioncreated", "firstCreated", "pubstatus", "headline", "headlines",
    "body_text", "body_html", "bodies", "descriptions", "byline", "bylines", "located", "language",
    "urgency", "subject", "subjects", "keywords", "places", "associations", "infosources", "source",
]  # fmt: skip


@PROPERTY_SETTINGS
@given(st.dictionaries(st.sampled_from(NINJS_KEYS), json_values, max_size=10))
def test_ninjs_with_any_field_types(document: dict[str, object]) -> None:
    """ninjs objects whose known fields hold any JSON type end as events or WRONG_TYPE/EMPTY_ITEM etc."""
    check_outcome(json.dumps(document).encode(), hint=WireFormat.NINJS)


@PROPERTY_SETTINGS
@given(st.text(max_size=600))
def test_any_text_as_text_page(text: str) -> None:
    """Any Unicode text read as a scraped page is safe."""
    check_outcome(text.encode("utf-8"), hint=WireFormat.TEXT_PAGE)


def test_every_sample_is_covered() -> None:
    """The mutation strategy draws from all samples and fixtures (so new formats are fuzzed too)."""
    assert len(SAMPLES) >= 20
