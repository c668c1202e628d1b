"""The sandbox: Slack as Vigie sees it, on this machine (`vigie demo`, and the tests).

`slack` is the Slack-compatible Web API server, `driver` plays Slack's side toward the bot
(signed events, interactivity, commands), `mastodon` and `feed` are the local instance and
feed, `api` the browser API in front of them, `demo` runs it all with the real bot. Only
`vigie demo` and the tests import this package; `vigie serve` and `vigie run` never do.
"""
