"""Facebook Pages' services for one running Vigie: polling, the webhook route, replies,
moderation, publishing and what `vigie check` verifies — all through one
`MetaAccounts`, so every call made with a Page's token is paced by the same usage
headers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.config import PostTarget
from bot.connectors import Fetched, PollState, SourceFailure
from bot.connectors.publishers import (
    Outgoing,
    Published,
)
from bot.mentions.models import Mention
from bot.moderation.models import ActionKind, ModerationAction
from bot.moderation.platforms import Done, NotPossible
from bot.platforms.base import Connection, Context
from bot.platforms.facebook import COMMENT_LIMIT, POST_LIMIT
from bot.platforms.meta import actions, graph, readers
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
from bot.platforms.meta.graph import GraphFailure
from bot.platforms.meta.push import webhook_routes
from bot.reasons import Reason
from bot.replies.models import Reply
from bot.replies.platforms import SendFailed, Sent, Target, by_hand

if TYPE_CHECKING:
    from bot.config import Source
    from bot.mentions.service import Intake

DOUBT = meta_doubt("facebook")
FEATURES = ("listen", "reply", "moderate", "publish")


def facebook_connection(context: Context) -> Connection:
    accounts = MetaAccounts(context, "facebook", "Facebook")

    def push(intake: Intake) -> list:  # type: ignore[type-arg]
        return list(webhook_routes(accounts, intake))

    def check(source: Source) -> str | None:
        return check_source(accounts, source, "facebook", FEATURES)

    return Connection(poll=FacebookPoller(accounts), push=push,
                      replier=FacebookReplier(accounts), publisher=FacebookPublisher(accounts),
                      moderator=FacebookModerator(accounts), check=check,
                      notes=accounts.usage_notes)


def check_source(accounts: MetaAccounts, source: Source, platform: str,
                 features: tuple[str, ...]) -> str | None:
    """The token's owner and usage; `SourceFailure` naming each missing permission."""
    if not accounts.secret(source, "token_env"):
        return None  # `secret_problems` says so
    client = accounts.client(source)
    try:
        granted = graph.token_scopes(client)
        me = client.get(source.setting("account_id") or "me",
                        {"fields": "id,name" if platform == "facebook" else "id,username"})
    except GraphFailure as failure:
        raise SourceFailure(failure.reason) from None
    missing = graph.missing_permissions(granted, platform, features)
    if missing:  # each with what it is for: "pages_manage_posts (publish)"
        needed_for = {p: [f for f in features if p in graph.PERMISSIONS[platform].get(f, ())]
                      for p in missing}
        raise SourceFailure(Reason("meta.permissions_missing", platform=accounts.label,
                                   permissions=", ".join(f"{p} ({', '.join(needed_for[p])})"
                                                         for p in missing)))
    who = me.get("name") or f"@{me.get('username')}"
    usage = client.usage.reason(accounts.label)
    return f"{accounts.label} token of {who} ({me.get('id')}); {usage}"


class FacebookPoller:
    """Comments under the Page's recent posts since the cursor (the webhook's fallback)."""

    def __init__(self, accounts: MetaAccounts) -> None:
        self._accounts = accounts

    def __call__(self, source: Source, state: PollState) -> Fetched:
        client = self._accounts.client(source)
        try:
            polled = readers.read_page_comments(client, source.setting("account_id"),
                                                cursor=state.cursor)
        except GraphFailure as failure:
            raise poll_failure(failure) from None
        return Fetched([mention_of(item, source) for item in polled.items
                        if not item.by_account], cursor=polled.cursor)


class FacebookReplier:
    """The Page's reply under the comment (`POST /{comment-id}/comments`). Meta takes no
    idempotency key: after a lost answer the reply is looked for, never sent again by
    Vigie itself (`DOUBT`)."""

    doubt = DOUBT

    def __init__(self, accounts: MetaAccounts) -> None:
        self._accounts = accounts

    def target(self, mention: Mention) -> Target:
        if not mention.platform_ref:
            return by_hand(mention, "no_ref")
        if self._accounts.by_vigie_account(mention.account_id) is None:
            return by_hand(mention, "no_account")
        return Target("facebook", "Facebook", COMMENT_LIMIT)

    def send(self, reply: Reply, mention: Mention) -> Sent:
        client, _ = self._accounts.for_reply(reply)
        reply_id = graph_call(lambda: actions.reply_facebook(
            client, mention.platform_ref or "", reply.text), reply_failure)
        return Sent(reply_id, facebook_url(reply_id))

    def find(self, reply: Reply, mention: Mention) -> Sent | None:
        if reply.attempted_at is None:
            raise SendFailed(Reason("reply.by_hand", kind=str(reply.kind)), retryable=False)
        client, source = self._accounts.for_reply(reply)
        # A reply to a reply lands in the first-level comment's thread.
        thread = mention.platform_cid or mention.platform_ref or ""
        try:
            found = actions.find_facebook_reply(
                client, thread, page_id=source.setting("account_id") or "",
                text=reply.text, since=reply.attempted_at)
        except GraphFailure as failure:
            raise SendFailed(failure.reason) from None
        return Sent(found, facebook_url(found)) if found else None

class FacebookModerator:
    """Hide (undo: show again) and delete a comment on one of the Page's posts."""

    def __init__(self, accounts: MetaAccounts) -> None:
        self._accounts = accounts

    def actions_for(self, mention: Mention) -> list[str]:
        if self._accounts.by_vigie_account(mention.account_id) is None:
            raise NotPossible("no_account")
        if not mention.platform_ref or mention.remote_state == "removed":
            return []
        if mention.visibility == "comment":
            return [ActionKind.HIDE, ActionKind.DELETE]
        if mention.visibility == "post":
            return [ActionKind.DELETE]  # a visitor's post on the Page
        return []  # the Page mentioned elsewhere: not the Page's to hide or delete

    def perform(self, mention: Mention, action: str, comment: str | None) -> Done:
        client = self._accounts.for_action(mention.account_id)
        target = mention.platform_ref or ""
        if action == ActionKind.HIDE:
            graph_call(lambda: actions.hide_facebook(client, target, True), action_failure)
        elif action == ActionKind.DELETE:
            graph_call(lambda: actions.delete_facebook(client, target), action_failure)
        else:
            raise NotPossible("no_platform")
        return Done(mention.author_handle, target)

    def undo(self, row: ModerationAction) -> None:
        if row.action != ActionKind.HIDE or not row.remote_ref:
            raise NotPossible("no_platform")
        client = self._accounts.for_action(row.account_id)
        ref = row.remote_ref
        graph_call(lambda: actions.hide_facebook(client, ref, False), action_failure)

class FacebookPublisher:
    """Approved posts on the Page (`POST /{page-id}/feed`). No idempotency key either:
    after a lost answer the Page's posts since the attempt are read (`find`)."""

    kind = "facebook"
    max_length = POST_LIMIT
    doubt = DOUBT

    def __init__(self, accounts: MetaAccounts) -> None:
        self._accounts = accounts

    def limit(self, target: PostTarget) -> int:
        return POST_LIMIT

    def length(self, text: str) -> int:
        return len(text)

    def serves(self, target: PostTarget) -> bool:
        source = self._accounts.by_vigie_account(target.account)
        return source is not None and bool(self._accounts.secret(source, "token_env"))

    def publish(self, outgoing: Outgoing) -> Published:
        client, page_id = self._accounts.for_post(outgoing)
        post_id = graph_call(lambda: actions.publish_facebook(client, page_id, outgoing.text),
                             publish_failure)
        return Published(post_id, facebook_url(post_id))

    def find(self, outgoing: Outgoing) -> Published | None:
        client, page_id = self._accounts.for_post(outgoing)
        try:
            found = actions.find_facebook_post(client, page_id, text=outgoing.text,
                                               since=outgoing.attempt_started)
        except GraphFailure as failure:
            raise publish_failure(failure) from None
        return Published(found, facebook_url(found)) if found else None

def facebook_url(object_id: str) -> str:
    """Where a Page post or comment opens: facebook.com resolves an object's id."""
    return f"https://www.facebook.com/{object_id}"
