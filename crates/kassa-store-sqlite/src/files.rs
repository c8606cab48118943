//! Files and the products' main images and files on SQLite. An upload's bytes are a row of
//! `file_contents`, written in the same transaction as the file; nothing but serving the content
//! reads that table.

use async_trait::async_trait;
use kassa_core::Result;
use kassa_core::file::{File, FileContent, FilesChange, MAX_PRODUCT_FILES, MediaChange, changed_files};
use kassa_core::integrations::Event;
use kassa_core::query::{Condition, Page, PageRequest};
use kassa_core::store::FileStore;
use kassa_core::time::Millis;
use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

use crate::SqliteStore;
use crate::accounts::page_of;
use crate::catalog::json_at;
use crate::db::DbResult;
use crate::sql::{id, push_conditions, uuid_at};

pub(crate) const FILE_COLUMNS: &str = "files.id, files.file_name, files.mime_type, files.file_size, files.public, files.width, files.height, \
     files.sha256, files.location, files.created_at";

pub(crate) fn file_from_row(row: &Row<'_>) -> rusqlite::Result<File> {
    Ok(File {
        id: uuid_at(row, 0)?,
        file_name: row.get(1)?,
        mime_type: row.get(2)?,
        file_size: row.get(3)?,
        public: row.get(4)?,
        width: row.get(5)?,
        height: row.get(6)?,
        sha256: row.get(7)?,
        location: row.get(8)?,
        created_at: row.get(9)?,
    })
}

/// The product's current files, or `None` if there is no such product.
fn product_files(conn: &Connection, product_id: Uuid) -> DbResult<Option<Vec<Uuid>>> {
    Ok(conn
        .prepare_cached(
            "SELECT (SELECT json_group_array(file_id ORDER BY position) FROM product_files
                     WHERE product_id = products.id)
             FROM products WHERE id = ?1",
        )?
        .query_row([id(product_id)], |r| json_at::<Vec<Uuid>>(r, 0))
        .optional()?)
}

/// The first of `files` that does not exist.
fn missing_file(conn: &Connection, files: &[Uuid]) -> DbResult<Option<Uuid>> {
    let mut exists = conn.prepare_cached("SELECT 1 FROM files WHERE id = ?1")?;
    for f in files {
        if exists.query_row([id(*f)], |_| Ok(())).optional()?.is_none() {
            return Ok(Some(*f));
        }
    }
    Ok(None)
}

#[async_trait]
impl FileStore for SqliteStore {
    async fn create_file(&self, file: File, content: Option<Vec<u8>>, events: Vec<Event>) -> Result<()> {
        self.db
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO files (id, file_name, mime_type, file_size, public, width, height, sha256,
                         location, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )?
                .execute(params![
                    id(file.id),
                    file.file_name,
                    file.mime_type,
                    file.file_size,
                    file.public,
                    file.width,
                    file.height,
                    file.sha256,
                    file.location,
                    file.created_at,
                ])?;
                if let Some(bytes) = content {
                    conn.prepare_cached("INSERT INTO file_contents (file_id, content) VALUES (?1, ?2)")?
                        .execute(params![id(file.id), bytes])?;
                }
                crate::outbox::write(conn, &events)
            })
            .await
    }

    async fn file(&self, file_id: Uuid) -> Result<Option<File>> {
        self.db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached(&format!("SELECT {FILE_COLUMNS} FROM files WHERE id = ?1"))?
                    .query_row([id(file_id)], file_from_row)
                    .optional()?)
            })
            .await
    }

    async fn files(&self, filter: &[Condition], page: PageRequest) -> Result<Page<File>> {
        let filter = filter.to_vec();
        self.db
            .read(move |conn| {
                let mut from = "FROM files WHERE 1 = 1".to_owned();
                let mut params = Vec::new();
                push_conditions(&mut from, &mut params, &filter);
                page_of(
                    conn,
                    FILE_COLUMNS,
                    &from,
                    "files.created_at, files.id",
                    params,
                    page,
                    file_from_row,
                )
            })
            .await
    }

    async fn file_content(&self, file_id: Uuid, known: Vec<String>) -> Result<Option<FileContent>> {
        self.db
            .read(move |conn| {
                let Some((mime_type, sha256)) = conn
                    .prepare_cached(
                        "SELECT mime_type, sha256 FROM files WHERE id = ?1 AND sha256 IS NOT NULL",
                    )?
                    .query_row([id(file_id)], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                    })
                    .optional()?
                else {
                    return Ok(None);
                };
                let bytes = if known.contains(&sha256) {
                    None
                } else {
                    let bytes: Option<Vec<u8>> = conn
                        .prepare_cached("SELECT content FROM file_contents WHERE file_id = ?1")?
                        .query_row([id(file_id)], |r| r.get(0))
                        .optional()?;
                    match bytes {
                        Some(b) => Some(b),
                        None => return Ok(None),
                    }
                };
                Ok(Some(FileContent {
                    mime_type,
                    sha256,
                    bytes,
                }))
            })
            .await
    }

    async fn delete_file(&self, file_id: Uuid, events: Vec<Event>) -> Result<bool> {
        self.db
            .write(move |conn| {
                let deleted = conn
                    .prepare_cached("DELETE FROM files WHERE id = ?1")?
                    .execute([id(file_id)])?
                    == 1;
                if deleted {
                    crate::outbox::write(conn, &events)?;
                }
                Ok(deleted)
            })
            .await
    }

    async fn set_main_image(&self, product_id: Uuid, file: Option<Uuid>, now: Millis) -> Result<MediaChange> {
        self.db
            .write(move |conn| {
                if let Some(missing) = missing_file(conn, file.as_slice())? {
                    return Ok(MediaChange::NoFile(missing));
                }
                let changed = conn
                    .prepare_cached("UPDATE products SET main_image_id = ?2, updated_at = ?3 WHERE id = ?1")?
                    .execute(params![id(product_id), file.map(id), now])?;
                Ok(if changed == 1 {
                    MediaChange::Done
                } else {
                    MediaChange::NoProduct
                })
            })
            .await
    }

    async fn change_product_files(
        &self,
        product_id: Uuid,
        change: FilesChange,
        files: Vec<Uuid>,
        now: Millis,
    ) -> Result<MediaChange> {
        // The single writer runs this whole use-case alone: the read and the writes cannot
        // interleave with another change.
        self.db
            .write(move |conn| {
                let Some(current) = product_files(conn, product_id)? else {
                    return Ok(MediaChange::NoProduct);
                };
                if change != FilesChange::Remove
                    && let Some(missing) = missing_file(conn, &files)?
                {
                    return Ok(MediaChange::NoFile(missing));
                }
                let next = changed_files(&current, change, &files);
                if next.len() > MAX_PRODUCT_FILES {
                    return Ok(MediaChange::TooManyFiles);
                }
                conn.prepare_cached("DELETE FROM product_files WHERE product_id = ?1")?
                    .execute([id(product_id)])?;
                let mut insert = conn.prepare_cached(
                    "INSERT INTO product_files (product_id, file_id, position) VALUES (?1, ?2, ?3)",
                )?;
                for (position, file) in next.iter().enumerate() {
                    insert.execute(params![id(product_id), id(*file), position as i64])?;
                }
                conn.prepare_cached("UPDATE products SET updated_at = ?2 WHERE id = ?1")?
                    .execute(params![id(product_id), now])?;
                Ok(MediaChange::Done)
            })
            .await
    }
}
