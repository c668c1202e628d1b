"""Moderation on X, as the newsroom account the mention was for: hide a reply in one of
its conversations (`PUT /2/tweets/:id/hidden`, undone by unhiding), mute or block the
author (`POST /2/users/:id/muting` and `/blocking` with `target_user_id`, undone by
`DELETE …/:target_user_id`). The author's user id came with the mention (`ref.cid`), so
no post is read (and paid for) first. Each call is paid from the monthly budget."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from bot.config import Source
from bot.connectors import SourceFailure
from bot.mentions.models import Mention
from bot.moderation.models import ActionKind, ModerationAction
from bot.moderation.platforms import ActionFailed, Done, NotPossible
from bot.platforms.x.api import XFailure
from bot.platforms.x.client import XClients, budget_failure
from bot.platforms.x.spend import BudgetSpent, Purpose, micros

ACTIONS = (ActionKind.HIDE, ActionKind.MUTE, ActionKind.BLOCK)


class XModerator:
    def __init__(self, clients: XClients) -> None:
        self._clients = clients

    def actions_for(self, mention: Mention) -> list[str]:
        self._source(mention.account_id)
        actions = []
        if mention.platform_ref and mention.root_ref and mention.root_ref != mention.platform_ref:
            actions.append(ActionKind.HIDE)  # only a reply can be hidden
        if mention.platform_cid:
            actions += [ActionKind.MUTE, ActionKind.BLOCK]
        if not actions:
            raise NotPossible("no_platform")
        return list(actions)

    def perform(self, mention: Mention, action: str, comment: str | None) -> Done:
        source = self._source(mention.account_id)
        prices = self._clients.prices
        with self._failures():
            if action == ActionKind.HIDE:
                self._call(source, "PUT", f"/2/tweets/{mention.platform_ref}/hidden",
                           "PUT /2/tweets/:id/hidden", micros(prices.content_manage),
                           body={"hidden": True})
                return Done(mention.platform_cid, mention.platform_ref)
            me = self._clients.user_id(source)
            edge = "muting" if action == ActionKind.MUTE else "blocking"
            self._call(source, "POST", f"/2/users/{me}/{edge}", f"POST /2/users/:id/{edge}",
                       micros(prices.user_interaction),
                       body={"target_user_id": mention.platform_cid})
            return Done(mention.platform_cid, None)

    def undo(self, row: ModerationAction) -> None:
        source = self._source(row.account_id)
        prices = self._clients.prices
        with self._failures():
            if row.action == ActionKind.HIDE:
                self._call(source, "PUT", f"/2/tweets/{row.remote_ref}/hidden",
                           "PUT /2/tweets/:id/hidden", micros(prices.content_manage),
                           body={"hidden": False})
                return
            me = self._clients.user_id(source)
            if row.action == ActionKind.MUTE:
                self._call(source, "DELETE", f"/2/users/{me}/muting/{row.target}",
                           "DELETE /2/users/:id/muting", micros(prices.mute_delete))
            elif row.action == ActionKind.BLOCK:
                self._call(source, "DELETE", f"/2/users/{me}/blocking/{row.target}",
                           "DELETE /2/users/:id/blocking", micros(prices.interaction_delete))

    def _call(self, source: Source, method: str, path: str, endpoint: str, price: int,
              body: dict[str, object] | None = None) -> None:
        api = self._clients.api(source)
        with self._clients.budget.spend(account=source.id, purpose=Purpose.MODERATE,
                                        most=price) as record:
            api.call(method, path, endpoint=endpoint, body=body)
            record(1, price)

    def _source(self, account_id: str | None) -> Source:
        source = self._clients.for_account(account_id or "")
        if source is None or not account_id:
            raise NotPossible("no_account")
        return source

    @staticmethod
    @contextmanager
    def _failures() -> Iterator[None]:
        try:
            yield
        except BudgetSpent as spent:
            raise ActionFailed(budget_failure(spent, purpose="moderate")) from None
        except (XFailure, SourceFailure) as failure:
            raise ActionFailed(failure.reason) from None
