"""What Superdesk's own parser tests assert for the agency samples in ../shared/eval/superdesk.

Read by hand from superdesk-core's tests/io/feed_parsers/*_test(s).py (the fixture each
test opens, the headline and body text it asserts). The samples are agency copy that must
not be copied into this project, so the expected texts are kept as fingerprints: the length
of the expected text and the first 16 hex digits of its SHA-256 (whitespace collapsed).
`tools/eval_formats.py` fingerprints what the service published the same way. NON_TEXT
lists the pictures, videos and packages (no story text to publish).
"""

from __future__ import annotations

Fingerprint = tuple[int, str]  # (characters, sha256 hex prefix) of the expected text

# file name -> fingerprint of the headline Superdesk's tests assert.
HEADLINES: dict[str, Fingerprint] = {
    "anpa-1.tst": (46, "944a255c3d9c8189"),
    "IPTC7901.txt": (64, "b72bdc03129277dc"),
    "dpa_copyright.txt": (9, "b8a6051923e6a649"),
    "dpa_four_line.txt": (63, "edf4ee0c1552c542"),
    "dpa_two_line.txt": (68, "62d5cc8204919f99"),
    "dpa_two_by_line.txt": (65, "fe0b9be24b0a0e7e"),
    "afp.xml": (51, "0dbfa91d8a90e9b0"),
    "ana1.xml": (45, "db4cc8003419cda5"),
    "bbc-ninjs-comp-test.json": (6, "bef57ec7f53a6d40"),
    "tag_reuters.com,0000_newsml_L4N1FL0N0_1132689232": (59, "f6a72b9507567e1f"),
    "scoop.xml": (95, "6b3b1e7e69a98fb2"),
    "stt_newsml_test.xml": (88, "a17f033f08509d46"),
    "ap.xml": (54, "d1e11f59f7c9abc0"),
    "efe_nitf.xml": (44, "143b8ea0c303cafd"),
    "aap.xml": (44, "ac4d14e69074ba7d"),
    "nitf-fishing.xml": (36, "a364aa343c468c82"),
    "pa1.xml": (28, "78f6c5c97c90bd3e"),
    "pa2.xml": (18, "566808b7ec952724"),
    "ninjs1.json": (8, "25b1ed9615a0b6b8"),
    "ninjs2.json": (57, "759601767c8e843d"),
}

# file name -> fingerprint of the text the body starts with (markup dropped, spaces collapsed).
BODY_STARTS: dict[str, Fingerprint] = {
    "anpa-1.tst": (12, "dfe087860e0977f3"),
    "IPTC7901.txt": (41, "2656b60dfbd0b890"),
    "ana1.xml": (15, "7133f67ab6d7921d"),
    "tag_reuters.com,0000_newsml_L4N1FL0N0_1132689232": (23, "a37ad35fdd0864b9"),
    "tag_reuters.com,0000_newsml_ISS149709_1618095828": (90, "3014eed6e980b9b6"),
    "tag_reuters.com,2018_newsml_MTZXEE13ZXCZES_2": (52, "cee890c7f18bab59"),
    "scoop.xml": (36, "0f6b6db0276b3823"),
    "stt_newsml_test.xml": (87, "25608299d4f59b16"),
    "ritzau_news.xml": (47, "59b448818458a0eb"),
    "bbc-ninjs-comp-test.json": (4, "88d4266fd4e6338d"),
    "ap.xml": (70, "e0340ca2324afdbb"),
}

# file name -> fingerprint of a text the body contains.
BODY_CONTAINS: dict[str, Fingerprint] = {
    "aap.xml": (60, "03c9b6e2b49342a0"),
    "stt_newsml_endash.xml": (5, "ef4852bba93fbca5"),
    "ninjsExSimpleText1.json": (8, "8ae930e189f63044"),
}

NON_TEXT: frozenset[str] = frozenset(
    {
        "LISTING 6 Simple NewsML-G2 Package.xml",
        "picture.xml",
        "tag_reuters.com_2014_newsml_KBN0FL0NM_version_10",  # a packageItem: references only
        "snep.xml",
        "tag_reuters.com_0000_newsml_GM1EA7M13RP01_version_484616934",
        "tag_reuters.com_2014_newsml_LYNXMPEA6F0MS_version_2",
        "tag_reuters.com_2014_newsml_LYNXMPEA6F0MT_version_2",
        "tag_reuters.com_2014_newsml_LYNXMPEA6F13M_version_1",
        "ninjs3.json",
        "ninjs6.json",
        "ap_media_item.json",
        "ap_media_picture.json",
    }
)
