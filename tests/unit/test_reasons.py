from __future__ import annotations

import ast
import json
import string
from pathlib import Path

import pytest

from bot.i18n import catalogue
from bot.reasons import PREFIX, Reason, shown_reason

BOT = Path(__file__).parents[2] / "bot"


def test_a_stored_reason_is_said_in_the_readers_language() -> None:
    """The same stored value reads French in a French channel, English for an English user."""
    stored = Reason("feed.http_status", status=503).stored(512)
    assert shown_reason(stored, "fr") == "le flux a répondu HTTP 503"
    assert shown_reason(stored, "en") == "the feed answered HTTP 503"


def test_str_is_the_english_text_for_logs() -> None:
    """Logs and the command line keep a readable English sentence."""
    reason = Reason("fetch.timeout", host="mastodon.social", seconds=10.0)
    assert str(reason) == "mastodon.social did not answer within 10 s"
    assert reason.text("fr") == "mastodon.social n'a pas répondu en 10 s"


def test_decimal_numbers_are_written_as_the_reader_writes_them() -> None:
    """0.5 s in English, 0,5 s in French."""
    stored = Reason("feed.timeout", seconds=0.5).stored(512)
    assert shown_reason(stored, "en") == "no answer within 0.5 s"
    assert shown_reason(stored, "fr") == "pas de réponse en 0,5 s"


def test_params_from_outside_are_escaped_when_shown() -> None:
    """A hostile host name or handle cannot ping the channel or break the layout."""
    stored = Reason("fetch.bluesky_not_a_handle", handle="<!channel> & *bold*").stored(512)
    assert shown_reason(stored, "fr") == ("@&lt;!channel&gt; &amp; *bold* n'est pas un "
                                          "identifiant Bluesky (ou n'existe plus)")


def test_legacy_sentences_already_in_the_database_are_shown_as_they_are() -> None:
    """Rows written before reasons were stored as keys keep their English text, escaped."""
    assert shown_reason("mastodon.example is unreachable", "fr") == \
        "mastodon.example is unreachable"
    assert shown_reason("<!here> down", "fr") == "&lt;!here&gt; down"
    assert shown_reason("x" * 400, "en", limit=120) == "x" * 119 + "…"
    assert shown_reason(None, "fr") == "?"


@pytest.mark.parametrize("stored", [
    '{"key":"feed.http_status","params":{"status":5',  # cut in the middle
    '{"key":"feed.gone_since","params":{}}',  # a key since renamed
    '{"key":"feed.http_status","params":{}}',  # a param missing
    '{"key":"feed.http_status","params":{"status":[1]}}',  # not a plain value
    '{"key":"feed.http_status"}',
    '["feed.http_status"]',
])
def test_anything_unreadable_is_shown_as_stored_rather_than_lost(stored: str) -> None:
    """A value that is not a reason Vigie can render is still shown, escaped, never raises."""
    assert shown_reason(stored, "fr") == stored.replace("<", "&lt;").replace(">", "&gt;")


def test_only_reasons_can_be_rendered_from_the_database() -> None:
    """A stored key cannot pull any other catalogue text (keys are under `reasons.`)."""
    stored = '{"key":"flags.modal.title","params":{}}'
    assert shown_reason(stored, "fr") == stored


def test_long_params_are_cut_so_the_stored_json_fits_its_column() -> None:
    """Whatever a server answers, the value fits the column and still parses."""
    detail = "é\"\\" * 400 + "\n\x00"
    reason = Reason("bluesky.refused", host="pds." + "h" * 300 + ".example", detail=detail)
    for limit in (512, 120, 60):
        stored = reason.stored(limit)
        assert len(stored) <= limit
        parsed = Reason.parse(stored)
        assert parsed is not None and parsed.key == "bluesky.refused"
        assert all(str(v).endswith("…") or v == "" for v in parsed.params.values())
    shown = shown_reason(reason.stored(512), "fr")
    assert shown.startswith("pds.hhh") and " a refusé la requête (é\"\\" in shown


def test_a_short_reason_is_stored_whole() -> None:
    """Nothing is cut when it fits: the reader sees what the server said."""
    reason = Reason("bluesky.refused", host="bsky.social", detail="InvalidRequest: bad cursor")
    assert Reason.parse(reason.stored(512)) == reason
    assert json.loads(reason.stored(512)) == {
        "key": "bluesky.refused",
        "params": {"host": "bsky.social", "detail": "InvalidRequest: bad cursor"}}


def test_when_nothing_fits_the_english_text_is_stored_instead() -> None:
    """A column too small even for the key keeps a readable (legacy) sentence."""
    stored = Reason("mastodon.token_refused").stored(20)
    assert stored == "the instance refuse…" and Reason.parse(stored) is None


def _reasons_raised_in_bot() -> list[tuple[str, str, set[str]]]:
    found = []
    for path in sorted(BOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id == "Reason" and node.args \
                    and isinstance(node.args[0], ast.Constant):
                found.append((f"{path.name}:{node.lineno}", str(node.args[0].value),
                              {k.arg for k in node.keywords if k.arg}))
    return found


def test_every_reason_raised_in_the_code_exists_in_both_languages_with_its_params() -> None:
    """A typo in a key or a param would only show the day a server fails: caught here."""
    raised = _reasons_raised_in_bot()
    assert len(raised) > 30
    fields = string.Formatter()
    for where, key, params in raised:
        for locale in ("fr", "en"):
            assert PREFIX + key in catalogue().keys(locale), (where, key)
            text = catalogue().text(locale, PREFIX + key)
            assert {f for _, f, _, _ in fields.parse(text) if f} == params, (where, key)


def test_the_stored_limits_are_the_lengths_of_their_columns() -> None:
    """PostgreSQL refuses a longer value: the limits must follow the schema."""
    from bot.listen.models import SourceState
    from bot.listen.polling import LAST_ERROR_LIMIT
    from bot.mentions.flag_models import MentionFlag
    from bot.mentions.flags import FETCH_ERROR_LIMIT

    assert SourceState.__table__.c.last_error.type.length == LAST_ERROR_LIMIT  # type: ignore[attr-defined]
    assert MentionFlag.__table__.c.fetch_error.type.length == FETCH_ERROR_LIMIT  # type: ignore[attr-defined]
