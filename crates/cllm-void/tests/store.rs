//! The vector store across process boundaries: a writer process killed midway through a
//! bulk insert, then a restart that completes it without duplicates; safetensors round trip.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cllm_core::{Document, TextVector};
use cllm_void::{ModelKey, VectorStore, VoidError, DEFAULT_IMPORT_LIMIT};

const N: usize = 4000;
const BATCH: usize = 50;
const DIM: usize = 8;
const DB_ENV: &str = "CLLM_VOID_TEST_CHILD_DB";

fn model() -> ModelKey {
    ModelKey::new("test-model", DIM, "sha256:0123")
}

fn record(i: usize) -> (Document, TextVector) {
    let v: Vec<f32> = (0..DIM)
        .map(|j| ((i * 31 + j * 7) % 101) as f32 / 10.0)
        .collect();
    let doc = Document::new(format!("doc-{i:05}"), format!("text number {i}"))
        .with_tag("parity", if i.is_multiple_of(2) { "even" } else { "odd" });
    (doc, TextVector::new(v).unwrap())
}

/// Child-process body: inserts all records slowly so that the parent can kill it midway.
/// Run only by `bulk_insert_killed_midway_resumes_without_duplicates`.
#[test]
#[ignore = "child process of bulk_insert_killed_midway_resumes_without_duplicates"]
fn child_bulk_writer() {
    let path = std::env::var(DB_ENV).expect("run by the parent test only");
    let mut store = VectorStore::open(Path::new(&path)).unwrap();
    store.create_collection("c", &model()).unwrap();
    let slow = (0..N).map(|i| {
        if i % BATCH == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        record(i)
    });
    store.bulk_insert("c", slow, BATCH, false).unwrap();
}

fn count_rows(path: &Path) -> usize {
    VectorStore::open(path)
        .and_then(|s| s.collection("c"))
        .map(|c| c.count)
        .unwrap_or(0)
}

#[test]
fn bulk_insert_killed_midway_resumes_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_bulk_writer",
            "--ignored",
            "--test-threads=1",
        ])
        .env(DB_ENV, &path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until a few batches are committed, then kill the writer mid-run.
    let start = Instant::now();
    while count_rows(&path) < 5 * BATCH {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "child wrote nothing"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "child exited before it was killed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // Consistent after the kill: whole batches only, every row readable and intact.
    let mut store = VectorStore::open(&path).unwrap();
    store.check_integrity().unwrap();
    let committed = store.collection("c").unwrap().count;
    assert!((5 * BATCH..N).contains(&committed), "committed {committed}");
    assert_eq!(committed % BATCH, 0, "a partial batch was committed");
    let (ids, points) = store.load_points("c").unwrap();
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(id, &record(i).0.id);
        assert_eq!(points.row(i), record(i).1.as_slice());
    }

    // A re-run completes the collection without duplicates.
    let stats = store
        .bulk_insert("c", (0..N).map(record), BATCH, false)
        .unwrap();
    assert_eq!(stats.skipped, committed);
    assert_eq!(stats.inserted, N - committed);
    drop(store);

    // Round trip across a restart: a fresh handle sees everything, in order.
    let store = VectorStore::open(&path).unwrap();
    let (ids, points) = store.load_points("c").unwrap();
    assert_eq!(ids.len(), N);
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), N, "duplicate ids");
    for i in [0, committed - 1, committed, N - 1] {
        assert_eq!(points.row(i), record(i).1.as_slice());
        let (doc, v) = store.get("c", &record(i).0.id).unwrap().unwrap();
        assert_eq!(doc, record(i).0);
        assert_eq!(v, record(i).1);
    }
}

#[test]
fn wrong_dim_conflicts_and_models_are_typed_errors() {
    let mut store = VectorStore::open_in_memory().unwrap();
    store.create_collection("c", &model()).unwrap();
    assert!(matches!(
        store.create_collection("c", &ModelKey::new("other", DIM, "x")),
        Err(VoidError::ModelMismatch { .. })
    ));
    let bad = vec![
        record(0),
        (
            Document::new("short", ""),
            TextVector::new(vec![1.0; DIM - 1]).unwrap(),
        ),
    ];
    assert!(matches!(
        store.insert_batch("c", &bad),
        Err(VoidError::DimMismatch {
            expected: DIM,
            got: 7
        })
    ));
    assert_eq!(
        store.collection("c").unwrap().count,
        0,
        "a failed batch wrote rows"
    );
    store.insert_batch("c", &[record(1)]).unwrap();
    let mut changed = record(1);
    changed.0.text = "other text".into();
    assert!(matches!(
        store.insert_batch("c", &[changed]),
        Err(VoidError::ConflictingDocument { .. })
    ));
    assert!(matches!(
        store.load_points("nope"),
        Err(VoidError::CollectionNotFound(_))
    ));
    // NaN cannot even be built as a TextVector; the raw point set rejects it too.
    assert!(TextVector::new(vec![f32::NAN; DIM]).is_err());
}

#[test]
fn safetensors_export_import_round_trip_and_rejects_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = VectorStore::open(&dir.path().join("a.sqlite")).unwrap();
    store.create_collection("c", &model()).unwrap();
    store
        .bulk_insert("c", (0..300).map(record), 64, false)
        .unwrap();
    let file = dir.path().join("c.safetensors");
    store.export_safetensors("c", &file).unwrap();

    let mut other = VectorStore::open_in_memory().unwrap();
    let stats = other
        .import_safetensors(&file, "copy", DEFAULT_IMPORT_LIMIT)
        .unwrap();
    assert_eq!(stats.inserted, 300);
    assert_eq!(other.collection("copy").unwrap().model, model());
    assert_eq!(
        other.load_points("copy").unwrap(),
        store.load_points("c").unwrap()
    );
    // Importing twice is idempotent.
    assert_eq!(
        other
            .import_safetensors(&file, "copy", DEFAULT_IMPORT_LIMIT)
            .unwrap()
            .skipped,
        300
    );

    // Size limit.
    assert!(matches!(
        other.import_safetensors(&file, "x", 100),
        Err(VoidError::Malformed { .. })
    ));
    // A NaN written into the vector data: typed error, nothing imported.
    let mut bytes = std::fs::read(&file).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    let start = header["vectors"]["data_offsets"][0].as_u64().unwrap() as usize + 8 + header_len;
    bytes[start + 4 * 17..start + 4 * 18].copy_from_slice(&f32::NAN.to_le_bytes());
    let bad = dir.path().join("bad.safetensors");
    std::fs::write(&bad, &bytes).unwrap();
    assert!(matches!(
        other.import_safetensors(&bad, "bad", DEFAULT_IMPORT_LIMIT),
        Err(VoidError::NonFinite { index: 17, .. })
    ));
    assert!(other
        .collection("bad")
        .map(|c| c.count == 0)
        .unwrap_or(true));
    // Truncated file.
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    assert!(other
        .import_safetensors(&bad, "bad2", DEFAULT_IMPORT_LIMIT)
        .is_err());
}
