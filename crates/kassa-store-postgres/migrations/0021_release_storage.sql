-- A release's snapshot as text, stored uncompressed out of line (EXTERNAL): kassa only ever
-- writes it whole and reads it whole to parse it itself, so jsonb's parse on the way in, its
-- rendering back to text on the way out and the TOAST compression were server CPU (about two
-- seconds for a 100,000-product snapshot) taken from the carts and checkouts beside a publish,
-- and again on every node that read the release.
ALTER TABLE catalog_releases ALTER COLUMN snapshot TYPE text USING snapshot::text;
ALTER TABLE catalog_releases ALTER COLUMN snapshot SET STORAGE EXTERNAL;
