"""Facebook Pages end to end: the real Vigie, its Graph client pointed at FakeGraph and
Meta's signed deliveries POSTed to `/webhooks/facebook`. A comment becomes one card
however often it is delivered or polled; Reply answers it on the Page once (also after
a lost answer); Hide hides it and Delete deletes it; an edit and a removal show on the
card; an approved post is on the Page once; a forged delivery changes nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from sqlmodel import Session, select

from bot.app import build
from bot.clock import SystemClock
from bot.config import Config
from bot.mentions.models import Mention
from bot.moderation.models import ActionState, ModerationAction
from bot.sandbox.driver import SlackDriver
from bot.sandbox.slack import FakeSlack
from tests.conftest import SIGNING_SECRET, make_settings
from tests.e2e.replies.conftest import STAFF, Desk, until
from tests.e2e.test_posts_flow import APPROVALS, EDITOR, open_draft, preview, submit
from tests.support.facebook import APP_SECRET, FACEBOOK_ENV, PAGE_TOKEN, VERIFY_TOKEN, with_facebook
from tests.support.graph_server import FakeGraph
from tests.support.harness import RunningVigie
from tests.support.meta_webhooks import Meta, page_comment


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with FakeGraph() as fake:
        yield fake


@pytest.fixture
def page(graph: FakeGraph) -> str:
    return graph.add_page("La Matinale", token=PAGE_TOKEN)


@pytest.fixture
def facebook_desk(database_url: str, config: Config, environ: dict[str, str],
                  slack: FakeSlack, graph: FakeGraph, page: str) -> Iterator[Desk]:
    newsroom = with_facebook(config, graph.url, page)
    for user, name in ((STAFF, "marie"), (EDITOR, "eve")):
        slack.add_user(user, name)
    env = {**environ, **FACEBOOK_ENV}
    vigie = RunningVigie(build(make_settings(database_url, slack.base_url), newsroom,
                               clock=SystemClock(), environ=env, platform_timeout=1.0)).start()
    driver = SlackDriver(f"{vigie.url}/slack/events", SIGNING_SECRET, fake=slack)
    yield Desk(vigie, slack, driver, None, None)  # type: ignore[arg-type]
    driver.close()
    vigie.stop()


def meta(desk: Desk) -> Meta:
    return Meta(f"{desk.vigie.url}/webhooks/facebook", APP_SECRET)


def facebook_mentions(desk: Desk) -> list[Mention]:
    with Session(desk.vigie.vigie.engine) as session:
        return list(session.exec(select(Mention).where(Mention.platform == "facebook")))


def commented(desk: Desk, graph: FakeGraph, page: str, text: str) -> tuple[str, Mention]:
    """A visitor's comment under a Page post, delivered by webhook: its id and card."""
    post = graph.add_post(page, "Ce matin : la ministre de la Culture")
    comment = graph.add_comment(post, text)
    assert meta(desk).deliver(page_comment(page, comment_id=comment, post_id=post,
                                           message=text)) == [200]
    mention = until(desk.slack, lambda: next(
        (m for m in facebook_mentions(desk) if m.slack_ts), None))
    return comment, mention


def test_a_page_comment_is_one_card_however_often_delivered_or_polled(
        facebook_desk: Desk, graph: FakeGraph, page: str) -> None:
    """The handshake echoes the challenge; a comment delivered, retried by Meta and then
    polled is one card in the account's channel; the Page's own reply is no mention."""
    desk = facebook_desk
    assert meta(desk).verify(VERIFY_TOKEN).text == "1158201444"
    assert meta(desk).verify("wrong").status_code == 403
    comment, mention = commented(desk, graph, page, "Pourquoi pas de podcast hier ?")
    assert mention.platform_ref == comment and mention.external_id == f"facebook:{comment}"
    post = graph.objects[comment]["_post"]
    again = page_comment(page, comment_id=comment, post_id=post,
                         message="Pourquoi pas de podcast hier ?")
    assert meta(desk).deliver(again) == [200]
    graph.add_comment(post, "Merci pour vos réponses", author=(page, "La Matinale"))
    own = page_comment(page, comment_id=f"{post.split('_')[1]}_9", post_id=post,
                       message="Merci", author=(page, "La Matinale"))
    assert meta(desk).deliver(own) == [200]
    assert desk.vigie.vigie.listen and desk.vigie.vigie.listen.poller
    report = desk.vigie.vigie.listen.poller.poll_due().of("fb-matinale")
    assert (report.stored, report.error) == (0, None)
    assert len(facebook_mentions(desk)) == 1
    card = desk.card_text(mention)
    assert "Pourquoi pas de podcast hier ?" in card and "Kévin Fan" in card


def test_a_forged_delivery_is_refused_and_changes_nothing(
        facebook_desk: Desk, graph: FakeGraph, page: str) -> None:
    desk = facebook_desk
    post = graph.add_post(page, "Un post")
    forged = page_comment(page, comment_id=f"{post.split('_')[1]}_1", post_id=post,
                          message="faux")
    assert meta(desk).deliver(forged, secret="not-the-app-secret") == [403]
    assert meta(desk).deliver(forged, header="sha256=00") == [403]
    assert meta(desk).deliver(forged, header="") == [403]
    assert facebook_mentions(desk) == []


def test_edits_and_removals_show_on_the_card(facebook_desk: Desk, graph: FakeGraph,
                                             page: str) -> None:
    desk = facebook_desk
    comment, mention = commented(desk, graph, page, "Le son était mauvais")
    post = graph.objects[comment]["_post"]
    assert meta(desk).deliver(page_comment(page, comment_id=comment, post_id=post,
                                           message="Le son était parfait", verb="edited")
                              ) == [200]
    desk.card_shows(mention, "Le son était parfait", "Modifiée par son auteur sur Facebook")
    assert meta(desk).deliver(page_comment(page, comment_id=comment, post_id=post,
                                           message=None, verb="remove")) == [200]
    desk.card_shows(mention, "Supprimée de Facebook")
    assert len(facebook_mentions(desk)) == 1


def test_reply_answers_the_comment_on_the_page_once(facebook_desk: Desk, graph: FakeGraph,
                                                    page: str) -> None:
    desk = facebook_desk
    comment, mention = commented(desk, graph, page, "À quelle heure la météo ?")
    view = desk.open_reply(STAFF, mention)
    assert "sous le commentaire" in json.dumps(view["blocks"], ensure_ascii=False)
    desk.submit(STAFF, view, "À 7 h 55, tous les matins !")
    reply = desk.reply_in(mention.id or 0, "sent")
    [answer] = graph.children("fb_comment", _parent=comment)
    assert answer["message"] == "À 7 h 55, tous les matins !"
    assert answer["from"]["id"] == page and reply.remote_id == answer["id"]
    desk.card_shows(mention, "Répondu sur Facebook")
    assert len(graph.calls("POST", f"/{comment}/comments")) == 1


def test_a_reply_whose_answer_is_lost_is_looked_for_never_sent_twice(
        facebook_desk: Desk, graph: FakeGraph, page: str) -> None:
    """Meta takes the reply but answers with a server error, then takes another and
    answers after Vigie's timeout: each time Vigie looks for it on the Page instead of
    sending it again (Meta has no idempotency key)."""
    desk = facebook_desk
    comment, mention = commented(desk, graph, page, "Vous pouvez corriger le titre ?")
    graph.fail_next(f"/{comment}/comments", status=500, code=2, created=True)
    desk.submit(STAFF, desk.open_reply(STAFF, mention), "C'est corrigé, merci !")
    reply = desk.reply_in(mention.id or 0, "sent")  # found at once: the request was over
    [answer] = graph.children("fb_comment", _parent=comment)
    assert reply.remote_id == answer["id"]
    assert len(graph.calls("POST", f"/{comment}/comments")) == 1


def test_a_reply_answered_too_late_is_not_sent_again(facebook_desk: Desk, graph: FakeGraph,
                                                    page: str) -> None:
    """No answer before Vigie's timeout, but Meta posts it: unconfirmed (or found), and
    the sweeps never post it a second time."""
    desk = facebook_desk
    comment, mention = commented(desk, graph, page, "Et le podcast ?")
    graph.hang_next(f"/{comment}/comments", 2.0)
    desk.submit(STAFF, desk.open_reply(STAFF, mention), "Il arrive ce soir.")
    desk.reply_in(mention.id or 0, "unconfirmed", "sent")
    until(desk.slack, lambda: graph.children("fb_comment", _parent=comment), timeout=10)
    desk.vigie.vigie.replies.desk.sweep()
    assert desk.replies(mention.id or 0)[-1].state in ("unconfirmed", "sent")
    assert len(graph.calls("POST", f"/{comment}/comments")) == 1


def moderate(desk: Desk, mention: Mention, action: str) -> None:
    card = desk.card(desk.mention(mention.id or 0))
    [act] = [e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]
             if e["action_id"] == "moderate.act"]
    assert act["text"]["text"] == "Modérer sur Facebook…"  # not Mastodon's mute/block/report
    desk.driver.click(STAFF, "moderate.act", message={"ts": mention.slack_ts},
                      channel_id=mention.slack_channel)
    modal = until(desk.slack, lambda: [v for v in desk.slack.views_for(STAFF)
                                       if v.get("callback_id") == "moderate_act"])[-1]
    offered = json.dumps(modal["blocks"], ensure_ascii=False)
    assert "Cacher la réponse" in offered and "Supprimer" in offered
    desk.driver.view_submission(user_id=STAFF, view=modal,
                                values={"action": {"action": action}, "comment": {}})


def test_hide_hides_the_comment_and_delete_deletes_it(facebook_desk: Desk, graph: FakeGraph,
                                                      page: str) -> None:
    desk = facebook_desk
    comment, mention = commented(desk, graph, page, "Bande de vendus, tous des menteurs")
    moderate(desk, mention, "hide")
    desk.card_shows(mention, "Réponse cachée sur Facebook")
    assert graph.objects[comment]["is_hidden"] is True
    with Session(desk.vigie.vigie.engine) as session:
        [row] = session.exec(select(ModerationAction)).all()
    assert (row.action, row.state, row.remote_ref) == ("hide", ActionState.DONE, comment)
    card = desk.card(desk.mention(mention.id or 0))
    [unhide] = [e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]
                if e["action_id"] == "moderate.unhide"]
    assert unhide["text"]["text"] == "Afficher à nouveau"
    desk.driver.click(STAFF, "moderate.unhide", value=unhide["value"],
                      message={"ts": mention.slack_ts}, channel_id=mention.slack_channel)
    until(desk.slack, lambda: graph.objects[comment]["is_hidden"] is False)
    until(desk.slack, lambda: "Réponse cachée" not in desk.card_text(mention))
    moderate(desk, mention, "delete")
    desk.card_shows(mention, "Supprimée de Facebook par")
    assert comment not in graph.objects


def test_an_approved_post_is_on_the_page_once(facebook_desk: Desk, graph: FakeGraph,
                                              page: str) -> None:
    desk = facebook_desk
    text = "Demain 7h : la matinale reçoit la ministre. https://radio-exemple.fr/matinale"
    submit(desk.driver, open_draft(desk.driver, desk.slack, text),
           targets=("matinale-facebook",))
    card = preview(desk.slack, "En attente")
    desk.driver.reaction_added(EDITOR, "white_check_mark", APPROVALS, card["ts"])
    [post] = until(desk.slack, lambda: [p for p in graph.children("fb_post", _page=page)
                                        if p.get("_posted")], timeout=30)
    assert post["message"] == text
    shown = preview(desk.slack, "Publiée")
    assert f"https://www.facebook.com/{post['id']}" in json.dumps(shown["blocks"])
    time.sleep(0.5)
    assert len(graph.calls("POST", f"/{page}/feed")) == 1
