"""Listening beyond the webhook: polled sources (RSS, Mastodon, Bluesky), routes and
sources editable from Slack, calm channels under bursts (pacing, spikes, digests) and
alert words. Intake, routing and the card relay stay in `bot.mentions`; this package
feeds and steers them."""
