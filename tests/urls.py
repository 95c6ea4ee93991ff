from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("notifications/", include("dovecote.urls")),
    # anymail's own webhook views, as anymail documents them.
    path("anymail/", include("anymail.urls")),
]
