"""The text a story's fingerprint is computed from: what a reprint keeps, without what a feed adds.

Another feed carrying the same story wraps it in its own packaging: a slug before the
headline ("UPDATE 1-", "WRAPUP-", "CORRECTED-") or a tag after it ("(corrected)"), a
byline paragraph ("By Jane Doe, Wire B correspondent", "From our wire services"), its
own dateline style ("LONDON (Reuters) -" for "LONDON, March 2 -"), a footer (copyright,
"(Reporting by ...; editing by ...)", "subscribe to ...", "Related coverage: ..."). On
a short story those few words are a large share of the shingles, so MinHash missed such
reprints (tools/eval_dedupe.py). They are removed here, before shingling; the story's
words are left as they are. Only packaging at the edges is removed: a paragraph in the
middle of a story that looks like a byline stays.

Tried and left out: spelling units one way ("million"/"mln", "percent"/"pct") found 2
more of 2,000 reprints for ~25 us per article, a third of the signature's own cost.
"""

from __future__ import annotations

import re

# Headline slugs and tags that feeds add; the story's own words never look like these.
_SLUG = re.compile(
    r"^(?:(?:UPDATE|WRAPUP|CORRECTED|REFILE|RPT|REPEAT|URGENT|FLASH|BRIEF|INSTANT VIEW)(?:\s*\d+)?\s*-\s*)+",
    re.IGNORECASE,
)
_TAG = re.compile(r"\((?:corrected|updated?|refiled?|repeat|recasts?|adds [^()]{0,60})\)$", re.IGNORECASE)
_TAG_SCAN = 80  # a tag ends the headline: only its tail is read, so a hostile headline costs no more
# A byline paragraph: "By", a capitalised name, and after a comma capitalised words or a
# role ("By Jane Doe, Wire B correspondent", "By MARY SMITH, Associated Press Writer"; not
# "By noon, prices fell" nor "By Tuesday, the strike had ended"), or a credit to a desk or
# a news service with no full stop ("From our wire services", "WIRE B NEWS SERVICE"; not
# "The strike was called off by union staff.").
_NAME = r"(?:[A-Z][\w.'’&-]*|and|de|van|von|del|da)"
_ROLE = r"(?:[A-Z][\w.'’&-]*|correspondent|writer|reporter|staff|editor|and|in|for|of)"
_BY_NAME = re.compile(rf"^By\s+[A-Z][\w.'’-]*(?:\s+{_NAME})*(?:\s*,\s*{_ROLE}(?:\s+{_ROLE})*)?$")
_BYLINE = re.compile(
    r"^(?:from\s+(?:our|the)\s+(?:wire\s+services?|correspondents?|staff)|"
    r".*\bnews\s+(?:service|agency)|.*\b(?:staff|correspondents?|reporters?))\s*$",
    re.IGNORECASE,
)
_BYLINE_MAX_CHARS = 80  # ten words or so
# A footer paragraph: copyright, credits, promotion of the feed's other products.
_FOOTER = re.compile(
    r"^\W*(?:copyright\b|\(c\)|©|all rights reserved|\(?(?:reporting|writing|editing) by\b|"
    r"\(compiled by\b|"
    r"for more\b.*\bsubscribe\b|subscribe to\b|related (?:coverage|stories|news)\b|keywords?:)",
    re.IGNORECASE,
)
_FOOTER_MAX_CHARS = 240  # two lines or so
_BREAK = "\n\n"  # normalize joins paragraphs with a blank line
_AFTER_DATELINE = " \t\n.:-\u2013\u2014"  # " - ", " -- ", " — ", TASS's "."


def fingerprint_text(headline: str, body: str, *, dateline: str | None = None) -> str:
    """Headline and body without the feed's packaging; see the module docstring.

    `dateline`: the article's dateline text (normalize found it at the start of the body,
    credit included, dash not: service/datelines.py), removed with the dash after it.
    Only the first and last paragraphs are looked at: this runs on every article.
    """
    headline = _SLUG.sub("", headline.strip())
    tag = _TAG.search(headline, max(0, len(headline) - _TAG_SCAN))
    if tag is not None:
        headline = headline[: tag.start()].rstrip()
    start, end = 0, len(body)
    first = body.find(_BREAK)
    if 0 <= first <= _BYLINE_MAX_CHARS and _is_byline(body[:first].strip()):
        start = first + len(_BREAK)
    while True:
        last = body.rfind(_BREAK, start, end)
        if last < 0 or end - last > _FOOTER_MAX_CHARS or not _FOOTER.match(body[last:end].strip()):
            break
        end = last
    body = body[start:end].strip()
    if dateline and body.startswith(dateline):
        body = body[len(dateline) :].lstrip(_AFTER_DATELINE)
    return f"{headline}{_BREAK}{body}"


def _is_byline(paragraph: str) -> bool:
    return bool(_BY_NAME.match(paragraph) or _BYLINE.match(paragraph))
