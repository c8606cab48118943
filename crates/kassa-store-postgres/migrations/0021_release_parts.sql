-- The SQLite store splits a release's snapshot into parts so that its one writer is never held
-- for long (see its 0021_release_parts). PostgreSQL keeps the snapshot in one row: writing it
-- holds no lock that carts or checkouts wait for. Nothing changes here; the file keeps the two
-- stores' migrations name for name.
SELECT 1;
