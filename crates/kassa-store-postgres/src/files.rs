//! Files and the products' main images and files on PostgreSQL. An upload's bytes are a row of
//! `file_contents`, written in the same transaction as the file; nothing but serving the content
//! reads that table.

use async_trait::async_trait;
use kassa_core::Result;
use kassa_core::file::{
    COLUMN_ID, File, FileContent, FilesChange, MAX_PRODUCT_FILES, MediaChange, changed_files,
};
use kassa_core::integrations::Event;
use kassa_core::query::{Condition, Page, PageRequest, SqlValue};
use kassa_core::store::FileStore;
use kassa_core::time::Millis;
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use crate::sql::{page_of, push_conditions};
use crate::{PgStore, foreign_key_violation, sql_error};

pub(crate) const FILE_COLUMNS: &str = "files.id, files.file_name, files.mime_type, files.file_size, files.public, files.width, files.height, \
     files.sha256, files.location, files.created_at";

pub(crate) fn file_from_row(row: &PgRow) -> File {
    File {
        id: row.get(0),
        file_name: row.get(1),
        mime_type: row.get(2),
        file_size: row.get(3),
        public: row.get(4),
        width: row.get(5),
        height: row.get(6),
        sha256: row.get(7),
        location: row.get(8),
        created_at: row.get(9),
    }
}

/// The UUIDs of an `eq`/`in` condition on `id` (checked to be UUIDs by `file_conditions`).
fn ids_of(c: &Condition) -> Vec<Uuid> {
    c.values
        .iter()
        .filter_map(|v| match v {
            SqlValue::Text(t) => Uuid::parse_str(t.trim()).ok(),
            SqlValue::Int(_) => None,
        })
        .collect()
}

#[async_trait]
impl FileStore for PgStore {
    async fn create_file(&self, file: File, content: Option<Vec<u8>>, events: Vec<Event>) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        sqlx::query(
            "INSERT INTO files (id, file_name, mime_type, file_size, public, width, height, sha256, location,
                 created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(file.id)
        .bind(&file.file_name)
        .bind(&file.mime_type)
        .bind(file.file_size)
        .bind(file.public)
        .bind(file.width)
        .bind(file.height)
        .bind(&file.sha256)
        .bind(&file.location)
        .bind(file.created_at)
        .execute(&mut *tx)
        .await
        .map_err(sql_error)?;
        if let Some(bytes) = content {
            sqlx::query("INSERT INTO file_contents (file_id, content) VALUES ($1, $2)")
                .bind(file.id)
                .bind(bytes)
                .execute(&mut *tx)
                .await
                .map_err(sql_error)?;
        }
        crate::outbox::write(&mut tx, &events).await?;
        tx.commit().await.map_err(sql_error)
    }

    async fn file(&self, id: Uuid) -> Result<Option<File>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {FILE_COLUMNS} FROM files WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(row.as_ref().map(file_from_row))
    }

    async fn files(&self, filter: &[Condition], page: PageRequest) -> Result<Page<File>> {
        // Ids compare as UUIDs, so `in(id,…)` is a primary key lookup.
        let (by_id, rest): (Vec<&Condition>, Vec<&Condition>) =
            filter.iter().partition(|c| c.column == COLUMN_ID);
        let rest: Vec<Condition> = rest.into_iter().cloned().collect();
        page_of(
            &self.pool,
            FILE_COLUMNS,
            |qb| {
                qb.push("FROM files WHERE TRUE");
                for c in &by_id {
                    qb.push(" AND files.id = ANY(");
                    qb.push_bind(ids_of(c));
                    qb.push(")");
                }
                push_conditions(qb, &rest);
            },
            "files.created_at, files.id",
            page,
            file_from_row,
        )
        .await
    }

    async fn file_content(&self, id: Uuid, known: Vec<String>) -> Result<Option<FileContent>> {
        // The content is only detoasted when the client does not have it already.
        let row = sqlx::query(
            "SELECT f.mime_type, f.sha256, CASE WHEN f.sha256 = ANY($2) THEN NULL ELSE c.content END
             FROM files f JOIN file_contents c ON c.file_id = f.id
             WHERE f.id = $1",
        )
        .bind(id)
        .bind(&known)
        .fetch_optional(&self.pool)
        .await
        .map_err(sql_error)?;
        Ok(row.map(|r| FileContent {
            mime_type: r.get(0),
            sha256: r.get(1),
            bytes: r.get(2),
        }))
    }

    async fn delete_file(&self, id: Uuid, events: Vec<Event>) -> Result<bool> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        let done = sqlx::query("DELETE FROM files WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(sql_error)?;
        let deleted = done.rows_affected() == 1;
        if deleted {
            crate::outbox::write(&mut tx, &events).await?;
        }
        tx.commit().await.map_err(sql_error)?;
        Ok(deleted)
    }

    async fn set_main_image(&self, product_id: Uuid, file: Option<Uuid>, now: Millis) -> Result<MediaChange> {
        if let Some(file) = file {
            let exists = sqlx::query("SELECT 1 FROM files WHERE id = $1")
                .bind(file)
                .fetch_optional(&self.pool)
                .await
                .map_err(sql_error)?;
            if exists.is_none() {
                return Ok(MediaChange::NoFile(file));
            }
        }
        // The foreign key settles a file deleted since: the update then changes nothing.
        let done = sqlx::query("UPDATE products SET main_image_id = $2, updated_at = $3 WHERE id = $1")
            .bind(product_id)
            .bind(file)
            .bind(now)
            .execute(&self.pool)
            .await;
        match done {
            Ok(done) if done.rows_affected() == 1 => Ok(MediaChange::Done),
            Ok(_) => Ok(MediaChange::NoProduct),
            Err(e) if foreign_key_violation(&e) => {
                Ok(file.map_or(MediaChange::NoProduct, MediaChange::NoFile))
            }
            Err(e) => Err(sql_error(e)),
        }
    }

    async fn change_product_files(
        &self,
        product_id: Uuid,
        change: FilesChange,
        files: Vec<Uuid>,
        now: Millis,
    ) -> Result<MediaChange> {
        let mut tx = self.pool.begin().await.map_err(sql_error)?;
        // The product's row lock serializes changes of its files: each starts from the last.
        // The files are read by a statement of their own, after the lock is held: one statement
        // would read them from the snapshot it took before waiting for the lock.
        let locked = sqlx::query("SELECT 1 FROM products WHERE id = $1 FOR UPDATE")
            .bind(product_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(sql_error)?;
        if locked.is_none() {
            return Ok(MediaChange::NoProduct);
        }
        let current: Vec<Uuid> =
            sqlx::query_scalar("SELECT file_id FROM product_files WHERE product_id = $1 ORDER BY position")
                .bind(product_id)
                .fetch_all(&mut *tx)
                .await
                .map_err(sql_error)?;
        if change != FilesChange::Remove {
            // KEY SHARE keeps the files from being deleted until this transaction ends.
            let found: Vec<Uuid> =
                sqlx::query_scalar("SELECT id FROM files WHERE id = ANY($1) FOR KEY SHARE")
                    .bind(&files)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(sql_error)?;
            if let Some(missing) = files.iter().find(|f| !found.contains(f)) {
                return Ok(MediaChange::NoFile(*missing));
            }
        }
        let next = changed_files(&current, change, &files);
        if next.len() > MAX_PRODUCT_FILES {
            return Ok(MediaChange::TooManyFiles);
        }
        sqlx::query("DELETE FROM product_files WHERE product_id = $1")
            .bind(product_id)
            .execute(&mut *tx)
            .await
            .map_err(sql_error)?;
        sqlx::query(
            "INSERT INTO product_files (product_id, file_id, position)
             SELECT $1, f, (n - 1)::int FROM unnest($2::uuid[]) WITH ORDINALITY AS t(f, n)",
        )
        .bind(product_id)
        .bind(&next)
        .execute(&mut *tx)
        .await
        .map_err(sql_error)?;
        sqlx::query("UPDATE products SET updated_at = $2 WHERE id = $1")
            .bind(product_id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(sql_error)?;
        tx.commit().await.map_err(sql_error)?;
        Ok(MediaChange::Done)
    }
}
