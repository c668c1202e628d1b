from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

from bot.clock import FrozenClock
from bot.config import Config
from bot.mentions.models import Author, Mention, MentionIn, RelayState
from bot.mentions.routing import Router
from bot.mentions.service import Intake, IntakeHooks, UnknownAccount


def incoming(external_id: str = "m1", text: str = "Quel livre à 7h50 ?", **extra: object
             ) -> MentionIn:
    values: dict[str, object] = {
        "external_id": external_id, "text": text, "author": Author(handle="@kev@pouet.example"),
        "created_at": datetime(2026, 11, 2, 7, 4, tzinfo=UTC), "platform": "mastodon",
    }
    values.update(extra)
    return MentionIn(**values)  # type: ignore[arg-type]


@pytest.fixture
def woken() -> list[int]:
    return []


@pytest.fixture
def intake(engine: Engine, config: Config, clock: FrozenClock, woken: list[int]) -> Intake:
    return Intake(engine=engine, config=config, router=Router(config), clock=clock,
                  on_stored=lambda: woken.append(1))


def stored(engine: Engine) -> list[Mention]:
    with Session(engine) as session:
        return list(session.exec(select(Mention).order_by(col(Mention.id))))


def test_new_mention_is_stored_routed_and_pending_relay(intake: Intake, engine: Engine,
                                                         woken: list[int]) -> None:
    """A mention is stored with its route and waits for its card; the relay is woken."""
    result = intake.ingest("monitoring", incoming(text="Mon avocat vous contactera"))
    assert not result.duplicate and result.channel == "C0LEGAL"
    [row] = stored(engine)
    assert (row.account_id, row.route, row.relay_state) == ("matinale", "legal",
                                                            RelayState.PENDING)
    assert row.received_at == datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    assert woken == [1]


def test_same_external_id_is_a_duplicate(intake: Intake, engine: Engine,
                                         woken: list[int]) -> None:
    """Posting the same id twice stores one mention and wakes nobody the second time."""
    first = intake.ingest("monitoring", incoming())
    again = intake.ingest("monitoring", incoming(text="edited text"))
    assert again.duplicate and again.mention_id == first.mention_id
    assert len(stored(engine)) == 1 and woken == [1]


def test_same_id_from_another_source_is_a_new_mention(intake: Intake, engine: Engine) -> None:
    """External ids are unique per source only."""
    intake.ingest("monitoring", incoming(text="un"))
    assert not intake.ingest("alerts", incoming(text="deux")).duplicate
    assert len(stored(engine)) == 2


def test_same_author_same_text_soon_after_is_a_duplicate(intake: Intake, clock: FrozenClock,
                                                         engine: Engine) -> None:
    """A repost differing only in case, accents and punctuation within 10 min is folded."""
    intake.ingest("monitoring", incoming("m1", "Scandale ! Honte à la Matinale"))
    assert intake.ingest("monitoring", incoming("m2", "scandale honte a la matinale")).duplicate
    clock.advance(minutes=11)
    assert not intake.ingest("monitoring", incoming("m3", "Scandale ! Honte à la Matinale")
                             ).duplicate
    assert len(stored(engine)) == 2


def test_unknown_account_is_refused_and_nothing_stored(intake: Intake, engine: Engine) -> None:
    """A mention naming an account the newsroom does not have is refused."""
    with pytest.raises(UnknownAccount) as caught:
        intake.ingest("monitoring", incoming(account="matinal"))
    assert "known: matinale, grand-debat" in str(caught.value)
    assert stored(engine) == []


def test_source_account_is_the_default(intake: Intake, engine: Engine) -> None:
    """Without an account, the source's configured account is used; alerts has none."""
    intake.ingest("monitoring", incoming("a", "un"))
    intake.ingest("alerts", incoming("b", "deux"))
    assert [m.account_id for m in stored(engine)] == ["matinale", None]


def test_the_same_change_delivered_again_changes_nothing(intake: Intake, engine: Engine,
                                                         clock: FrozenClock) -> None:
    """Found by the security campaign: Meta's webhooks carry no timestamp, so a replayed
    (or retried) edit or hide can only be neutralised here; it bumped the version, moved
    the change's time and redrew the card again (as did an "edit" to the text stored,
    which is how an edit of a never-seen post is first stored). A new change counts."""
    stored = intake.ingest("monitoring", incoming("m0001", account="matinale"))
    redrawn: list[int] = []
    intake.on_amended = redrawn.append
    intake.amend("monitoring", "m0001", state="edited", text="Quel livre à 7h50 ?")
    assert redrawn == []

    def row() -> tuple[str, int, object]:
        with Session(engine) as session:
            found = session.get(Mention, stored.mention_id)
            assert found is not None
            return found.text, found.version, found.remote_state_at

    assert intake.amend("monitoring", "m0001", state="edited", text="nouveau") == \
        stored.mention_id
    first = row()
    clock.advance(minutes=5)
    assert intake.amend("monitoring", "m0001", state="edited", text="nouveau") == \
        stored.mention_id
    assert row() == first and first[0] == "nouveau"
    assert redrawn == [stored.mention_id]
    intake.amend("monitoring", "m0001", state="edited", text="encore")
    assert len(redrawn) == 2


class LostDatabaseHook:
    """A triage hook whose query meets PostgreSQL restarting."""

    def __init__(self) -> None:
        self.stored_ids: list[int] = []

    def prepare(self, session: Session, mention: Mention) -> None:
        raise OperationalError("SELECT triage", {}, Exception(
            "consuming input failed: server closed the connection unexpectedly"))

    def stored(self, mention_id: int) -> None:
        self.stored_ids.append(mention_id)


@pytest.mark.parametrize("hooks", [1, 2], ids=["one hook", "hooks in a row"])
def test_a_hook_losing_the_database_fails_the_intake_not_the_triage(
        engine: Engine, config: Config, clock: FrozenClock, hooks: int,
        caplog: pytest.LogCaptureFixture) -> None:
    """Found by campaign.database: PostgreSQL restarted during a new mention's triage;
    the mention was to be stored "untriaged" on the dead connection (a traceback, then
    PendingRollbackError). A lost database is not a triage bug: the intake fails, the
    web edge answers 503, nothing is stored, and the mention sent again is triaged."""
    hook = LostDatabaseHook() if hooks == 1 else IntakeHooks(LostDatabaseHook(),
                                                             LostDatabaseHook())
    intake = Intake(engine=engine, config=config, router=Router(config), clock=clock,
                    hook=hook)
    with pytest.raises(OperationalError):
        intake.ingest("monitoring", incoming())
    assert stored(engine) == []
    assert "untriaged" not in caplog.text and "failed on new mention" not in caplog.text


def test_a_hook_bug_still_stores_the_mention_untriaged(engine: Engine, config: Config,
                                                       clock: FrozenClock) -> None:
    """What the savepoint is for: a hook that fails on the mention itself loses its own
    work only."""

    class Buggy(LostDatabaseHook):
        def prepare(self, session: Session, mention: Mention) -> None:
            raise ValueError("a bug")

    intake = Intake(engine=engine, config=config, router=Router(config), clock=clock,
                    hook=Buggy())
    intake.ingest("monitoring", incoming())
    assert len(stored(engine)) == 1
