"""Instagram's services for one running Vigie: polling, the webhook route (mentions
completed with their text through `mentioned_comment` / `mentioned_media`), replies,
moderation, publishing and what `vigie check` verifies — one `MetaAccounts`, so every
call made with a token is paced by the same usage headers."""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING

from bot.config import PostTarget
from bot.connectors import Fetched, PollState, SourceFailure
from bot.connectors.doubt import Unproven
from bot.connectors.publishers import (
    Outgoing,
    Published,
    PublishRateLimited,
    PublishRejected,
)
from bot.mentions.models import Mention
from bot.moderation.models import ActionKind, ModerationAction
from bot.moderation.platforms import Done, NotPossible
from bot.platforms.base import Connection, Context, WebRoute
from bot.platforms.facebook.services import check_source
from bot.platforms.instagram import CAPTION_LIMIT
from bot.platforms.meta import actions, readers
from bot.platforms.meta.accounts import (
    MetaAccounts,
    action_failure,
    graph_call,
    mention_of,
    meta_doubt,
    poll_failure,
    publish_failure,
    reply_failure,
)
from bot.platforms.meta.graph import GraphClient, GraphFailure
from bot.platforms.meta.models import MetaItem
from bot.platforms.meta.push import webhook_routes
from bot.reasons import Reason
from bot.replies.models import Reply
from bot.replies.platforms import SendFailed, Sent, Target, by_hand

if TYPE_CHECKING:
    from bot.config import Source
    from bot.mentions.service import Intake

DOUBT = meta_doubt("instagram")
FEATURES = ("listen", "reply", "moderate", "publish")
WEBHOOK_MAX_WAIT = 2.0  # a mention's text is read while Meta waits for the answer
IMAGE_LINK = re.compile(r"https?://\S+?\.(?:jpe?g|png)(?:\?\S*)?(?=\s|$)", re.IGNORECASE)


def instagram_connection(context: Context) -> Connection:
    accounts = MetaAccounts(context, "instagram", "Instagram")
    profiles = Profiles(accounts)

    def complete(item: MetaItem, source: Source) -> MetaItem | None:
        """A mention carries only ids: read its text and author (quickly, or skip it —
        the poll does not see mentions, so it is logged)."""
        if item.item != "mention":
            return item
        try:
            client = accounts.client(source, max_wait=WEBHOOK_MAX_WAIT)
            return readers.read_instagram_mention(client, source.setting("account_id"), item)
        except (GraphFailure, SourceFailure) as failure:
            import logging

            logging.getLogger(__name__).warning(
                "Instagram mention %s could not be read: %s", item.item_id, failure)
            return None

    def push(intake: Intake) -> list[WebRoute]:
        return list(webhook_routes(accounts, intake, complete=complete))

    def check(source: Source) -> str | None:
        note = check_source(accounts, source, "instagram", FEATURES)
        if note is None:
            return None
        try:
            quota = actions.instagram_quota(accounts.client(source),
                                            source.setting("account_id") or "")
        except GraphFailure as failure:
            raise SourceFailure(failure.reason) from None
        return f"{note}; {quota.used} of {quota.total} posts published in the last 24 h"

    return Connection(poll=InstagramPoller(accounts), push=push,
                      replier=InstagramReplier(accounts, profiles),
                      publisher=InstagramPublisher(accounts),
                      moderator=InstagramModerator(accounts), check=check,
                      notes=accounts.usage_notes)


class Profiles:
    """Each account's username (replies are found by it), read once."""

    def __init__(self, accounts: MetaAccounts) -> None:
        self._accounts = accounts
        self._names: dict[str, str] = {}
        self._lock = threading.Lock()

    def username(self, client: GraphClient, ig_user_id: str) -> str:
        with self._lock:
            known = self._names.get(ig_user_id)
        if known is None:
            known = str(client.get(ig_user_id, {"fields": "username"}).get("username") or "")
            with self._lock:
                self._names[ig_user_id] = known
        return known


class InstagramPoller:
    """Comments and replies on the account's recent media since the cursor."""

    def __init__(self, accounts: MetaAccounts) -> None:
        self._accounts = accounts

    def __call__(self, source: Source, state: PollState) -> Fetched:
        client = self._accounts.client(source)
        try:
            polled = readers.read_instagram_comments(client, source.setting("account_id"),
                                                     cursor=state.cursor)
        except GraphFailure as failure:
            raise poll_failure(failure) from None
        return Fetched([mention_of(item, source) for item in polled.items
                        if not item.by_account], cursor=polled.cursor)


class InstagramReplier:
    """A reply under a first-level comment (`/{comment-id}/replies`), or where the
    account was mentioned (`/{ig-user-id}/mentions`). What Instagram refuses (a reply
    to a hidden comment, to a reply) is said on the card before anything is sent."""

    doubt = DOUBT

    def __init__(self, accounts: MetaAccounts, profiles: Profiles) -> None:
        self._accounts = accounts
        self._profiles = profiles

    def target(self, mention: Mention) -> Target:
        if not mention.platform_ref:
            return by_hand(mention, "no_ref")
        if self._accounts.by_vigie_account(mention.account_id) is None:
            return by_hand(mention, "no_account")
        return Target("instagram", "Instagram", CAPTION_LIMIT)

    def send(self, reply: Reply, mention: Mention) -> Sent:
        client, source = self._accounts.for_reply(reply)
        comment_id = mention.platform_ref or ""
        if mention.visibility == "mention":
            media = mention.root_ref or comment_id
            reply_id = graph_call(lambda: actions.reply_instagram_mention(
                client, source.setting("account_id") or "", media_id=media,
                comment_id=comment_id if comment_id != media else None, text=reply.text),
                reply_failure)
            return Sent(reply_id, mention.url)
        refusal = actions.instagram_reply_refusal(self._as_now(client, mention), reply.text)
        if refusal is not None:
            raise SendFailed(refusal, retryable=False)
        reply_id = graph_call(lambda: actions.reply_instagram(client, comment_id, reply.text),
                              reply_failure)
        return Sent(reply_id, mention.url)

    def _as_now(self, client: GraphClient, mention: Mention) -> MetaItem:
        """The comment as Instagram has it now (hidden since? a reply?)."""
        try:
            live = client.get(mention.platform_ref or "", {"fields": "id,hidden,parent_id"},
                              needs="instagram_manage_comments")
        except GraphFailure as failure:
            raise reply_failure(failure) from None
        return MetaItem(platform="instagram", account_id="", kind="new", item="comment",
                        item_id=mention.platform_ref or "",
                        parent_id=str(live.get("parent_id") or mention.platform_cid or "")
                        or None, hidden=bool(live.get("hidden")))

    def find(self, reply: Reply, mention: Mention) -> Sent | None:
        if reply.attempted_at is None:
            raise SendFailed(Reason("reply.by_hand", kind=str(reply.kind)), retryable=False)
        client, source = self._accounts.for_reply(reply)
        if mention.visibility == "mention" and mention.platform_ref == mention.root_ref:
            raise Unproven("a reply on a media where the account was mentioned")
        try:
            username = self._profiles.username(client, source.setting("account_id") or "")
            found = actions.find_instagram_reply(client, mention.platform_ref or "",
                                                 username=username, text=reply.text,
                                                 since=reply.attempted_at)
        except GraphFailure as failure:
            raise SendFailed(failure.reason) from None
        return Sent(found, mention.url) if found else None

class InstagramModerator:
    """Hide (undo: show again) and delete a comment on the account's media."""

    def __init__(self, accounts: MetaAccounts) -> None:
        self._accounts = accounts

    def actions_for(self, mention: Mention) -> list[str]:
        if self._accounts.by_vigie_account(mention.account_id) is None:
            raise NotPossible("no_account")
        if not mention.platform_ref or mention.visibility != "comment" \
                or mention.remote_state == "removed":
            return []  # a mention elsewhere is not the account's to hide
        return [ActionKind.HIDE, ActionKind.DELETE]

    def perform(self, mention: Mention, action: str, comment: str | None) -> Done:
        client = self._accounts.for_action(mention.account_id)
        target = mention.platform_ref or ""
        if action == ActionKind.HIDE:
            graph_call(lambda: actions.hide_instagram(client, target, True), action_failure)
        elif action == ActionKind.DELETE:
            graph_call(lambda: actions.delete_instagram(client, target), action_failure)
        else:
            raise NotPossible("no_platform")
        return Done(mention.author_handle, target)

    def undo(self, row: ModerationAction) -> None:
        if row.action != ActionKind.HIDE or not row.remote_ref:
            raise NotPossible("no_platform")
        client = self._accounts.for_action(row.account_id)
        ref = row.remote_ref
        graph_call(lambda: actions.hide_instagram(client, ref, False), action_failure)

def image_of(text: str) -> str | None:
    """The post's picture: its first link to a .jpg / .png (Instagram fetches it)."""
    found = IMAGE_LINK.search(text)
    return found.group(0) if found else None


class InstagramPublisher:
    """Approved posts with a picture: a container Instagram fetches the image into,
    then `media_publish`, within the account's 50 posts a day (asked before each)."""

    kind = "instagram"
    max_length = CAPTION_LIMIT
    doubt = DOUBT

    def __init__(self, accounts: MetaAccounts) -> None:
        self._accounts = accounts

    def limit(self, target: PostTarget) -> int:
        return CAPTION_LIMIT

    def length(self, text: str) -> int:
        return len(text)

    def serves(self, target: PostTarget) -> bool:
        source = self._accounts.by_vigie_account(target.account)
        return source is not None and bool(self._accounts.secret(source, "token_env"))

    def publish(self, outgoing: Outgoing) -> Published:
        image = image_of(outgoing.text)
        if image is None:  # refused before anything is sent, on the post's card
            raise PublishRejected(Reason("meta.needs_image"), permanent=True)
        client, ig_user_id = self._accounts.for_post(outgoing)
        try:
            quota = actions.instagram_quota(client, ig_user_id)
            if quota.left <= 0:
                raise PublishRateLimited(Reason("meta.publish_quota", platform="Instagram",
                                                used=quota.used, total=quota.total), 3600.0)
            container = actions.instagram_container(client, ig_user_id, image_url=image,
                                                    caption=outgoing.text)
            media_id = actions.publish_container(client, ig_user_id, container,
                                                 platform="instagram")
        except GraphFailure as failure:
            raise publish_failure(failure) from None
        return Published(media_id, self._permalink(client, media_id))

    def find(self, outgoing: Outgoing) -> Published | None:
        client, ig_user_id = self._accounts.for_post(outgoing)
        try:
            found = actions.find_instagram_post(client, ig_user_id, caption=outgoing.text,
                                                since=outgoing.attempt_started)
        except GraphFailure as failure:
            raise publish_failure(failure) from None
        return Published(found, self._permalink(client, found)) if found else None

    @staticmethod
    def _permalink(client: GraphClient, media_id: str) -> str | None:
        try:
            return str(client.get(media_id, {"fields": "permalink"}).get("permalink") or "") \
                or None
        except GraphFailure:
            return None  # published all the same: the link is a nicety
