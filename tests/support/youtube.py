"""The test newsroom's YouTube channel (the account `grand-debat`), read and answered
through FakeYouTube: one home for the source and its OAuth secrets, shared by the e2e
tests and the fault campaign."""

from __future__ import annotations

from bot.config import Config, Source

SOURCE_ID = "yt-debat"
CHANNEL = "UCgranddebat" + "x" * 12
VIDEO = "GrandDebat1"
YOUTUBE_ENV = {"VIGIE_TEST_YT_CLIENT": "client-1.apps.googleusercontent.com",
               "VIGIE_TEST_YT_SECRET": "client-secret", "VIGIE_TEST_YT_REFRESH": "1//refresh"}


def with_youtube(config: Config, url: str, *, account: str = "grand-debat") -> Config:
    """`config` with the channel `CHANNEL` (API and OAuth at `url`) as a source."""
    source = Source.model_validate({
        "id": SOURCE_ID, "type": "youtube", "account": account, "channel_id": CHANNEL,
        "client_id_env": "VIGIE_TEST_YT_CLIENT", "client_secret_env": "VIGIE_TEST_YT_SECRET",
        "refresh_token_env": "VIGIE_TEST_YT_REFRESH", "api_url": url, "oauth_url": url})
    return config.model_copy(update={"sources": [*config.sources, source]})
