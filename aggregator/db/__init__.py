"""Database access: pool, numbered SQL migrations and the embedded PostgreSQL launcher."""

from aggregator.db.embedded import EmbeddedPostgres, EmbeddedPostgresError, database, database_async
from aggregator.db.migrate import MigrationError, migrate
from aggregator.db.pool import create_pool

__all__ = ["EmbeddedPostgres", "EmbeddedPostgresError", "MigrationError", "create_pool", "database",
           "database_async", "migrate"]
