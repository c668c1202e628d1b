"""The test newsroom's Threads profile (the account `grand-debat`), read and published to
through FakeGraph's Threads API: one home for the source, the post target and the
secrets, shared by the e2e tests and the fault campaign."""

from __future__ import annotations

from bot.config import Config, PostTarget, Source

TOKEN_ENV, SECRET_ENV, VERIFY_ENV = "VIGIE_TEST_THREADS_TOKEN", "VIGIE_TEST_META_SECRET", \
    "VIGIE_TEST_META_VERIFY"
SOURCE_ID, TARGET_ID, TOKEN = "threads-debat", "debat-threads", "threads-token"


def threads_env(app_secret: str, verify_token: str) -> dict[str, str]:
    return {TOKEN_ENV: TOKEN, SECRET_ENV: app_secret, VERIFY_ENV: verify_token}


def with_threads(config: Config, threads_url: str, profile: str, *,
                 account: str = "grand-debat") -> Config:
    """`config` with the Threads profile `profile` (at `threads_url`) as a source of the
    Vigie account `account` and as a post target."""
    source = Source.model_validate({
        "id": SOURCE_ID, "type": "threads", "account": account,
        "account_id": profile, "token_env": TOKEN_ENV, "app_secret_env": SECRET_ENV,
        "verify_token_env": VERIFY_ENV, "api_url": threads_url, "interval": 3600})
    target = PostTarget(id=TARGET_ID, kind="threads", name="Le Grand Débat (Threads)",
                        account=account)
    return config.model_copy(update={
        "sources": [*config.sources, source],
        "posts": config.posts.model_copy(update={"targets": [*config.posts.targets,
                                                             target]})})
