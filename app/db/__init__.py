"""Database access: the async engine, ORM models and migrations."""
