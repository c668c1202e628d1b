"""The test newsroom's Instagram professional account, read (pushed by Meta's webhook,
polled as the fallback) and published to through FakeGraph: one home for the source, the
post target and the secrets, shared by the e2e tests and the fault campaign."""

from __future__ import annotations

from bot.config import Config, PostTarget, Source

TOKEN_ENV, SECRET_ENV, VERIFY_ENV = "VIGIE_TEST_IG_TOKEN", "VIGIE_TEST_META_SECRET", \
    "VIGIE_TEST_META_VERIFY"
SOURCE_ID, TARGET_ID, TOKEN = "ig-matinale", "matinale-instagram", "ig-tok"
USERNAME = "lamatinale"
IMAGE = "https://cdn.lamatinale.example/une.jpg"  # Instagram posts need a picture


def instagram_env(app_secret: str, verify_token: str) -> dict[str, str]:
    return {TOKEN_ENV: TOKEN, SECRET_ENV: app_secret, VERIFY_ENV: verify_token}


def with_instagram(config: Config, graph_url: str, ig_user: str, *,
                   account: str = "matinale") -> Config:
    """`config` with the Instagram account `ig_user` (on the Graph at `graph_url`) as a
    source of the Vigie account `account` and as a post target."""
    source = Source.model_validate({
        "id": SOURCE_ID, "type": "instagram", "account": account, "account_id": ig_user,
        "token_env": TOKEN_ENV, "app_secret_env": SECRET_ENV, "verify_token_env": VERIFY_ENV,
        "api_url": graph_url, "interval": 3600})
    target = PostTarget(id=TARGET_ID, kind="instagram", name="Insta La Matinale",
                        account=account)
    return config.model_copy(update={
        "sources": [*config.sources, source],
        "posts": config.posts.model_copy(update={"targets": [*config.posts.targets,
                                                             target]})})
