-- Catalogs, their published releases and catalog rules (/catalogs...).

CREATE TABLE catalogs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX catalogs_created ON catalogs (created_at, id);

-- position keeps the order the hierarchies were given in. Deleting a hierarchy takes it out of
-- its catalogs.
CREATE TABLE catalog_hierarchies (
    catalog_id TEXT NOT NULL REFERENCES catalogs (id) ON DELETE CASCADE,
    hierarchy_id TEXT NOT NULL REFERENCES hierarchies (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    PRIMARY KEY (catalog_id, hierarchy_id)
);
CREATE INDEX catalog_hierarchies_hierarchy ON catalog_hierarchies (hierarchy_id);

-- A plain foreign key to pricebooks: deleting a price book a catalog uses is refused.
CREATE TABLE catalog_pricebooks (
    catalog_id TEXT NOT NULL REFERENCES catalogs (id) ON DELETE CASCADE,
    pricebook_id TEXT NOT NULL REFERENCES pricebooks (id),
    priority INTEGER NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (catalog_id, pricebook_id)
);
CREATE INDEX catalog_pricebooks_pricebook ON catalog_pricebooks (pricebook_id);

-- snapshot: the JSON of kassa_core::release::Snapshot; a release never changes.
CREATE TABLE catalog_releases (
    id TEXT PRIMARY KEY,
    catalog_id TEXT NOT NULL REFERENCES catalogs (id) ON DELETE CASCADE,
    published_at INTEGER NOT NULL,
    total_products INTEGER NOT NULL,
    total_nodes INTEGER NOT NULL,
    snapshot TEXT NOT NULL
);
CREATE INDEX catalog_releases_catalog ON catalog_releases (catalog_id, published_at, id);

-- The criteria are JSON arrays of strings; schedules a JSON array of kassa_core::pricing::Schedule.
CREATE TABLE catalog_rules (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT,
    catalog_id TEXT NOT NULL REFERENCES catalogs (id) ON DELETE CASCADE,
    account_ids TEXT NOT NULL,
    customer_ids TEXT NOT NULL,
    channels TEXT NOT NULL,
    tags TEXT NOT NULL,
    schedules TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX catalog_rules_catalog ON catalog_rules (catalog_id);
CREATE INDEX catalog_rules_created ON catalog_rules (created_at, id);
