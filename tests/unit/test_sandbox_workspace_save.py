"""The sandbox's workspace as saved across restarts (`FakeSlack.dump` / `restore`)."""

from __future__ import annotations

import json
import threading

from bot.sandbox.slack import FakeSlack


def test_a_save_taken_while_messages_arrive_holds_each_message_once() -> None:
    """Saving a long channel piece by piece while people keep posting: every save reads
    back with each message once, in order, as it was; the last one holds them all."""
    slack = FakeSlack()
    slack.add_channel("C1", "long")
    for i in range(400):
        slack.add_message("C1", f"carte {i}", user="U1")
    parent = slack.add_message("C2", "fil", user="U1")
    slack.add_message("C2", "réponse", user="U1", thread_ts=parent)
    done = threading.Event()

    def post() -> None:
        for i in range(300):
            slack.add_message("C1", f"nouvelle {i}", user="U2")
        done.set()

    writer = threading.Thread(target=post)
    writer.start()
    saves = 0
    while not done.is_set() or saves == 0:
        saved = json.loads(slack.dump())
        ts = [m["ts"] for m in saved["messages"]["C1"]]
        assert len(ts) == len(set(ts)) >= 400
        assert ts == sorted(ts, key=lambda t: tuple(int(p) for p in t.split(".")))
        saves += 1
    writer.join()
    restored = FakeSlack()
    restored.add_channel("C1", "long")
    restored.restore(json.loads(slack.dump()))
    assert restored.messages("C1") == slack.messages("C1")
    assert len(restored.messages("C1")) == 700
    assert restored.messages("C2") == slack.messages("C2")
