"""Development outbox and previews, like Rails' mailer previews.

Shows what the locmem and file backends captured on every channel, and
renders each registered type on each channel with sample context.

Who sees it: staff users only, whatever ``DEBUG`` says.
``DOVECOTE_DEV_OUTBOX_PUBLIC = True`` opens it to anyone (a system check and
a log line warn while it is open); ``DOVECOTE_DEV_OUTBOX = False`` turns it
off for everyone (404).

Rendered content is never trusted: text is escaped on every page, and an
email's HTML is never inlined. It is served alone, from its own URL, with a
``Content-Security-Policy`` that sandboxes it (an opaque origin, no script,
no form, no plugin, no fetch) and shown in a sandboxed ``iframe``.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import os
from email.message import EmailMessage as ParsedEmail
from pathlib import Path
from typing import Any

from django.core import mail
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_sameorigin

import dovecote.chat as chat
import dovecote.sms as sms
from dovecote.channels import get_channels
from dovecote.compat import email_file_paths
from dovecote.conf import setting
from dovecote.delivery.escalation import NOT_NEEDED
from dovecote.models import Delivery, DeliveryStatus
from dovecote.notifications.recipients import Recipient
from dovecote.notifications.registry import get_notification, registered_notifications
from dovecote.redaction import redact_text, redact_url
from dovecote.rendering import current_site, sample_placeholders
from dovecote.sms.phonenumbers import encoding_info
from dovecote.sms.utils import messages_from_bytes
from dovecote.tokens import absolute_url, preferences_url
from dovecote.views.outbox_push import captured_push, push_preview

#: The most files read from each file backend's directory, newest first.
MAX_FILES = 50
#: Header names whose values are never shown.
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "x-auth-token"}
)
_RECORD_END = "-" * 79 + "\n"
_EMAIL_SEP = b"\n" + b"-" * 79 + b"\n"

#: The policy an email's HTML is served under: a sandbox (opaque origin, no
#: script, form, popup or plugin), nothing fetched but inline styles and
#: images, nothing framing it but the outbox itself.
HTML_PREVIEW_CSP = (
    "sandbox; default-src 'none'; img-src data: https:; "
    "style-src 'unsafe-inline'; font-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'self'"
)

logger = logging.getLogger("dovecote.outbox")


def is_outbox_public() -> bool:
    """Return True if ``DOVECOTE_DEV_OUTBOX_PUBLIC`` opens the outbox to anyone."""
    return setting("DOVECOTE_DEV_OUTBOX") is not False and bool(
        setting("DOVECOTE_DEV_OUTBOX_PUBLIC")
    )


def is_outbox_enabled(request: HttpRequest) -> bool:
    """Return True if ``request`` may see the dev outbox and previews.

    Staff only, unless ``DOVECOTE_DEV_OUTBOX_PUBLIC`` is True;
    ``DOVECOTE_DEV_OUTBOX = False`` closes it to everyone.
    """
    if setting("DOVECOTE_DEV_OUTBOX") is False:
        return False
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff:
        return True
    if is_outbox_public():
        logger.warning(
            "The development outbox was shown to a non-staff visitor because "
            "DOVECOTE_DEV_OUTBOX_PUBLIC is True: it shows every captured "
            "message, sign-in and unsubscribe links included."
        )
        return True
    return False


def outbox(request: HttpRequest) -> HttpResponse:
    """List every captured email, SMS, chat message and push, and the previews."""
    if not is_outbox_enabled(request):
        raise Http404
    return render(
        request,
        "dovecote/web/outbox.html",
        {
            "emails": captured_emails(),
            "sms_messages": captured_sms(),
            "chat_messages": captured_chat(),
            "push_messages": captured_push(),
            "previews": _preview_links(),
            "steps": escalation_steps(),
        },
    )


def escalation_steps() -> list[Delivery]:
    """Return recent escalation steps still waiting, or cancelled (newest first)."""
    return list(
        Delivery.objects.filter(
            Q(status=DeliveryStatus.WAITING) | Q(skip_reason=NOT_NEEDED)
        )
        .exclude(chain="")
        .order_by("-created_at", "-id")[:MAX_FILES]
    )


def preview(request: HttpRequest, notification: str, channel: str) -> HttpResponse:
    """Render one registered type on one channel with its sample context."""
    cls, rendered, error = _render_preview(request, notification, channel)
    item: dict[str, Any] = {}
    if rendered is not None:
        data = rendered.data or {}
        push = _protocol(channel) == "push"
        item = {
            "subject": rendered.subject,
            "body": rendered.body,
            "html_url": (
                reverse("dovecote:preview-html", args=[notification, channel])
                if rendered.html
                else ""
            ),
            "headers": _redact_headers(data.get("headers") or {}),
            "blocks": _json(data.get("blocks")),
            "extras": _extras(data),
            "sms": _encoding(rendered.body) if _protocol(channel) == "sms" else None,
            "push": push_preview(rendered) if push else None,
        }
    return render(
        request,
        "dovecote/web/preview.html",
        {"notification": cls, "channel": channel, "item": item, "error": error},
    )


@xframe_options_sameorigin
def preview_html(request: HttpRequest, notification: str, channel: str) -> HttpResponse:
    """Serve a preview's HTML body alone, sandboxed by its CSP."""
    _cls, rendered, _error = _render_preview(request, notification, channel)
    if rendered is None or not rendered.html:
        raise Http404(_("This preview has no HTML body."))
    return sandboxed_html(rendered.html)


@xframe_options_sameorigin
def email_html(request: HttpRequest, source: str, index: int) -> HttpResponse:
    """Serve one captured email's HTML body alone, sandboxed by its CSP."""
    if not is_outbox_enabled(request):
        raise Http404
    for item in captured_emails():
        if (item["source"], item["index"]) == (source, index) and item["html"]:
            return sandboxed_html(item["html"])
    raise Http404(_("No such captured email, or it has no HTML body."))


def sandboxed_html(html: str) -> HttpResponse:
    """Return ``html`` as a page that can run nothing and reach nothing.

    The ``sandbox`` directive gives the page an opaque origin with scripts,
    forms, popups and plugins off, even when it is opened directly rather
    than in the outbox's sandboxed ``iframe``.
    """
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = HTML_PREVIEW_CSP
    response["X-Content-Type-Options"] = "nosniff"
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-store"
    return response


def _render_preview(
    request: HttpRequest, notification: str, channel: str
) -> tuple[Any, Any, str]:
    if not is_outbox_enabled(request):
        raise Http404

    try:
        cls = get_notification(notification)
        chan = get_channels()[channel]
    except (LookupError, KeyError):
        raise Http404(_("No such notification type or channel.")) from None
    if channel not in cls.all_channels():
        raise Http404(_("This type is not sent on that channel."))
    instance = cls()
    context = sample_context(cls, channel)
    context = instance.get_context(context["recipient"], context)
    error = ""
    try:
        rendered = chan.render(instance, context)
    except Exception as exc:  # A preview shows any template error, not a 500.
        rendered, error = None, redact_text(f"{type(exc).__name__}: {exc}")
    return cls, rendered, error


def _protocol(channel: str) -> str:
    return str(get_channels()[channel].protocol)


def sample_context(cls: Any, channel: str) -> dict[str, Any]:
    """Return the context a preview renders with.

    A type may define ``preview_context()`` (a classmethod or method
    returning a dict); a placeholder recipient stands in, and every other
    variable its templates read and the sample does not give renders as
    ``[name]`` (``[new_user.name]``).
    """
    placeholder = Recipient(
        email="recipient@example.com", phone="+15005550006", name="Ada Example"
    )
    context: dict[str, Any] = {
        "recipient": placeholder,
        "user": None,
        "site": current_site(),
        "notification": cls(),
        "channel": channel,
        "preferences_url": preferences_url(),
        # Shaped as a real one (absolute only with DOVECOTE_BASE_URL), so
        # the preview shows the List-Unsubscribe header a real email gets.
        "unsubscribe_url": (
            ""
            if cls.required
            else absolute_url(reverse("dovecote:unsubscribe", args=["preview"]))
        ),
    }
    # Bound on an instance, a method, classmethod or staticmethod all work.
    hook = getattr(cls(), "preview_context", None)
    if callable(hook):
        context.update(hook() or {})
    # Anything the templates read and nobody gave shows as "[name]".

    chan = get_channels().get(channel)
    if chan is not None:
        names = [*chan.template_names, *chan.optional_template_names]
        for name, value in sample_placeholders(cls.name, names).items():
            context.setdefault(name, value)
    return context


def captured_emails() -> list[dict[str, Any]]:
    """Return the emails in ``mail.outbox`` and in file-backend directories."""
    items = []
    captured = list(getattr(mail, "outbox", []) or [])
    for index in reversed(range(len(captured))):
        parsed = email.message_from_bytes(
            captured[index].message().as_bytes(), policy=email.policy.default
        )
        items.append(_email_item(parsed, "locmem", index))
    files = [f for p in email_file_paths() for f in _recent_files(p, (".log", ".eml"))]
    for file in files:
        raw = file.read_bytes()
        # The file backend writes messages separated by a line of 79 "-".
        for index, chunk in enumerate(raw.split(_EMAIL_SEP)):
            if chunk.strip():
                parsed = email.message_from_bytes(
                    chunk.strip(b"\n"), policy=email.policy.default
                )
                items.append(_email_item(parsed, file.name, index))
    return items


def captured_sms() -> list[dict[str, Any]]:
    """Return the SMS in ``dovecote.sms.outbox`` and under ``SMS_FILE_PATH``."""
    items = [
        {
            "source": "locmem",
            "originator": m.originator,
            "recipients": list(m.recipients),
            "body": m.body,
            "encoding": _encoding(m.body),
            "extras": _extras(
                {
                    "content_sid": m.content_sid,
                    "content_variables": m.content_variables,
                }
            ),
        }
        for m in reversed(getattr(sms, "outbox", []) or [])
    ]
    for file in _recent_files(setting("SMS_FILE_PATH"), (".log",)):
        try:
            records = messages_from_bytes(file.read_bytes())
        except ValueError:
            continue
        for m in records:
            items.append(
                {
                    "source": file.name,
                    "originator": m.originator,
                    "recipients": list(m.recipients),
                    "body": m.body,
                    "encoding": _encoding(m.body),
                }
            )
    return items


def captured_chat() -> list[dict[str, Any]]:
    """Return the chat messages in ``dovecote.chat.outbox`` and ``CHAT_FILE_PATH``.

    Webhook URLs are secrets: they are shown redacted.
    """
    items = [
        {
            "source": "locmem",
            "recipients": [redact_url(r) for r in m.recipients],
            "text": m.text,
            "blocks": _json(m.blocks),
            "extras": _extras(
                {"embeds": m.embeds, "card": m.card, "parse_mode": m.parse_mode}
            ),
        }
        for m in reversed(getattr(chat, "outbox", []) or [])
    ]
    for file in _recent_files(setting("CHAT_FILE_PATH"), (".log",)):
        text = file.read_text("utf-8", errors="replace")
        for record in text.split(_RECORD_END):
            if record.strip():
                head, _sep, rest = record.partition("\n")
                items.append(
                    {
                        "source": file.name,
                        "recipients": [redact_text(head.removeprefix("to: "))],
                        "text": redact_text(rest.rstrip("\n")),
                        "blocks": "",
                    }
                )
    return items


def _preview_links() -> list[dict[str, Any]]:
    configured = get_channels()
    return [
        {
            "notification": cls,
            "channels": [c for c in cls.all_channels() if c in configured],
        }
        for cls in registered_notifications()
    ]


def _email_item(parsed: Any, source: str, index: int) -> dict[str, Any]:
    text = html = ""
    if isinstance(parsed, ParsedEmail):
        text_part = parsed.get_body(preferencelist=("plain",))
        html_part = parsed.get_body(preferencelist=("html",))
        text = text_part.get_content() if text_part is not None else ""
        html = html_part.get_content() if html_part is not None else ""
    headers = [(k, str(v)) for k, v in parsed.items()]
    return {
        "source": source,
        "index": index,
        "html_url": (
            reverse("dovecote:outbox-email-html", args=[source, index]) if html else ""
        ),
        "subject": str(parsed.get("Subject", "")),
        "from": str(parsed.get("From", "")),
        "to": str(parsed.get("To", "")),
        "headers": _redact_headers(headers),
        "text": text,
        "html": html,
    }


def _redact_headers(headers: Any) -> list[tuple[str, str]]:
    pairs = headers.items() if isinstance(headers, dict) else headers
    shown = []
    for name, value in pairs:
        if str(name).lower() in SECRET_HEADERS:
            value = "****"
        shown.append((str(name), str(value)))
    return shown


def _recent_files(path: Any, suffixes: tuple[str, ...]) -> list[Path]:
    if not path or not os.path.isdir(path):
        return []
    files = [p for p in Path(path).iterdir() if p.suffix in suffixes and p.is_file()]
    files.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    return files[:MAX_FILES]


def _encoding(body: str) -> dict[str, Any]:
    info = encoding_info(body)
    return {"encoding": info.encoding, "segments": info.segments, "units": info.units}


def _extras(data: dict[str, Any]) -> str:
    """Return what a platform sends besides the text, as JSON ("" for none).

    Discord embeds, a Teams card, Telegram's parse mode, a WhatsApp content
    template (``content_sid`` and ``content_variables``).
    """
    keys = ("embeds", "card", "parse_mode", "content_sid", "content_variables")
    return _json({key: data[key] for key in keys if data.get(key)})


def _json(value: Any) -> str:
    if not value:
        return ""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
