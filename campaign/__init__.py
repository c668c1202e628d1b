"""Issue 17's campaign: looking for where Vigie's promises break (nothing lost, nothing
sent twice, Slack's limits kept, no one in without a signature), not only showing where they
hold. Each part runs as `python -m campaign.<part> [--quick]` from a source checkout (with
the dev extra installed) and prints its figures (`campaign._report`); CI runs every part
with `--quick` (`.ci/run`).

- `campaign.fuzz`: every edge that takes input from outside, fuzzed with Hypothesis.
- `campaign.security`: replayed and forged signatures, secrets in logs and messages,
  template sandbox escapes, mrkdwn and CSV injection, non-staff trying every action.
- `campaign.chaos`: Slack and the platforms misbehaving under a steady stream of mentions,
  clicks, replies and posts.
- `campaign.kills`: kill -9 of a replica at random moments, in a loop, under load.
- `campaign.database`: PostgreSQL restarted under load; SQLite with the disk full.
"""
