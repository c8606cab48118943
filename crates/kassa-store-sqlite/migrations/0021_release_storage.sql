-- A release's snapshot (the JSON of kassa_core::release::Snapshot) in parts of at most 1 MiB,
-- each written (and, when the release goes, deleted) by a write of its own: a 100,000-product
-- snapshot is ~60 MB, and as one row it held SQLite's one writer, and every checkout queued
-- behind it, for about a second. A release row is written after all its parts, so a release
-- that is visible is whole. No foreign key: the parts come first.
CREATE TABLE catalog_release_parts (
    release_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (release_id, seq)
);
INSERT INTO catalog_release_parts (release_id, seq, body)
    SELECT id, 0, CAST(snapshot AS BLOB) FROM catalog_releases;
ALTER TABLE catalog_releases DROP COLUMN snapshot;
