"""A URLconf without dovecote's pages (for the W006 check)."""

from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
