"""Slack's message markup read back as plain text: nothing pings, nothing hides a link."""

from __future__ import annotations

from bot.mentions.slack_text import guess_author, links, message_text, readable

NAMES = {"U0ANNA": "Anna Martin", "U0LEA": "Léa"}


def test_markup_becomes_plain_words() -> None:
    """Users, channels, groups, broadcasts, dates and labelled links read as text."""
    text = ("<@U0ANNA> see <#C0DESK|desk> <!here> <!channel> <!subteam^S0ED|@editors> "
            "at <!date^1392734382^{date}|Feb 18> <https://radio.example/live|our live page> "
            "and <mailto:a@radio.example|a@radio.example> &lt;b&gt; &amp; co")
    assert readable(text, name_of=NAMES.get) == (
        "@Anna Martin see #desk @here @channel @editors at Feb 18 "
        "our live page (https://radio.example/live) and a@radio.example <b> & co")


def test_unknown_user_keeps_its_label_or_id_and_dropped_tokens_vanish() -> None:
    """An unresolved id falls back to Slack's label; the bot's mention and the link go."""
    text = "<@U0BOT> <https://mastodon.social/@x/1> from <@U0GHOST|ghost> and <@U0NOPE>"
    assert readable(text, drop_users=["U0BOT"], drop_links=["https://mastodon.social/@x/1"]
                    ) == "from @ghost and @U0NOPE"


def test_a_hostile_label_cannot_hide_where_a_link_goes() -> None:
    """`<evil|looks-safe>` shows both: the label and the real target."""
    assert readable("<https://evil.example/x|https://radio.example>") == (
        "https://radio.example (https://evil.example/x)")


def test_links_are_found_wrapped_labelled_or_bare_in_order() -> None:
    """Targets of <url|label>, <url> and URLs typed in a slash command, once each."""
    text = ("look <https://a.example/1|here>, <https://b.example/2> then https://c.example/3. "
            "and <https://a.example/1> <mailto:x@y.example> <#C0DESK> ftp://nope")
    assert links(text) == ["https://a.example/1", "https://b.example/2", "https://c.example/3"]
    assert links("https://x.example/?a=1&amp;b=2") == ["https://x.example/?a=1&b=2"]


def test_message_text_includes_shared_content_and_files_as_links() -> None:
    """A forwarded post and attached files are part of what was flagged."""
    message = {
        "text": "<@U0LEA> un auditeur nous écrit",
        "attachments": [{"author_name": "Auditeur", "text": "Honte à vous <!channel>",
                         "from_url": "https://slack.example/archives/C1/p1"}],
        "files": [{"name": "capture.png", "title": "Capture",
                   "permalink": "https://files.example/capture"}],
    }
    assert message_text(message, name_of=NAMES.get) == (
        "@Léa un auditeur nous écrit\n\n> Auditeur\n> Honte à vous @channel\n"
        "> https://slack.example/archives/C1/p1\n\n📎 Capture: https://files.example/capture")


def test_author_is_guessed_from_the_link() -> None:
    """Mastodon and Bluesky links name their author; other links their host."""
    assert guess_author("https://mastodon.social/@kev/123") == "@kev@mastodon.social"
    assert guess_author("https://mastodon.social/@kev@pouet.example/123") == "@kev@pouet.example"
    assert guess_author("https://bsky.app/profile/kev.bsky.social/post/3k") == "@kev.bsky.social"
    assert guess_author("https://www.example.com/news/1") == "example.com"
