"""Use cases. Services take a database session and plain values, enforce access, write audit events and
never commit: the caller's unit of work (``Database.write``) does."""
