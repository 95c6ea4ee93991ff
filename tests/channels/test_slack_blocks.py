"""Slack Block Kit from ``slack-webhook.json``, posted to the fake Slack."""

import json

import pytest
from django.template.loader import get_template

from dovecote import Recipient, send_notification
from dovecote.channels import get_channel
from dovecote.chat.escaping import slack_escape
from dovecote.exceptions import RenderError
from dovecote.models import Delivery
from dovecote.notifications.base import Notification
from dovecote.notifications.registry import register, unregister

SLACK_BACKEND = "dovecote.chat.backends.slack.ChatBackend"

#: A value with everything JSON and HTML care about.
CUSTOMER = 'Ada "The Countess" O\'Brien \\ <ada@example.com> & co'
NOTE = "line one\nline two\t</script> \u2028 é"
URL = "https://shop.example.com/track?o=42&k=x"


class BlocksList(Notification):
    name = "blocks-list"
    channels = ["slack-webhook"]


class BlocksObject(Notification):
    name = "blocks-object"
    channels = ["slack-webhook"]


class BlocksBroken(Notification):
    name = "blocks-broken"
    channels = ["slack-webhook"]


class BlocksShape(Notification):
    name = "blocks-shape"
    channels = ["slack-webhook"]


class BlocksEmpty(Notification):
    name = "blocks-empty"
    channels = ["slack-webhook"]


TYPES = [BlocksList, BlocksObject, BlocksBroken, BlocksShape, BlocksEmpty]


@pytest.fixture(autouse=True)
def block_types():
    for cls in TYPES:
        register(cls)
    yield
    for cls in TYPES:
        unregister(cls)


@pytest.fixture
def slack(fake_slack, settings):
    settings.CHAT_BACKEND = SLACK_BACKEND
    return fake_slack


def order(**extra):
    return {
        "number": 42,
        "customer": CUSTOMER,
        "note": NOTE,
        "url": URL,
        **extra,
    }


@pytest.mark.django_db(transaction=True)
def test_list_template_blocks_are_posted_with_the_text_fallback(slack):
    url = slack.webhook_url("shipping")
    send_notification("blocks-list", Recipient(slack_webhook=url), {"order": order()})
    expected_blocks = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": "Order 42 shipped"},
        },
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                # Slack's escaping (& < >) in mrkdwn: "<ada@...>" is no link.
                "text": f"*Customer:* {slack_escape(CUSTOMER)}\n*Note:* "
                f"{slack_escape(NOTE)}",
            },
            "accessory": {
                "type": "button",
                "text": {"type": "plain_text", "text": "Track"},
                # Autoescaping is off: "&" stays "&", not "&amp;".
                "url": URL,
            },
        },
    ]
    assert slack.posted() == [
        (
            "shipping",
            {
                "text": f"Order 42 shipped to {slack_escape(CUSTOMER)}.",
                "blocks": expected_blocks,
            },
        )
    ]
    row = Delivery.objects.get()
    assert (row.status, row.data["blocks"]) == ("sent", expected_blocks)


@pytest.mark.django_db(transaction=True)
def test_object_template_with_a_loop_renders_in_the_recipients_language(slack):
    url = slack.webhook_url()
    items = ['Say "hi"', "a\\b", "<!channel>"]
    send_notification(
        "blocks-object",
        Recipient(slack_webhook=url, language="fr"),
        {"items": items},
    )
    ((_, payload),) = slack.posted()
    assert payload["text"] == "Weekly report: 3 items."
    assert payload["blocks"] == [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": "[fr] Weekly report"},
        },
        {"type": "divider"},
        *(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"{n}. {slack_escape(item)}"},
            }
            for n, item in enumerate(items, 1)
        ),
    ]


@pytest.mark.django_db(transaction=True)
def test_template_that_renders_nothing_posts_text_only(slack):
    plain, rich = slack.webhook_url("plain"), slack.webhook_url("rich")
    send_notification(
        "blocks-empty", Recipient(slack_webhook=plain), {"order": order()}
    )
    send_notification(
        "blocks-empty", Recipient(slack_webhook=rich), {"order": order(rich=True)}
    )
    assert slack.posted() == [
        ("plain", {"text": "Plain 42"}),
        (
            "rich",
            {
                "text": "Plain 42",
                "blocks": [
                    {"type": "section", "text": {"type": "mrkdwn", "text": "*Rich* 42"}}
                ],
            },
        ),
    ]
    assert Delivery.objects.get(address=plain).data == {}


@pytest.mark.django_db(transaction=True)
def test_context_slack_blocks_still_work_and_win_over_the_template(slack):
    custom = [{"type": "section", "text": {"type": "mrkdwn", "text": "From code"}}]
    with_template, without = slack.webhook_url("a"), slack.webhook_url("b")
    send_notification(
        "blocks-list",
        Recipient(slack_webhook=with_template),
        {"order": order(), "slack_blocks": custom},
    )
    # order-shipped has no slack-webhook.json: the context is the only source.
    send_notification(
        "order-shipped",
        Recipient(slack_webhook=without),
        {"order": 5, "slack_blocks": custom},
        channels=["slack-webhook"],
    )
    send_notification(
        "order-shipped",
        Recipient(slack_webhook=without),
        {"order": 6},
        channels=["slack-webhook"],
    )
    assert [(ch, p.get("blocks")) for ch, p in slack.posted()] == [
        ("a", custom),
        ("b", custom),
        ("b", None),
    ]


@pytest.mark.django_db
def test_invalid_json_raises_render_error_naming_the_template_and_writes_nothing():
    with pytest.raises(RenderError) as info:
        send_notification(
            "blocks-broken",
            Recipient(slack_webhook="https://hooks.slack.com/services/T/B/x"),
            {"order": order()},
        )
    message = str(info.value)
    assert "dovecote/blocks-broken/slack-webhook.json" in message
    assert "'blocks-broken'" in message
    assert "did not render valid JSON" in message
    # Where the parser stops depends on the Python version (3.13 names the
    # trailing comma, 3.11 the "]" after it): the message says what it said.
    rendered = get_template("dovecote/blocks-broken/slack-webhook.json").render(
        {"order": order()}
    )
    with pytest.raises(json.JSONDecodeError) as parsed:
        json.loads(rendered)
    error = parsed.value
    line = rendered.splitlines()[error.lineno - 1].strip()
    assert f"{error.msg} at line {error.lineno} column {error.colno}: " in message
    assert repr(line[:120]) in message
    assert not Delivery.objects.exists()


@pytest.mark.django_db
def test_a_value_not_escaped_for_json_breaks_the_json_loudly():
    # The number goes through |escapejs; the url ("{{ order.url }}") does
    # not, so a quote in it ends the JSON string early.
    channel = get_channel("slack-webhook")
    good = channel.render(BlocksList(), {"order": order(number='4"2')})
    assert good.data["blocks"][0]["text"]["text"] == 'Order 4"2 shipped'
    with pytest.raises(RenderError, match="did not render valid JSON"):
        channel.render(BlocksList(), {"order": order(url='https://x/"')})


@pytest.mark.django_db
def test_an_object_with_other_keys_is_refused():
    with pytest.raises(
        RenderError,
        match=r"dovecote/blocks-shape/slack-webhook\.json .*'blocks-shape'.*"
        r"one key 'blocks', not 'attachments'",
    ):
        get_channel("slack-webhook").render(BlocksShape(), {"order": order()})


@pytest.mark.parametrize(
    ("rendered", "problem"),
    [
        ('{"type": "divider"}', "one key 'blocks'"),
        ('"text"', "got a str, not a list"),
        ('[{"type": "divider"}, 3]', "block 1 is not an object with a 'type'"),
        ('{"blocks": [{"text": "x"}]}', "block 0 is not an object with a 'type'"),
        ("[" + ", ".join(['{"type": "divider"}'] * 51) + "]", "51 blocks"),
    ],
)
def test_shapes_slack_cannot_take_are_refused(rendered, problem, settings, tmp_path):
    folder = tmp_path / "dovecote" / "blocks-list"
    folder.mkdir(parents=True)
    (folder / "slack-webhook.txt").write_text("t")
    (folder / "slack-webhook.json").write_text(rendered)
    settings.TEMPLATES = [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "DIRS": [tmp_path],
        }
    ]
    with pytest.raises(RenderError, match=problem):
        get_channel("slack-webhook").render(BlocksList(), {})


def test_fifty_blocks_are_accepted(settings, tmp_path):
    folder = tmp_path / "dovecote" / "blocks-list"
    folder.mkdir(parents=True)
    (folder / "slack-webhook.txt").write_text("t")
    (folder / "slack-webhook.json").write_text(
        "[" + ", ".join(['{"type": "divider"}'] * 50) + "]"
    )
    settings.TEMPLATES = [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "DIRS": [tmp_path],
        }
    ]
    rendered = get_channel("slack-webhook").render(BlocksList(), {})
    assert len(rendered.data["blocks"]) == 50
