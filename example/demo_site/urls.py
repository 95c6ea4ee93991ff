"""URLs of the example site: home, admin, login, dovecote's pages."""

from importlib.util import find_spec
from typing import Any

from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView

from demo_site.pages import PREFIX, dovecote_pages


class HomeView(TemplateView):
    template_name = "home.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["dovecote_links"] = dovecote_pages()
        return context


urlpatterns = [
    path("", HomeView.as_view(), name="home"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
]

# The preference centre, unsubscribe, inbox and dev outbox pages, once
# dovecote ships its URLconf.
if find_spec("dovecote.urls") is not None:
    urlpatterns.append(path(PREFIX, include("dovecote.urls")))
