"""The browser side of push: the VAPID key, (un)subscribing, the service worker.

``static/dovecote/push.js`` calls these: it fetches the public key, asks
the browser's ``PushManager`` for a subscription and posts it to
:func:`subscribe`. The JSON views are CSRF-protected, answer 401 in JSON to
anonymous requests and act on the signed-in user's own devices only.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required, login_required
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_GET, require_POST

from dovecote.exceptions import InvalidPushTarget
from dovecote.models import PushDevice
from dovecote.push.devices import register_device, unregister_device
from dovecote.push.keys import vapid_public_key
from dovecote.views.inbox import json_login_required

#: The largest request body the JSON views read.
MAX_BODY = 16 * 1024


@login_not_required
@require_GET
def public_key(request: HttpRequest) -> JsonResponse:
    """Return the VAPID public key (``applicationServerKey``) and a CSRF token.

    The key, base64url, is derived from ``PUSH_VAPID_PRIVATE_KEY`` (503 in
    JSON when it is not set). The CSRF token is for the service worker,
    which cannot read the cookie when it registers a replaced subscription;
    other sites cannot read this response.
    """
    try:
        key = vapid_public_key()
    except ImproperlyConfigured as exc:
        return JsonResponse({"error": str(exc)}, status=503)
    response = JsonResponse({"publicKey": key, "csrfToken": get_token(request)})
    response["Cache-Control"] = "no-store"
    return response


@json_login_required
@csrf_protect
@require_POST
def subscribe(request: HttpRequest) -> JsonResponse:
    """Register a device for the signed-in user; answer with its id.

    The body is JSON: ``{"subscription": PushSubscription.toJSON(),
    "name": ...}`` from a browser, or ``{"platform": "fcm"|"apns",
    "token": ..., "app": ..., "environment": ..., "name": ...}`` from an
    app. ``"replaces"``: the endpoint of the subscription this one
    replaces (the service worker's ``pushsubscriptionchange``), deleted if
    it is the user's. 400 with ``{"error": ...}`` saying what is wrong.
    """
    body = _json_body(request)
    if isinstance(body, JsonResponse):
        return body
    subscription = body.get("subscription")
    platform = body.get("platform") or ("webpush" if subscription else None)
    if not isinstance(platform, str):
        return JsonResponse(
            {
                "error": 'send "subscription" (from a browser) or "platform" '
                'and "token" (from an app)'
            },
            status=400,
        )
    name = body.get("name")
    if name is None:
        name = request.headers.get("User-Agent", "")
    try:
        device = register_device(
            request.user,
            platform,
            token=body.get("token"),
            subscription=subscription,
            app=body.get("app"),
            environment=body.get("environment"),
            name=str(name),
        )
    except InvalidPushTarget as exc:
        return JsonResponse({"error": exc.message}, status=400)
    replaces = body.get("replaces")
    if isinstance(replaces, str) and replaces and replaces != device.address:
        unregister_device(request.user, endpoint=replaces)
    return JsonResponse(
        {"id": device.pk, "platform": device.platform, "active": device.active},
        status=201,
    )


@json_login_required
@csrf_protect
@require_POST
def unsubscribe(request: HttpRequest) -> JsonResponse:
    """Delete the signed-in user's device: ``{"endpoint": ...}`` or ``{"token": ...}``.

    Answer ``{"removed": n}``; another user's device is never touched.
    """
    body = _json_body(request)
    if isinstance(body, JsonResponse):
        return body
    endpoint, token = body.get("endpoint"), body.get("token")
    if (endpoint is None) == (token is None):
        return JsonResponse(
            {"error": 'send exactly one of "endpoint" or "token"'}, status=400
        )
    try:
        removed = unregister_device(request.user, token=token, endpoint=endpoint)
    except InvalidPushTarget as exc:
        return JsonResponse({"error": exc.message}, status=400)
    return JsonResponse({"removed": removed})


@login_required
@require_POST
def remove_device(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete one of the signed-in user's devices (the preference centre's form)."""
    device = get_object_or_404(PushDevice, pk=pk, user=request.user)
    label = str(device.name or device.get_platform_display())
    device.delete()
    messages.success(
        request,
        _("%(device)s no longer receives notifications.") % {"device": label},
        fail_silently=True,
    )
    return HttpResponseRedirect(reverse("dovecote:preferences"))


@login_not_required
@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    """Serve the service worker that shows pushes (``push/service-worker.js``).

    Its scope is the folder it is served from; ``Service-Worker-Allowed: /``
    lets a site register it for a wider scope. Never cached: browsers
    check it for updates.
    """
    script = render_to_string(
        "dovecote/push/service-worker.js",
        {
            "public_key_url": reverse("dovecote:push-public-key"),
            "subscribe_url": reverse("dovecote:push-subscribe"),
        },
    )
    response = HttpResponse(script, content_type="text/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/"
    response["Cache-Control"] = "no-cache"
    return response


def _json_body(request: HttpRequest) -> dict[str, Any] | JsonResponse:
    if len(request.body) > MAX_BODY:
        return JsonResponse({"error": "the request body is too large"}, status=413)
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        return JsonResponse({"error": "the request body is not JSON"}, status=400)
    if not isinstance(body, dict):
        return JsonResponse(
            {"error": "the request body must be a JSON object"}, status=400
        )
    return body
