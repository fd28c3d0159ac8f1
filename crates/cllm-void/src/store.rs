//! The vector store: an embedded, persistent, transactional SQLite database.
//!
//! Schema: `collections(id, name UNIQUE, model_name, dim, checksum)` and
//! `documents(seq, collection_id, doc_id, text, tags_json, vector BLOB)` with
//! `UNIQUE(collection_id, doc_id)`. Vectors are little-endian `f32` blobs of exactly
//! `4 · dim` bytes; rows keep their insertion order (`seq`). The database runs in WAL mode:
//! a committed batch survives a crash of the writing process.

use std::path::Path;

use cllm_core::{Document, TextVector};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};

use crate::error::{Result, VoidError};
use crate::points::{check_vector, PointSet};
use crate::progress::progress_bar;

/// Largest dimension accepted for a collection.
pub const MAX_DIM: usize = 4096;

/// The model that produced a collection's vectors.
///
/// ```
/// let m = cllm_void::ModelKey::new("cllm-16", 16, "sha256:abcd");
/// assert_eq!(m.to_string(), "cllm-16 (16 dims, sha256:abcd)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModelKey {
    /// Model name.
    pub name: String,
    /// Dimension of its vectors.
    pub dim: usize,
    /// Checksum of the model's weights (any string the caller chooses).
    pub checksum: String,
}

impl ModelKey {
    /// A model key.
    pub fn new(name: impl Into<String>, dim: usize, checksum: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            dim,
            checksum: checksum.into(),
        }
    }
}

impl std::fmt::Display for ModelKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({} dims, {})", self.name, self.dim, self.checksum)
    }
}

/// A collection as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionInfo {
    /// Collection name.
    pub name: String,
    /// The model of its vectors.
    pub model: ModelKey,
    /// Number of documents.
    pub count: usize,
}

/// What an insert did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InsertStats {
    /// Rows written.
    pub inserted: usize,
    /// Rows already stored with identical content (skipped, so re-runs are idempotent).
    pub skipped: usize,
}

impl std::ops::AddAssign for InsertStats {
    fn add_assign(&mut self, o: Self) {
        self.inserted += o.inserted;
        self.skipped += o.skipped;
    }
}

/// An embedded, persistent, transactional vector store.
///
/// ```
/// use cllm_core::{Document, TextVector};
/// use cllm_void::{ModelKey, VectorStore, VoidError};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("vectors.sqlite");
/// {
///     let mut store = VectorStore::open(&path)?;
///     store.create_collection("wiki", &ModelKey::new("cllm-2", 2, "c0"))?;
///     let doc = Document::new("a", "some text").with_tag("family", "pizza");
///     store.insert_batch("wiki", &[(doc, TextVector::new(vec![1.0, 2.0])?)])?;
///     // wrong dimension: a typed error, nothing written
///     let bad = (Document::new("b", ""), TextVector::new(vec![1.0])?);
///     assert!(matches!(store.insert_batch("wiki", &[bad]), Err(VoidError::DimMismatch { .. })));
/// }
/// let store = VectorStore::open(&path)?;
/// let (doc, v) = store.get("wiki", "a")?.unwrap();
/// assert_eq!(doc.tag("family"), Some("pizza"));
/// assert_eq!(v.as_slice(), &[1.0, 2.0]);
/// assert_eq!(store.collection("wiki")?.count, 1);
/// # Ok::<(), VoidError>(())
/// ```
#[derive(Debug)]
pub struct VectorStore {
    conn: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS collections (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    model_name TEXT NOT NULL,
    dim INTEGER NOT NULL,
    checksum TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    doc_id TEXT NOT NULL,
    text TEXT NOT NULL,
    tags TEXT NOT NULL,
    vector BLOB NOT NULL,
    UNIQUE (collection_id, doc_id)
);
";

impl VectorStore {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        Self::init(conn)
    }

    /// An in-memory store (for tests and examples).
    pub fn open_in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self> {
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn })
    }

    /// Creates a collection for vectors of `model`, or returns the existing one if it was
    /// created for the same model ([`VoidError::ModelMismatch`] otherwise).
    pub fn create_collection(&mut self, name: &str, model: &ModelKey) -> Result<CollectionInfo> {
        if model.dim == 0 || model.dim > MAX_DIM {
            return Err(VoidError::InvalidInput(format!(
                "collection dimension must be in 1..={MAX_DIM}"
            )));
        }
        if name.is_empty() {
            return Err(VoidError::InvalidInput("empty collection name".into()));
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO collections (name, model_name, dim, checksum) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(name) DO NOTHING",
            params![name, model.name, model.dim as i64, model.checksum],
        )?;
        tx.commit()?;
        let info = self.collection(name)?;
        if &info.model != model {
            return Err(VoidError::ModelMismatch {
                name: name.into(),
                existing: info.model.to_string(),
                requested: model.to_string(),
            });
        }
        Ok(info)
    }

    fn collection_row(&self, name: &str) -> Result<(i64, ModelKey)> {
        let row = self
            .conn
            .query_row(
                "SELECT id, model_name, dim, checksum FROM collections WHERE name = ?1",
                [name],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                },
            )
            .optional()?
            .ok_or_else(|| VoidError::CollectionNotFound(name.into()))?;
        let dim = usize::try_from(row.2)
            .ok()
            .filter(|d| (1..=MAX_DIM).contains(d))
            .ok_or_else(|| VoidError::Malformed {
                what: "store",
                reason: format!("collection {name:?} has dimension {}", row.2),
            })?;
        Ok((row.0, ModelKey::new(row.1, dim, row.3)))
    }

    /// The collection called `name`.
    pub fn collection(&self, name: &str) -> Result<CollectionInfo> {
        let (id, model) = self.collection_row(name)?;
        let count: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM documents WHERE collection_id = ?1",
            [id],
            |r| r.get(0),
        )?;
        Ok(CollectionInfo {
            name: name.into(),
            model,
            count: count as usize,
        })
    }

    /// All collections, by name.
    pub fn collections(&self) -> Result<Vec<CollectionInfo>> {
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM collections ORDER BY name")?;
        let names: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        names.iter().map(|n| self.collection(n)).collect()
    }

    /// Deletes a collection and its documents (one transaction). Returns whether it existed.
    pub fn delete_collection(&mut self, name: &str) -> Result<bool> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let id: Option<i64> = tx
            .query_row("SELECT id FROM collections WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?;
        if let Some(id) = id {
            tx.execute("DELETE FROM documents WHERE collection_id = ?1", [id])?;
            tx.execute("DELETE FROM collections WHERE id = ?1", [id])?;
        }
        tx.commit()?;
        Ok(id.is_some())
    }

    /// Inserts `records` in one transaction: all or nothing.
    ///
    /// Every vector is checked first ([`VoidError::DimMismatch`]). A document id already
    /// stored with the same text and vector is skipped (so a re-run is idempotent); with
    /// different content it is a [`VoidError::ConflictingDocument`] and nothing is written.
    pub fn insert_batch(
        &mut self,
        collection: &str,
        records: &[(Document, TextVector)],
    ) -> Result<InsertStats> {
        let (cid, model) = self.collection_row(collection)?;
        for (_, v) in records {
            check_vector(v.as_slice(), model.dim)?;
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut stats = InsertStats::default();
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO documents (collection_id, doc_id, text, tags, vector)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(collection_id, doc_id) DO NOTHING",
            )?;
            let mut existing = tx.prepare_cached(
                "SELECT text, vector FROM documents WHERE collection_id = ?1 AND doc_id = ?2",
            )?;
            for (doc, v) in records {
                let blob = vector_to_blob(v.as_slice());
                let tags = serde_json::to_string(&doc.tags)?;
                let n = insert.execute(params![cid, doc.id, doc.text, tags, blob])?;
                if n == 1 {
                    stats.inserted += 1;
                } else {
                    let (text, old): (String, Vec<u8>) =
                        existing.query_row(params![cid, doc.id], |r| Ok((r.get(0)?, r.get(1)?)))?;
                    if text != doc.text || old != blob {
                        return Err(VoidError::ConflictingDocument { id: doc.id.clone() });
                    }
                    stats.skipped += 1;
                }
            }
        }
        tx.commit()?;
        Ok(stats)
    }

    /// Inserts a stream of records in transactions of `batch_size`, committing each batch.
    ///
    /// Interrupting it (a crash, a kill) loses at most the uncommitted batch; running it again
    /// over the same records skips what was stored and completes the rest, without duplicates.
    ///
    /// ```
    /// use cllm_core::{Document, TextVector};
    /// use cllm_void::{ModelKey, VectorStore};
    /// let mut store = VectorStore::open_in_memory()?;
    /// store.create_collection("c", &ModelKey::new("m", 1, "x"))?;
    /// let recs = || (0..10).map(|i| (Document::new(i.to_string(), ""), TextVector::new(vec![i as f32]).unwrap()));
    /// let first = store.bulk_insert("c", recs().take(4), 3, false)?;
    /// let again = store.bulk_insert("c", recs(), 3, false)?;
    /// assert_eq!((first.inserted, again.inserted, again.skipped), (4, 6, 4));
    /// # Ok::<(), cllm_void::VoidError>(())
    /// ```
    pub fn bulk_insert<I>(
        &mut self,
        collection: &str,
        records: I,
        batch_size: usize,
        progress: bool,
    ) -> Result<InsertStats>
    where
        I: IntoIterator<Item = (Document, TextVector)>,
    {
        if batch_size == 0 {
            return Err(VoidError::InvalidInput(
                "batch_size must be positive".into(),
            ));
        }
        let iter = records.into_iter();
        let bar = progress_bar(iter.size_hint().0 as u64, "inserting", progress);
        let mut stats = InsertStats::default();
        let mut batch = Vec::with_capacity(batch_size);
        for rec in iter {
            batch.push(rec);
            if batch.len() == batch_size {
                stats += self.insert_batch(collection, &batch)?;
                bar.inc(batch.len() as u64);
                batch.clear();
            }
        }
        if !batch.is_empty() {
            stats += self.insert_batch(collection, &batch)?;
            bar.inc(batch.len() as u64);
        }
        bar.finish_and_clear();
        tracing::info!(
            collection,
            inserted = stats.inserted,
            skipped = stats.skipped,
            "bulk insert done"
        );
        Ok(stats)
    }

    /// The document `doc_id` of a collection with its vector.
    pub fn get(&self, collection: &str, doc_id: &str) -> Result<Option<(Document, TextVector)>> {
        let (cid, model) = self.collection_row(collection)?;
        let row = self
            .conn
            .query_row(
                "SELECT text, tags, vector FROM documents WHERE collection_id = ?1 AND doc_id = ?2",
                params![cid, doc_id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                    ))
                },
            )
            .optional()?;
        let Some((text, tags, blob)) = row else {
            return Ok(None);
        };
        let mut doc = Document::new(doc_id, text);
        doc.tags = serde_json::from_str(&tags).map_err(|e| VoidError::Malformed {
            what: "store",
            reason: format!("tags of {doc_id:?}: {e}"),
        })?;
        let v = blob_to_vector(&blob, model.dim)?;
        Ok(Some((doc, TextVector::new(v)?)))
    }

    /// Document ids (in insertion order) and vectors of a collection. Every stored vector is
    /// re-validated (length, finiteness); a corrupt row is a [`VoidError::Malformed`].
    pub fn load_points(&self, collection: &str) -> Result<(Vec<String>, PointSet)> {
        let (cid, model) = self.collection_row(collection)?;
        let mut stmt = self.conn.prepare(
            "SELECT doc_id, vector FROM documents WHERE collection_id = ?1 ORDER BY seq",
        )?;
        let mut rows = stmt.query([cid])?;
        let mut ids = Vec::new();
        let mut data = Vec::new();
        while let Some(r) = rows.next()? {
            let id: String = r.get(0)?;
            let blob: Vec<u8> = r.get(1)?;
            data.extend(blob_to_vector(&blob, model.dim)?);
            ids.push(id);
        }
        if ids.is_empty() {
            return Err(VoidError::TooFewPoints { need: 1, got: 0 });
        }
        Ok((ids, PointSet::new(model.dim, data)?))
    }

    /// Runs SQLite's integrity check; `Ok(())` when the database is consistent.
    pub fn check_integrity(&self) -> Result<()> {
        let res: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if res == "ok" {
            Ok(())
        } else {
            Err(VoidError::Malformed {
                what: "store",
                reason: res,
            })
        }
    }
}

pub(crate) fn vector_to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(crate) fn blob_to_vector(blob: &[u8], dim: usize) -> Result<Vec<f32>> {
    if blob.len() != dim * 4 {
        return Err(VoidError::Malformed {
            what: "store",
            reason: format!("vector blob of {} bytes for dimension {dim}", blob.len()),
        });
    }
    let v: Vec<f32> = blob
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    check_vector(&v, dim)?;
    Ok(v)
}
