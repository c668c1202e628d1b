"""The test newsroom's X account `matinale`, read and published to through FakeX: one
home for the source, the post target and the secrets, shared by the e2e tests and the
fault campaign."""

from __future__ import annotations

from bot.config import Config, PostTarget, Source

SOURCE_ID, TARGET_ID = "x-matinale", "matinale-x"
X_ENV = {"VIGIE_TEST_X_KEY": "app-key", "VIGIE_TEST_X_SECRET": "app-secret",
         "VIGIE_TEST_X_TOKEN": "tok-matinale", "VIGIE_TEST_X_TOKEN_SECRET": "tok-secret"}


def with_x(config: Config, api_url: str, *, budget: float = 50.0, target: bool = False,
           account: str = "matinale"
           ) -> Config:
    """`config` with FakeX's default token (`matinale` on X) as a source of `account`, a
    monthly budget of `budget` dollars and, with `target`, a post target."""
    source = Source.model_validate({
        "id": SOURCE_ID, "type": "x", "account": account,
        "api_key_env": "VIGIE_TEST_X_KEY", "api_secret_env": "VIGIE_TEST_X_SECRET",
        "token_env": "VIGIE_TEST_X_TOKEN", "token_secret_env": "VIGIE_TEST_X_TOKEN_SECRET",
        "interval": 3600})
    settings = config.x.model_copy(update={"api_url": api_url, "monthly_budget": budget})
    update: dict[str, object] = {"sources": [*config.sources, source], "x": settings}
    if target:
        update["posts"] = config.posts.model_copy(update={"targets": [
            *config.posts.targets,
            PostTarget(id=TARGET_ID, kind="x", name="X La Matinale", account=account)]})
    return config.model_copy(update=update)
