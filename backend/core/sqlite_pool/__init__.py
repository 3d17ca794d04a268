"""SQLite whose closed connections wait, open, for the next request (ENGINE "backend.core.sqlite_pool")."""
