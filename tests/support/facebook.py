"""The test newsroom's Facebook Page, read (polled and pushed by Meta's webhook) and
published to through FakeGraph: one home for the source, the post target and the secrets,
shared by the e2e tests and the fault campaign."""

from __future__ import annotations

from bot.config import Config, PostTarget, Source

APP_SECRET, VERIFY_TOKEN, PAGE_TOKEN = "meta-app-secret-0123456789", "verify-me-42", "page-tok"
SOURCE_ID, TARGET_ID = "fb-matinale", "matinale-facebook"
FACEBOOK_ENV = {"VIGIE_TEST_FB_TOKEN": PAGE_TOKEN, "VIGIE_TEST_META_SECRET": APP_SECRET,
                "VIGIE_TEST_META_VERIFY": VERIFY_TOKEN}


def with_facebook(config: Config, graph_url: str, page: str, *, account: str = "matinale"
                  ) -> Config:
    """`config` with the Page "La Matinale" (`page` on the Graph at `graph_url`) as a
    source of the Vigie account `account` and as a post target."""
    source = Source.model_validate({
        "id": SOURCE_ID, "type": "facebook", "account": account, "account_id": page,
        "token_env": "VIGIE_TEST_FB_TOKEN", "app_secret_env": "VIGIE_TEST_META_SECRET",
        "verify_token_env": "VIGIE_TEST_META_VERIFY", "api_url": graph_url,
        "interval": 3600})
    targets = [*config.posts.targets, PostTarget(id=TARGET_ID, kind="facebook",
                                                 name="Page La Matinale", account=account)]
    return config.model_copy(update={
        "sources": [*config.sources, source],
        "posts": config.posts.model_copy(update={"targets": targets})})
