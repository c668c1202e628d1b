"""The fault campaign of issue 17: scripts a person runs (`python -m campaign.<part>
[--quick]`) that look for where Vigie's promises break (nothing lost, nothing sent twice,
a clear answer, recovery by itself) and print the figures they saw. CI runs each part in
its `--quick` mode (`.ci/run`). Standard library, httpx, Vigie and `tests/support` only:
no pytest, so a plain install runs them."""
