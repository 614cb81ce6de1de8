"""A small policy and a fixed moment shared by the policy tests."""

from __future__ import annotations

from datetime import UTC, datetime

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
