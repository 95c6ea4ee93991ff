"""Deliberate Slack mentions and links: ``{% load dovecote_slack %}``.

Everything else a Slack template prints is escaped (see
:mod:`dovecote.chat.escaping`)::

    {% load dovecote_slack %}
    {{ on_call_id|slack_mention }} order {{ order.number }} failed:
    {% slack_link order.admin_url "open it" %}. {{ "here"|slack_mention }}
"""

from __future__ import annotations

from typing import Any

from django import template

from dovecote.chat.escaping import slack_link as _slack_link
from dovecote.chat.escaping import slack_mention as _slack_mention

register = template.Library()


@register.filter
def slack_mention(value: Any) -> str:
    """Mention a user (``U…``/``W…`` ID), a group (``S…``) or here/channel/everyone."""
    # str(): marked for this render (a template joins its nodes' strings
    # without calling __str__, so markup must be marked here).
    return str(_slack_mention(value))


@register.simple_tag
def slack_link(url: Any, text: Any = "") -> str:
    """Insert ``<url|text>``: a link to an http(s) or mailto URL, text escaped."""
    return str(_slack_link(url, text))
