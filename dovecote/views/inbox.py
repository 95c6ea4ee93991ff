"""The in-app inbox: a page and JSON endpoints, each scoped to the signed-in user."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_not_required, login_required
from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from dovecote.delivery.escalation import inbox_read
from dovecote.models import InboxMessage

#: Messages per page, on the page and in the JSON list.
PAGE_SIZE = 20
#: Largest ``page_size`` the JSON list accepts.
MAX_PAGE_SIZE = 100

View = Callable[..., HttpResponse]


def _messages_of(user: Any) -> QuerySet[InboxMessage]:
    return InboxMessage.objects.filter(user=user)


def json_login_required(view: View) -> View:
    """Answer 401 in JSON to anonymous requests (never a login redirect).

    The view answers itself, so LoginRequiredMiddleware must not turn the
    401 into a redirect to the login page.
    """

    @login_not_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return JsonResponse({"error": "authentication required"}, status=401)
        return view(request, *args, **kwargs)

    return wrapper


@login_required
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    """Show the signed-in user's inbox, newest first, paginated."""
    page = _page(request, _messages_of(request.user), PAGE_SIZE)
    return render(
        request,
        "dovecote/web/inbox.html",
        {"page": page, "inbox_messages": page.object_list},
    )


@json_login_required
@require_GET
def messages(request: HttpRequest) -> JsonResponse:
    """Return a page of the inbox as JSON (``?page=``, ``page_size``, ``unread``)."""
    queryset = _messages_of(request.user)
    if request.GET.get("unread") in ("1", "true"):
        queryset = queryset.filter(read_at__isnull=True)
    try:
        size = min(max(int(request.GET.get("page_size", PAGE_SIZE)), 1), MAX_PAGE_SIZE)
    except ValueError:
        return JsonResponse({"error": "page_size must be a number"}, status=400)
    page = _page(request, queryset, size)
    return JsonResponse(
        {
            "results": [_serialize(m) for m in page.object_list],
            "page": page.number,
            "num_pages": page.paginator.num_pages,
            "count": page.paginator.count,
            "has_next": page.has_next(),
            "unread_count": InboxMessage.objects.unread_count(request.user),
        }
    )


@json_login_required
@require_GET
def unread_count(request: HttpRequest) -> JsonResponse:
    """Return ``{"unread_count": n}`` for the signed-in user."""
    return JsonResponse(
        {"unread_count": InboxMessage.objects.unread_count(request.user)}
    )


@json_login_required
@require_POST
def mark_read(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark one of the user's messages read; another user's is a 404."""
    message = get_object_or_404(_messages_of(request.user), pk=pk)
    if message.read_at is None:
        message.read_at = timezone.now()
        message.save(update_fields=["read_at"])
        inbox_read([message.delivery_id])
    return _done(request, {"id": message.pk, "read_at": message.read_at.isoformat()})


@json_login_required
@require_POST
def mark_all_read(request: HttpRequest) -> HttpResponse:
    """Mark every unread message of the user read."""
    unread = _messages_of(request.user).filter(read_at__isnull=True)
    delivery_ids = list(unread.values_list("delivery_id", flat=True))
    marked = unread.update(read_at=timezone.now())
    inbox_read(delivery_ids)
    return _done(request, {"marked": marked})


def _done(request: HttpRequest, data: dict[str, Any]) -> HttpResponse:
    # A plain form posts ``next``: send the browser on. Scripts get JSON.
    if "next" in request.POST:
        target = request.POST["next"]
        if not url_has_allowed_host_and_scheme(
            target,
            allowed_hosts={request.get_host()},
            require_https=request.is_secure(),
        ):
            target = reverse("dovecote:inbox")
        return HttpResponseRedirect(target)
    data["unread_count"] = InboxMessage.objects.unread_count(request.user)
    return JsonResponse(data)


def _page(request: HttpRequest, queryset: QuerySet[InboxMessage], size: int) -> Any:
    paginator = Paginator(queryset, size)
    try:
        return paginator.page(request.GET.get("page", 1))
    except PageNotAnInteger:
        return paginator.page(1)
    except EmptyPage:
        return paginator.page(paginator.num_pages)


def _serialize(message: InboxMessage) -> dict[str, Any]:
    return {
        "id": message.pk,
        "notification": message.notification,
        "subject": message.subject,
        "body": message.body,
        "url": message.link,
        "created_at": message.created_at.isoformat(),
        "read_at": message.read_at.isoformat() if message.read_at else None,
    }
