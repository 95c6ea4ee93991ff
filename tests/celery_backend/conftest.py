"""The delivery tests' channels and factories, for the Celery backend tests."""

from tests.delivery.conftest import _delivery_settings, make_deliveries  # noqa: F401
