"""The Slack channel publisher: an approved post becomes a message in a channel.

Each message carries metadata naming its post and target, so after an unknown outcome
(timeout, 5xx) the channel's history tells whether the earlier attempt went through,
as the mention relay does for cards. chat.postMessage takes no idempotency key, so a
message not found is never sent again by Vigie itself (`bot.connectors.doubt.SLACK`).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from bot.config import PostTarget
from bot.connectors.doubt import SLACK
from bot.connectors.publishers import (
    DEFAULT_LIMITS,
    Outgoing,
    Published,
    PublishOutcomeUnknown,
    PublishRateLimited,
    PublishRejected,
    PublishUnavailable,
)
from bot.reasons import Reason
from bot.slack import (
    SlackError,
    SlackGateway,
    SlackOutcomeUnknown,
    SlackPaced,
    SlackRateLimited,
    SlackRejected,
    SlackUnavailable,
)
from bot.slack_format import Message, escape, mrkdwn

POST_EVENT_TYPE = "vigie_post"
_URL = re.compile(r"https?://[^\s<>]+[^\s<>.,;:!?)\]'\"]")
# Errors for which another attempt changes nothing until a human fixes something.
PERMANENT = frozenset({
    "channel_not_found", "not_in_channel", "is_archived", "msg_too_long", "no_text",
    "invalid_blocks", "invalid_blocks_format", "restricted_action", "invalid_auth",
    "not_authed", "account_inactive", "token_revoked", "missing_scope", "ekm_access_denied",
    "too_many_attachments", "invalid_metadata_format", "team_access_not_granted",
})


def linkified(text: str) -> str:
    """Escape a staff-written post for Slack, keeping its bare URLs clickable.

    Escaping stops `<!channel>` and `<@U…>` from pinging anyone; links are rebuilt
    explicitly because the block is `verbatim` (nothing else is auto-parsed).
    """
    pieces: list[str] = []
    last = 0
    for match in _URL.finditer(text):
        pieces.append(escape(text[last:match.start()]))
        url = match.group(0)
        pieces.append(f"<{escape(url).replace('|', '%7C')}>")
        last = match.end()
    pieces.append(escape(text[last:]))
    return "".join(pieces)


def post_message(outgoing: Outgoing) -> Message:
    body = linkified(outgoing.text)
    return Message(
        text=body[:3000],
        blocks=[{"type": "section", "text": mrkdwn(body[:3000])}],
        metadata={"event_type": POST_EVENT_TYPE,
                  "event_payload": {"post_id": outgoing.post_id, "key": outgoing.key}},
    )


class SlackChannelPublisher:
    kind = "slack"
    max_length = DEFAULT_LIMITS["slack"]
    doubt = SLACK

    def __init__(self, slack: SlackGateway) -> None:
        self._slack = slack

    def limit(self, target: PostTarget) -> int:
        return self.max_length

    def length(self, text: str) -> int:
        return len(text)

    def serves(self, target: PostTarget) -> bool:
        return bool(target.channel)

    def publish(self, outgoing: Outgoing) -> Published:
        channel = self._channel(outgoing)
        try:
            posted = self._slack.post_message(channel, post_message(outgoing))
        except SlackRateLimited as exc:
            raise PublishRateLimited(Reason("publish.slack_rate_limited"), exc.retry_after,
                                     paced=isinstance(exc, SlackPaced)) from None
        except SlackUnavailable as exc:
            raise PublishUnavailable(Reason("publish.slack_unreachable", error=str(exc))) \
                from None
        except SlackOutcomeUnknown as exc:
            raise PublishOutcomeUnknown(Reason("publish.slack_no_answer", error=str(exc)),
                                        answered=exc.answered) from None
        except SlackRejected as exc:
            raise PublishRejected(Reason("publish.slack_refused", error=str(exc)),
                                  permanent=exc.error in PERMANENT) from None
        return Published(external_id=posted.ts, url=self._permalink(posted.channel, posted.ts))

    def find(self, outgoing: Outgoing) -> Published | None:
        channel = self._channel(outgoing)

        def ours(message: dict[str, Any]) -> bool:
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            return bool(metadata.get("event_type") == POST_EVENT_TYPE
                        and payload.get("key") == outgoing.key)

        try:
            ts = self._slack.find_message(
                channel, since=outgoing.attempt_started - timedelta(minutes=1), matches=ours
            )
        except SlackError as exc:
            raise PublishUnavailable(Reason("publish.lookup_failed", error=str(exc))) from None
        if ts is None:
            return None
        return Published(external_id=ts, url=self._permalink(channel, ts))

    def _permalink(self, channel: str, ts: str) -> str | None:
        try:
            return self._slack.permalink(channel, ts)
        except SlackError:
            return None  # the message is out; a missing link is not worth a retry

    @staticmethod
    def _channel(outgoing: Outgoing) -> str:
        channel = outgoing.target.channel
        if not channel:
            raise PublishRejected(Reason("publish.no_channel", target=outgoing.target.id),
                                  permanent=True)
        return channel
