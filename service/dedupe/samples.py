"""Hand-written wire texts for the hard case of the spec: two stories, one meeting place, one day."""

from __future__ import annotations

XI_ALIYEV_HEADLINE = "Xi meets Azerbaijan's Aliyev in Samarkand"
XI_ALIYEV = """SAMARKAND, Uzbekistan, Sept 15 (Reuters) - Chinese President Xi Jinping met Azerbaijani \
President Ilham Aliyev on Thursday on the sidelines of the Shanghai Cooperation Organisation summit in \
Samarkand, Chinese state media reported.

Xi said China was ready to work with Azerbaijan to deepen cooperation on the Belt and Road Initiative \
and to expand trade in energy, transport and agriculture, according to state broadcaster CCTV.

Aliyev said Azerbaijan firmly supported the one-China principle and welcomed more Chinese investment in \
its transport corridor linking Central Asia with Europe across the Caspian Sea.

The two leaders also discussed the situation in the South Caucasus, where Azerbaijan and Armenia \
clashed on their border this week, CCTV said.

(Reporting by Beijing newsroom; Editing by Alex Richardson)"""

XI_PUTIN_HEADLINE = "Xi meets Putin in Samarkand"
XI_PUTIN = """SAMARKAND, Uzbekistan, Sept 15 (Reuters) - Chinese President Xi Jinping met Russian \
President Vladimir Putin on Thursday on the sidelines of the Shanghai Cooperation Organisation summit \
in Samarkand, their first face-to-face meeting since the war in Ukraine began.

Putin thanked Xi for what he called China's balanced position on the Ukraine crisis and said Moscow \
understood Beijing's questions and concerns about it, in a rare acknowledgement of differences.

Xi said China was willing to work with Russia to play the role of great powers and inject stability \
into a world in turmoil, according to state broadcaster CCTV.

The two leaders last met in Beijing in February, when they declared a "no limits" partnership weeks \
before Russia sent troops into Ukraine.

(Reporting by Beijing newsroom; Editing by Alex Richardson)"""

# The Aliyev story as another feed carries it: own byline and footer, the
# credit line dropped, one phrase reworded.
XI_ALIYEV_REPRINT_HEADLINE = "China's Xi meets Azerbaijan's Aliyev at SCO summit in Samarkand"
XI_ALIYEV_REPRINT = """By Wire B Staff

SAMARKAND, Uzbekistan, Sept 15 (Reuters) - Chinese President Xi Jinping met Azerbaijani \
President Ilham Aliyev on Thursday on the sidelines of the Shanghai Cooperation Organisation summit in \
Samarkand, state media said.

Xi said China was ready to work with Azerbaijan to deepen cooperation on the Belt and Road Initiative \
and to expand trade in energy, transport and agriculture, according to state broadcaster CCTV.

Aliyev said Azerbaijan firmly supported the one-China principle and welcomed more Chinese investment in \
its transport corridor linking Central Asia with Europe across the Caspian Sea.

The two leaders also discussed the situation in the South Caucasus, where Azerbaijan and Armenia \
clashed on their border this week, CCTV said.

Copyright 2022 Wire B. All rights reserved."""

# A results template two companies fill in with their own figures: most of the
# wording is shared, so MinHash alone rates them near-duplicates.
_RESULTS = """{company} said on Tuesday its net profit for the quarter rose to {profit} mln dlrs from \
{prior} mln dlrs a year earlier, on sales that climbed to {sales} mln dlrs, as demand held up \
in its main markets and costs were kept under control.

The company said it expected the improvement in trading conditions to continue through the rest \
of the year and that it would recommend an unchanged dividend to shareholders at the annual meeting.

Earnings per share were {eps} cents, it said, and the board had approved a share buyback of up to \
{buyback} mln dlrs, to be carried out over the next twelve months in the open market."""

RESULTS_HEADLINE = "Quarterly results"
RESULTS_ACME = _RESULTS.format(company="Acme Corp", profit=42, prior=35, sales=410, eps=88, buyback=120)
RESULTS_GLOBEX = _RESULTS.format(company="Globex Inc", profit=17, prior=21, sales=265, eps=31, buyback=45)
# Acme's report as another feed carries it: trimmed after the second paragraph, with a footer.
RESULTS_ACME_REPRINT = "\n\n".join(RESULTS_ACME.split("\n\n")[:2]) + "\n\nCopyright 2022 Wire B."
