"""Shared by the policy tests: a small policy, a fixed moment, and host names to generate."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import strategies as st

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

TEST_POLICY = """
[settings]
acknowledgement_ttl = "8h"
renewal_notice = "14d"

[modules.basics]
title = "Social media basics"
url = "https://learning.example.org/basics"
valid_for = "365d"

[modules.publishing]
title = "Publishing for the organisation"
url = "https://learning.example.org/publishing"
valid_for = "180d"

[modules.video]
title = "Video awareness"
url = "https://learning.example.org/video"

[categories.social]
domains = ["facebook.com", "fbcdn.net", "x.com", "bücher.example"]
guidance = ["You represent the organisation online as well as off."]

[categories.rich-media]
domains = ["youtube.com", "googlevideo.com", "video.facebook.com"]

[categories.news]
domains = ["news.example", "192.0.2.7"]

[[rules]]
name = "publishers"
categories = ["social"]
roles_any = ["comms-publisher"]
training_all = ["basics", "publishing"]
read = "allow"
write = "allow"

[[rules]]
name = "trained"
categories = ["social"]
training_all = ["basics"]
read = "allow"
write = "warn"

[[rules]]
name = "everyone"
categories = ["social"]
read = "warn"
write = "block"

[[rules]]
name = "video-trained"
categories = ["rich-media"]
training_all = ["video"]
read = "allow"

[[rules]]
name = "managers"
categories = ["rich-media"]
roles_any = ["manager"]
read = "allow"
write = "block"

[[rules]]
name = "video-everyone"
categories = ["rich-media"]
read = "warn"
write = "block"
"""


# Labels stop at 20 characters so that joined names stay under 253. An `xn--` label must be
# valid punycode, so plain labels never start that way.
labels = st.from_regex(r"[a-z0-9_](?:[a-z0-9_-]{0,18}[a-z0-9_])?", fullmatch=True).filter(
    lambda label: not label.startswith("xn--")
)
# A name's last label starts with a letter: one of digits alone would make it an IPv4 address.
last_labels = labels.filter(lambda label: label[0].isalpha())
domains = st.builds(
    lambda head, last: ".".join([*head, last]), st.lists(labels, max_size=3), last_labels
)
