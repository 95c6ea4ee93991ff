"""The fan-out to N users costs a number of queries that does not grow with N."""

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dovecote import send_notification
from dovecote.models import Address, Delivery, GroupPreference, Preference


def make_users(n, prefix):
    users = User.objects.bulk_create(
        [
            User(username=f"{prefix}{i}", email=f"{prefix}{i}@example.com")
            for i in range(n)
        ]
    )
    group = Group.objects.create(name=f"group-{prefix}")
    group.user_set.add(*users)
    GroupPreference.objects.create(
        group=group, notification="order-shipped", channel="sms", enabled=True
    )
    Address.objects.bulk_create(
        [
            Address(user=u, protocol="sms", address=f"+4411349{i:05d}")
            for i, u in enumerate(users)
        ]
    )
    Preference.objects.bulk_create(
        [
            Preference(
                user=u, notification="order-shipped", channel="inbox", enabled=False
            )
            for u in users[::2]
        ]
    )
    return users, group


def count_queries(recipients, notification="order-shipped"):
    with CaptureQueriesContext(connection) as ctx:
        result = send_notification(notification, recipients, {"order": 1})
    selects = [q for q in ctx.captured_queries if not q["sql"].startswith("INSERT")]
    inserts = [q for q in ctx.captured_queries if q["sql"].startswith("INSERT")]
    return result, len(selects), len(inserts)


@pytest.mark.django_db
@pytest.mark.parametrize("as_group", [False, True])
def test_fan_out_reads_the_same_for_10_and_1000_users(as_group):
    small, small_group = make_users(10, "s")
    large, large_group = make_users(1000, "l")
    perm = Permission.objects.get(codename="view_user", content_type__app_label="auth")
    small_group.permissions.add(perm)
    large_group.permissions.add(perm)
    count_queries(small[:1])  # warm caches (the current Site)

    result_small, reads_small, inserts_small = count_queries(
        small_group if as_group else small
    )
    result_large, reads_large, inserts_large = count_queries(
        large_group if as_group else large
    )

    assert len(result_small) == 40
    assert len(result_large) == 4000
    assert result_large.reasons() == {"no_address": 1000, "opted_out": 500}
    assert reads_small == reads_large
    # The inserts grow only where the database caps the parameters of one
    # statement below what 4000 rows need, so that Django splits the bulk
    # insert (SQLite's 999 on Django 5.2); the reads never grow.
    fields = [f for f in Delivery._meta.concrete_fields if not f.primary_key]
    rows = [Delivery()] * len(result_large)
    if connection.ops.bulk_batch_size(fields, rows) < len(rows):
        assert inserts_large > inserts_small
    else:
        assert inserts_small == inserts_large


@pytest.mark.django_db
def test_permission_gate_costs_one_query_per_permission_not_per_user():
    small, _ = make_users(10, "s")
    large, _ = make_users(1000, "l")
    count_queries(small[:1], "staff-report")
    _, reads_small, _ = count_queries(small, "staff-report")
    result, reads_large, _ = count_queries(large, "staff-report")
    assert reads_small == reads_large
    assert result.reasons() == {"no_permission": 1000}
