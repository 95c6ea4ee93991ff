"""Fixtures of the push tests: the fake push services."""

from dovecote.testing.fakes.push_fixtures import *  # noqa: F403
