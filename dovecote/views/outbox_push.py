"""The push side of the development outbox: captured pushes and push previews.

Each push is shown with its title, body and link, and the size of the
payload each push service would receive beside that service's limit.
Endpoints (capability URLs) are redacted and tokens cut, as in logs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import dovecote.push as push
from dovecote.channels import Rendered
from dovecote.conf import setting
from dovecote.push.backends.base import display_target
from dovecote.push.payload import PAYLOAD_LIMITS
from dovecote.push.target import PLATFORMS

__all__ = ["captured_push", "payload_sizes", "push_preview"]

#: The most files read from ``PUSH_FILE_PATH``, newest first.
MAX_FILES = 50
_RECORD_END = "-" * 79 + "\n"


def payload_sizes(message: push.PushMessage) -> list[dict[str, Any]]:
    """Return, per platform, the payload's bytes, the limit and whether it fits."""
    sizes = []
    for platform in PLATFORMS:
        try:
            size = message.payload_size(platform)
        except ValueError:  # a data key the platform reserves
            size = -1
        limit = PAYLOAD_LIMITS[platform]
        sizes.append(
            {
                "platform": platform,
                "bytes": size,
                "limit": limit,
                "fits": 0 <= size <= limit,
            }
        )
    return sizes


def push_preview(rendered: Rendered) -> dict[str, Any]:
    """Return what a preview of the ``push`` channel shows beside title and body."""
    url = str((rendered.data or {}).get("url") or "")
    message = push.PushMessage(rendered.subject, rendered.body, [], url=url or None)
    return {"url": url, "sizes": payload_sizes(message)}


def captured_push() -> list[dict[str, Any]]:
    """Return the pushes in ``dovecote.push.outbox`` and under ``PUSH_FILE_PATH``."""
    items = [
        {
            "source": "locmem",
            "title": m.title,
            "body": m.body,
            "url": m.url or "",
            "recipients": [
                f"{t.platform}: {display_target(t.address)}" for t in m.recipients
            ],
            "sizes": payload_sizes(m),
        }
        for m in reversed(getattr(push, "outbox", []) or [])
    ]
    for file in _recent_files(setting("PUSH_FILE_PATH")):
        text = file.read_text("utf-8", errors="replace")
        for record in text.split(_RECORD_END):
            item = _file_item(record, file.name)
            if item is not None:
                items.append(item)
    return items


def _file_item(record: str, source: str) -> dict[str, Any] | None:
    # "platform: <p>\nto: <shown address>\n<payload JSON>\n"
    lines = record.strip("\n").split("\n", 2)
    if len(lines) < 3 or not lines[0].startswith("platform: "):
        return None
    platform = lines[0].removeprefix("platform: ")
    try:
        payload = json.loads(lines[2])
    except ValueError:
        return None
    shown = _shown_fields(platform, payload)
    size = len(lines[2].encode())
    limit = PAYLOAD_LIMITS.get(platform, 0)
    return {
        "source": source,
        **shown,
        "recipients": [f"{platform}: {lines[1].removeprefix('to: ')}"],
        "sizes": [
            {"platform": platform, "bytes": size, "limit": limit, "fits": size <= limit}
        ],
    }


def _shown_fields(platform: str, payload: Any) -> dict[str, str]:
    if not isinstance(payload, dict):
        return {"title": "", "body": "", "url": ""}
    if platform == "apns":
        alert = (payload.get("aps") or {}).get("alert") or {}
        fields = alert if isinstance(alert, dict) else {"body": alert}
        url = payload.get("url", "")
    elif platform == "fcm":
        fields = payload.get("notification") or {}
        url = (payload.get("data") or {}).get("url", "")
    else:
        fields, url = payload, payload.get("url", "")
    return {
        "title": str(fields.get("title", "")),
        "body": str(fields.get("body", "")),
        "url": str(url or ""),
    }


def _recent_files(path: Any) -> list[Path]:
    if not path or not os.path.isdir(path):
        return []
    files = [p for p in Path(path).iterdir() if p.suffix == ".log" and p.is_file()]
    files.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    return files[:MAX_FILES]
