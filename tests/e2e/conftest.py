"""Fixtures shared by the replica tests: a PostgreSQL cluster and replicas started on it."""

from tests.e2e.test_replicas import postgres, replicas

__all__ = ["postgres", "replicas"]
