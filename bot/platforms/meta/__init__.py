"""Facebook Pages, Instagram professional accounts and Threads, through Meta's Graph
and Threads APIs: the client (`graph`), webhook deliveries (`webhook`), polling
(`readers`), and replies, moderation and publishing (`actions`), all speaking in
`models.MetaItem`. Nothing here knows about Slack, cards or the database: the platform
adapters wire it in."""
