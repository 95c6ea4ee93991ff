"""Slack control sequences in context values never reach Slack unescaped.

The attack: a customer named ``<!channel> <https://evil.example/login|Your
session expired>`` pinged the whole staff channel with a disguised link
through the example's own template.
"""

from pathlib import Path

import pytest

from dovecote import Notification, register
from dovecote.channels.slack import SlackWebhookChannel
from dovecote.chat.escaping import finish, mark_slack_safe, marking, slack_escape
from dovecote.notifications.registry import get_notification, unregister

EXAMPLE = Path(__file__).parents[2] / "example" / "shop" / "templates" / "dovecote"
ATTACK = "<!channel> <https://evil.example/login|Your session expired> & co"
ESCAPED = (
    "&lt;!channel&gt; &lt;https://evil.example/login|Your session expired&gt; &amp; co"
)


def render(name, context):
    notification = get_notification(name)()
    return SlackWebhookChannel().render(notification, context)


@pytest.fixture
def markup_type():
    @register
    class SlackMarkup(Notification):
        name = "slack-markup"
        channels = ["slack-webhook"]

    yield SlackMarkup
    unregister(SlackMarkup)


def test_the_examples_template_escapes_a_hostile_name(settings):
    # The example's own template, as the attack used it.
    source = (EXAMPLE / "power-user-signed-up" / "slack-webhook.txt").read_text()
    settings.TEMPLATES = [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "OPTIONS": {
                "loaders": [
                    (
                        "django.template.loaders.locmem.Loader",
                        {"dovecote/example-copy/slack-webhook.txt": source},
                    )
                ]
            },
        }
    ]

    @register
    class ExampleCopy(Notification):
        name = "example-copy"
        channels = ["slack-webhook"]

    new_user = {"name": ATTACK, "email": "x@example.com", "plan": "<!here>"}
    try:
        rendered = render("example-copy", {"new_user": new_user})
    finally:
        unregister(ExampleCopy)
    assert "<!channel>" not in rendered.body
    assert "<!here>" not in rendered.body
    assert "<https://evil" not in rendered.body
    assert ESCAPED in rendered.body
    assert "&lt;!here&gt;" in rendered.body


def test_text_template_escapes_values_and_literal_text():
    rendered = render("order-shipped", {"order": ATTACK, "recipient": "Ada"})
    assert rendered.body == f"Order {ESCAPED} shipped for Ada &lt;ok&gt;"


def test_json_text_fields_are_escaped_but_urls_and_plain_text_are_not(markup_type):
    rendered = render(
        "slack-markup",
        {
            "on_call": "<!channel>",
            "name": ATTACK,
            "profile_url": "https://shop.example/u?id=1&tab=2",
            "alert": "",
        },
    )
    section, header, actions = rendered.data["blocks"]
    text = section["text"]["text"]
    assert "<!channel>" not in text and "<https://evil" not in text
    assert text.startswith("&lt;!channel&gt; " + ESCAPED)
    # The deliberate link stays a link; its text is escaped inside it.
    assert text.endswith(f"<https://shop.example/u?id=1&amp;tab=2|{ESCAPED}>")
    # Slack parses no control sequences in plain_text: shown as typed.
    assert header["text"]["text"] == f"New: {ATTACK}"
    assert actions["elements"][0]["url"] == "https://shop.example/u?id=1&tab=2"


def test_deliberate_mentions_and_links_go_through(markup_type):
    rendered = render(
        "slack-markup",
        {
            "on_call": "U024BE7LH",
            "name": "Ada",
            "profile_url": "https://shop.example/u/1",
            "alert": mark_slack_safe("<!subteam^S0614TZR7|@oncall>"),
        },
    )
    assert rendered.body == (
        "<@U024BE7LH> <!here> Ada signed up: <https://shop.example/u/1|Ada> "
        "<!subteam^S0614TZR7|@oncall>"
    )


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "https://x.example/a b", "ftp://x.example/"]
)
def test_slack_link_refuses_other_urls(markup_type, url):
    rendered = render(
        "slack-markup",
        {"on_call": "", "name": "Ada", "profile_url": url, "alert": ""},
    )
    assert "<" not in rendered.body.replace("<!here>", "")


def test_a_value_cannot_forge_the_markers(markup_type):
    # Even a value that knows the marker characters cannot guess the nonce.
    forged = "\ue000guess\ue001<!channel>\ue001guess\ue002"
    rendered = render(
        "slack-markup",
        {"on_call": "", "name": forged, "profile_url": "", "alert": ""},
    )
    assert "<!channel>" not in rendered.body
    assert "&lt;!channel&gt;" in rendered.body
    assert "\ue000" not in rendered.body and "\ue001" not in rendered.body


def test_finish_escapes_outside_marked_spans_only():
    with marking() as nonce:
        text = f"a<b {mark_slack_safe('<@U1AB>')} & c"
        assert finish(text, nonce) == "a&lt;b <@U1AB> &amp; c"
    # Outside a Slack render, marked markup is plain text again.
    assert str(mark_slack_safe("<@U1AB>")) == "<@U1AB>"
    assert slack_escape("<&>") == "&lt;&amp;&gt;"


def test_an_on_demand_webhook_recipient_prints_redacted():
    from dovecote import Recipient

    url = "https://hooks.slack.com/services/T0/B0/RecipientSecret"
    rendered = render(
        "order-shipped", {"order": "A-1", "recipient": Recipient(slack_webhook=url)}
    )
    assert "RecipientSecret" not in rendered.body
    assert "https://hooks.slack.com/services/…" in rendered.body
