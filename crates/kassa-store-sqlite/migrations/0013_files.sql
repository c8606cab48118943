-- Files (/v2/files) and the products' main images and files.

-- sha256 and file_size belong to an upload (whose bytes are in file_contents); location to a
-- file kept elsewhere (file_location). Exactly one of the two kinds.
CREATE TABLE files (
    id TEXT PRIMARY KEY,
    file_name TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    file_size INTEGER,
    public INTEGER NOT NULL,
    width INTEGER,
    height INTEGER,
    sha256 TEXT,
    location TEXT,
    created_at INTEGER NOT NULL,
    CHECK ((location IS NULL) = (sha256 IS NOT NULL AND file_size IS NOT NULL))
);
CREATE INDEX files_created ON files (created_at, id);

-- The bytes, apart, so that listing files never reads them.
CREATE TABLE file_contents (
    file_id TEXT PRIMARY KEY REFERENCES files (id) ON DELETE CASCADE,
    content BLOB NOT NULL
);

ALTER TABLE products ADD COLUMN main_image_id TEXT REFERENCES files (id) ON DELETE SET NULL;
CREATE INDEX products_main_image ON products (main_image_id) WHERE main_image_id IS NOT NULL;

-- position keeps the order the files were attached in.
CREATE TABLE product_files (
    product_id TEXT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    file_id TEXT NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    PRIMARY KEY (product_id, file_id)
);
CREATE INDEX product_files_file ON product_files (file_id);
