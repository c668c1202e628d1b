"""The fault campaign of issue 17: runs that look for where Vigie's promises break (nothing
lost, nothing sent twice, Slack's limits kept). Each part runs as `python -m campaign.<part>
[--quick]` and prints its figures; CI runs the quick version."""
