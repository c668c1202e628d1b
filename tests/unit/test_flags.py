"""The flag service against the Slack bench and a fetcher double: what gets stored, what
the flagger reads, and what survives retries and outages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.clock import FrozenClock
from bot.config import Config
from bot.connectors.fetchers import Fetchers
from bot.mentions.flag_models import FlagState, FlagWay, MentionFlag
from bot.mentions.flags import AlreadySent, AppMention, Draft, FlagCards, Flags
from bot.mentions.messages import card_renderer
from bot.mentions.models import Mention, Status
from bot.mentions.relay import Relay
from bot.mentions.routing import Router
from bot.mentions.service import Intake
from bot.people import Directory
from bot.reasons import Reason
from bot.sandbox.slack import FakeSlack
from bot.slack import SlackGateway, make_client
from tests.support.fetchers import ScriptedFetcher

POST = "https://mastodon.social/@furax/111"
DOWN = "https://mastodon.example/@furax/222"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        fake.add_user("U0ANNA", "anna", real_name="Anna Martin", display_name="",
                      locale="en-GB")
        fake.add_user("U0LEA", "lea", real_name="Léa Roux", display_name="Léa", locale="fr-FR")
        fake.add_channel("C0DESK", "desk")
        yield fake


@dataclass
class Bench:
    flags: Flags
    relay: Relay
    fetcher: ScriptedFetcher
    slack: FakeSlack
    engine: Engine
    clock: FrozenClock

    def at_vigie(self, text: str, *, user: str = "U0ANNA", channel: str = "C0DESK",
                 thread_ts: str | None = None) -> AppMention:
        """Someone writes `@Vigie <text>` in Slack; the event Vigie receives."""
        full = f"<@U0BOT> {text}"
        ts = self.slack.add_message(channel, full, user=user, thread_ts=thread_ts)
        return AppMention(user=user, channel=channel, ts=ts, thread_ts=thread_ts, text=full,
                          bot_user_id="U0BOT")

    def mentions(self) -> list[Mention]:
        with Session(self.engine) as session:
            return list(session.exec(select(Mention).order_by(col(Mention.id))))

    def flag_rows(self) -> list[MentionFlag]:
        with Session(self.engine) as session:
            return list(session.exec(select(MentionFlag).order_by(col(MentionFlag.id))))

    def bot_replies(self, channel: str, thread_ts: str) -> list[str]:
        return [m["text"] for m in self.slack.messages(channel)
                if m.get("user") == "U0BOT" and m.get("thread_ts") == thread_ts
                and m["ts"] != thread_ts]

    def dms(self, user: str) -> list[dict[str, Any]]:
        return self.slack.messages(self.slack.dm_channel(user))


@pytest.fixture
def bench(engine: Engine, config: Config, clock: FrozenClock, slack: FakeSlack) -> Bench:
    gateway = SlackGateway(make_client("xoxb-test", slack.base_url))
    people = Directory(slack=gateway, config=config, default_locale="fr")
    fetcher = ScriptedFetcher()
    fetcher.publish(POST, status_id="111", handle="@furax@mastodon.social", name="Furax",
                    text="Émission de hier soir : une honte.", account="grand-debat")
    fetcher.unreachable.add(DOWN)
    intake = Intake(engine=engine, config=config, router=Router(config), clock=clock)
    cards = FlagCards(engine=engine, people=people, locale="fr")
    relay = Relay(engine=engine, slack=gateway, clock=clock,
                  render=cards.card_renderer(card_renderer(config, "fr")))
    flags = Flags(engine=engine, config=config, intake=intake, slack=gateway, people=people,
                  fetchers=Fetchers([fetcher], timeout=2), clock=clock, locale="fr")
    return Bench(flags, relay, fetcher, slack, engine, clock)


def test_a_supported_link_is_fetched_and_the_flagger_thanked_in_thread(bench: Bench) -> None:
    """The card's mention has the post's real author and text; the note and the flagger's
    message link are kept; the thread reply is in the flagger's language."""
    event = bench.at_vigie(f"<{POST}> angry about last night")
    result = bench.flags.flag_app_mention(event)
    assert result is not None and not result.duplicate and result.fetched_from == "mastodon"
    [mention] = bench.mentions()
    assert (mention.source_id, mention.external_id) == ("slack", f"slack:C0DESK:{event.ts}")
    assert (mention.author_name, mention.text) == ("Furax", "Émission de hier soir : une honte.")
    assert (mention.platform, mention.url, mention.account_id) == ("mastodon", POST,
                                                                   "grand-debat")
    assert mention.channel_id == "C0DEBAT"  # routed like any other: the account's channel
    [flag] = bench.flag_rows()
    assert flag.note == "angry about last night" and flag.state == FlagState.ACKNOWLEDGED
    assert flag.permalink and f"p{event.ts.replace('.', '')}" in flag.permalink
    [reply] = bench.bot_replies("C0DESK", event.ts)
    assert "handed to the community team" in reply and "<#C0DEBAT>" in reply
    assert "post by *Furax* from Mastodon" in reply


def test_a_second_delivery_of_the_same_message_changes_nothing(bench: Bench) -> None:
    """Slack's retry, even with a new event id: one mention, one fetch, one reply."""
    event = bench.at_vigie(f"<{POST}> angry")
    bench.flags.flag_app_mention(event)
    assert bench.flags.flag_app_mention(event) is None
    assert len(bench.mentions()) == 1 and len(bench.flag_rows()) == 1
    assert bench.fetcher.calls == [POST]
    assert len(bench.bot_replies("C0DESK", event.ts)) == 1


def test_an_unreachable_post_still_makes_a_card_with_the_note(bench: Bench) -> None:
    """The mention keeps the link and the note; card and reply say why it could not be
    fetched, each in its reader's language (French newsroom, English flagger)."""
    event = bench.at_vigie(f"<{DOWN}> harcèlement depuis ce matin")
    result = bench.flags.flag_app_mention(event)
    assert result is not None
    assert Reason.parse(result.fetch_error) == Reason("mastodon.unreachable", error="ConnectError")
    [mention] = bench.mentions()
    assert (mention.text, mention.url, mention.platform) == ("harcèlement depuis ce matin", DOWN,
                                                             "mastodon")
    assert mention.author_name == "@furax@mastodon.example"
    assert "could not fetch the post (cannot reach the instance (ConnectError))" in \
        bench.bot_replies("C0DESK", event.ts)[0]
    bench.relay.run_due()
    [card] = [m for m in bench.slack.messages("C0MENTIONS") if m.get("metadata")]
    shown = json.dumps(card["blocks"], ensure_ascii=False)
    assert "harcèlement depuis ce matin" in shown
    assert "Impossible de récupérer le post (l'instance est injoignable (ConnectError))" \
        in shown
    assert "Signalé par *Anna Martin* dans <#C0DESK>" in shown


def test_links_no_one_can_fetch_keep_link_and_note_and_never_fold(bench: Bench) -> None:
    """Two different links from one site, without notes, are two mentions, not a repost."""
    for url in ("https://x.example/kev/status/1", "https://x.example/kev/status/2"):
        bench.flags.flag_app_mention(bench.at_vigie(f"<{url}>"))
    first, second = bench.mentions()
    assert (first.text, first.url, first.platform) == ("https://x.example/kev/status/1",
                                                      "https://x.example/kev/status/1", "web")
    assert second.url == "https://x.example/kev/status/2" and second.id != first.id
    assert bench.fetcher.calls == []


def test_account_comes_from_the_note_or_the_channel(bench: Bench) -> None:
    """A configured account id as the note's first word picks it; else the channel's."""
    bench.slack.add_channel("C0SPORT", "sport-talk")
    bench.flags.flag_app_mention(bench.at_vigie("<https://a.example/1> matinale vu ce matin"))
    bench.flags.flag_app_mention(bench.at_vigie("<https://a.example/2> bof", channel="C0SPORT"))
    first, second = bench.mentions()
    assert (first.account_id, first.text) == ("matinale", "vu ce matin")
    assert (second.account_id, second.channel_id) == ("sport-talk", "C0SPORT")


def test_without_a_link_vigie_explains_and_stores_nothing(bench: Bench) -> None:
    """`@Vigie hello` gets the how-to in its thread, in the person's language."""
    event = bench.at_vigie("bonjour", user="U0LEA")
    assert bench.flags.flag_app_mention(event) is None
    assert bench.mentions() == [] and bench.flag_rows() == []
    [reply] = bench.bot_replies("C0DESK", event.ts)
    assert "Donnez-moi un lien" in reply


def test_at_vigie_in_a_thread_flags_the_message_that_started_it(bench: Bench) -> None:
    """Replying `@Vigie <note>` under a forwarded message hands that message over."""
    parent = bench.slack.add_message("C0DESK", "Un auditeur: <@U0LEA> vous êtes nuls <!here>",
                                     user="U0LEA")
    event = bench.at_vigie("à traiter vite", thread_ts=parent)
    result = bench.flags.flag_app_mention(event)
    assert result is not None
    [mention] = bench.mentions()
    assert mention.external_id == f"slack:C0DESK:{parent}"
    assert mention.text == "Un auditeur: @Léa vous êtes nuls @here"
    assert (mention.author_handle, mention.author_name, mention.platform) == (
        "U0LEA", "Léa", "slack")
    assert bench.flag_rows()[0].note == "à traiter vite"
    assert len(bench.bot_replies("C0DESK", parent)) == 1


def test_slack_markup_in_the_note_is_stored_readable_and_pings_nobody(bench: Bench) -> None:
    """`<@U…>` and `<!channel>` in a note become names; the card escapes what is left."""
    event = bench.at_vigie(f"<{POST}> <!channel> voir <@U0LEA> &lt;urgent&gt;")
    bench.flags.flag_app_mention(event)
    assert bench.flag_rows()[0].note == "@channel voir @Léa <urgent>"
    bench.relay.run_due()
    [card] = [m for m in bench.slack.messages("C0DEBAT") if m.get("metadata")]
    shown = json.dumps(card["blocks"], ensure_ascii=False)
    assert "<!channel>" not in shown and "<@U0LEA>" not in shown
    assert "@channel voir @Léa &lt;urgent&gt;" in shown


def test_the_outcome_is_told_once_in_the_flag_thread(bench: Bench) -> None:
    """Answered → one update in the thread, naming who and linking the card; the same
    status again or a non-outcome status says nothing."""
    event = bench.at_vigie(f"<{POST}> angry")
    result = bench.flags.flag_app_mention(event)
    assert result is not None and result.mention_id
    bench.relay.run_due()
    assert bench.flags.report_outcome(result.mention_id, Status.ASSIGNED, by="U0LEA") == 0
    assert bench.flags.report_outcome(result.mention_id, Status.ANSWERED, by="U0LEA") == 1
    assert bench.flags.report_outcome(result.mention_id, Status.ANSWERED, by="U0LEA") == 0
    replies = bench.bot_replies("C0DESK", event.ts)
    assert len(replies) == 2
    assert "has been *answered* by Léa" in replies[1]
    assert "|See the card>" in replies[1] and "/archives/C0DEBAT/" in replies[1]
    assert bench.flags.report_outcome(result.mention_id, Status.CLOSED) == 1
    assert "has been *closed*." in bench.bot_replies("C0DESK", event.ts)[2]


def test_an_outcome_slack_refused_is_told_by_the_sweep(bench: Bench) -> None:
    """With Slack down the update waits in the database; the sweep posts it later."""
    event = bench.at_vigie(f"<{POST}> angry")
    result = bench.flags.flag_app_mention(event)
    assert result is not None and result.mention_id
    bench.slack.set_down(True)
    assert bench.flags.report_outcome(result.mention_id, Status.IGNORED) == 0
    bench.slack.set_down(False)
    bench.flags.sweep()
    replies = bench.bot_replies("C0DESK", event.ts)
    assert len(replies) == 2 and "*closed without an answer*" in replies[1]
    bench.flags.sweep()
    assert len(bench.bot_replies("C0DESK", event.ts)) == 2


def test_an_interrupted_flag_is_finished_by_the_sweep(bench: Bench) -> None:
    """Slack down while answering: the mention is stored, the thanks come with the sweep;
    a flag left mid-way by a crash is taken over once its claim is stale."""
    bench.slack.set_down(True)
    event = bench.at_vigie(f"<{POST}> angry")
    bench.flags.flag_app_mention(event)
    assert [f.state for f in bench.flag_rows()] == [FlagState.INGESTED]
    assert len(bench.mentions()) == 1
    bench.slack.set_down(False)
    crashed = bench.at_vigie("<https://a.example/3> lost")
    with Session(bench.engine) as session:  # as if the process died right after receiving
        session.add(MentionFlag(key="C0DESK:crashed", way=FlagWay.MENTION,
                                state=FlagState.RECEIVED,
                                flagger_id="U0ANNA", origin_channel="C0DESK",
                                origin_ts=crashed.ts, url="https://a.example/3",
                                external_id=f"slack:C0DESK:{crashed.ts}",
                                claimed_at=bench.clock.now(), created_at=bench.clock.now(),
                                updated_at=bench.clock.now()))
        session.commit()
    bench.flags.sweep()
    assert [f.state for f in bench.flag_rows()] == [FlagState.ACKNOWLEDGED, FlagState.RECEIVED]
    bench.clock.advance(minutes=3)
    bench.flags.sweep()
    assert all(f.state == FlagState.ACKNOWLEDGED for f in bench.flag_rows())
    assert len(bench.mentions()) == 2
    assert len(bench.bot_replies("C0DESK", event.ts)) == 1


def test_shortcut_keeps_the_message_until_the_modal_is_sent(bench: Bench) -> None:
    """The shortcut drafts; the modal's account and note complete it; the flagger gets a
    direct message; using it again on the same message says it was sent."""
    ts = bench.slack.add_message("C0DESK", "Un auditeur au standard : <@U0ANNA> est nul",
                                 user="U0LEA")
    message = {**(bench.slack.message("C0DESK", ts) or {}), "files": [
        {"name": "appel.mp3", "permalink": "https://files.example/appel"}]}
    draft = bench.flags.start_shortcut(user="U0ANNA", channel="C0DESK", message=message)
    assert isinstance(draft, Draft) and draft.author == "Léa" and draft.files == 1
    assert "@Anna Martin est nul" in draft.preview and bench.mentions() == []
    assert bench.flags.submit_shortcut(draft.flag_id, user="U0LEA", account=None,
                                       note=None) == "expired"
    assert bench.flags.submit_shortcut(draft.flag_id, user="U0ANNA", account="nope",
                                       note=None) == "unknown_account"
    assert bench.flags.submit_shortcut(draft.flag_id, user="U0ANNA", account="matinale",
                                       note="rappeler") is None
    bench.flags.process(draft.flag_id)
    [mention] = bench.mentions()
    assert mention.account_id == "matinale" and mention.external_id == f"slack:C0DESK:{ts}"
    assert "📎 appel.mp3: https://files.example/appel" in mention.text
    assert mention.url and "/archives/C0DESK/" in mention.url  # the message's permalink
    [dm] = bench.dms("U0ANNA")
    assert "handed to the community team" in dm["text"]
    again = bench.flags.start_shortcut(user="U0ANNA", channel="C0DESK", message=message)
    assert isinstance(again, AlreadySent)


def test_the_same_thing_flagged_twice_is_one_mention_with_two_flaggers(bench: Bench) -> None:
    """A second person flagging the same post joins the first mention: told it is already
    with the team, noted in the card's thread, and told the outcome too."""
    first = bench.flags.flag_app_mention(bench.at_vigie(f"<{POST}> angry"))
    bench.relay.run_due()
    receipt = bench.flags.receive_command(user="U0LEA", channel="C0DESK", text=f"{POST} encore")
    assert receipt.flag_id is not None
    second = bench.flags.process(receipt.flag_id)
    assert first and second and second.duplicate and second.mention_id == first.mention_id
    assert len(bench.mentions()) == 1
    [dm] = bench.dms("U0LEA")
    assert "L'équipe communauté l'a déjà" in dm["text"]
    [card] = [m for m in bench.slack.messages("C0DEBAT") if m.get("metadata")]
    [note] = bench.bot_replies("C0DEBAT", card["ts"])
    assert "Aussi signalé par *Léa* avec /vigie add : « encore »" in note
    assert first.mention_id
    assert bench.flags.report_outcome(first.mention_id, Status.ANSWERED) == 2


def test_add_command_checks_its_arguments(bench: Bench) -> None:
    """No link is a usage error; the same link twice from one person is refused."""
    assert bench.flags.receive_command(user="U0ANNA", channel="C0DESK",
                                       text="pas de lien").problem == "usage"
    assert bench.flags.receive_command(user="U0ANNA", channel="C0DESK",
                                       text="https://a.example/1").problem is None
    assert bench.flags.receive_command(user="U0ANNA", channel="C0DESK",
                                       text="<https://a.example/1> bis").problem == "already"
    assert bench.flag_rows()[0].way == "command"


def test_stale_drafts_are_forgotten(bench: Bench) -> None:
    """A shortcut whose modal was never sent is dropped after a day."""
    ts = bench.slack.add_message("C0DESK", "texte", user="U0LEA")
    draft = bench.flags.start_shortcut(user="U0ANNA", channel="C0DESK",
                                       message=bench.slack.message("C0DESK", ts) or {})
    assert isinstance(draft, Draft)
    bench.clock.advance(hours=25)
    bench.flags.sweep()
    assert bench.flag_rows() == []


def test_the_card_lists_who_flagged_with_their_note(bench: Bench) -> None:
    """Flag lines sit under the card's meta line; a hostile note is escaped."""
    bench.flags.flag_app_mention(bench.at_vigie(f"<{POST}> <https://evil.example|safe> ok"))
    with Session(bench.engine) as session:
        session.execute(update(MentionFlag).values(note="<!here> lis ça"))
        session.commit()
    bench.relay.run_due()
    [card] = [m for m in bench.slack.messages("C0DEBAT") if m.get("metadata")]
    ids = [b.get("block_id") for b in card["blocks"]]
    assert ids.index("flag-0") == ids.index("meta") + 1
    shown = json.dumps(card["blocks"][ids.index("flag-0")], ensure_ascii=False)
    assert "Note : « &lt;!here&gt; lis ça »" in shown and "<!here>" not in shown
    assert "|message Slack>" in shown



def test_flagging_what_was_already_answered_says_so(bench: Bench) -> None:
    """A second person sending a message the team has answered hears the outcome at once."""
    ts = bench.slack.add_message("C0DESK", "Un auditeur furieux", user="U0LEA")
    message = bench.slack.message("C0DESK", ts) or {}
    for user in ("U0ANNA", "U0LEA"):
        draft = bench.flags.start_shortcut(user=user, channel="C0DESK", message=message)
        assert isinstance(draft, Draft)
        assert bench.flags.submit_shortcut(draft.flag_id, user=user, account=None,
                                           note=None) is None
        bench.flags.process(draft.flag_id)
        with Session(bench.engine) as session:
            session.execute(update(Mention).values(status=Status.ANSWERED))
            session.commit()
    assert len(bench.mentions()) == 1
    thanks, outcome = [m["text"] for m in bench.dms("U0LEA")]
    assert "L'équipe communauté l'a déjà" in thanks and "a reçu une *réponse*" in outcome
    assert len(bench.dms("U0ANNA")) == 1


def test_a_settled_link_flagged_again_gets_a_new_card(bench: Bench) -> None:
    """The same link after the team closed its mention is a new mention, not a lost flag."""
    first = bench.flags.flag_app_mention(bench.at_vigie(f"<{POST}> angry"))
    assert first is not None and first.mention_id
    with Session(bench.engine) as session:
        session.execute(update(Mention).values(status=Status.CLOSED))
        session.commit()
    bench.clock.advance(hours=2)
    again = bench.flags.flag_app_mention(bench.at_vigie(f"<{POST}> it's viral now"))
    assert again is not None and not again.duplicate and again.mention_id != first.mention_id


def test_at_vigie_under_vigies_own_message_flags_nothing(bench: Bench) -> None:
    """`@Vigie` in the thread of one of Vigie's own messages (a card) gets the how-to."""
    card = bench.slack.add_message("C0MENTIONS", "Nouvelle mention…", user="U0BOT")
    event = bench.at_vigie("on en fait quoi ?", channel="C0MENTIONS", thread_ts=card,
                           user="U0LEA")
    assert bench.flags.flag_app_mention(event) is None
    assert bench.mentions() == [] and bench.flag_rows() == []
    assert "Donnez-moi un lien" in bench.bot_replies("C0MENTIONS", card)[0]
