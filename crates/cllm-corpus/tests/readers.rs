//! The user-corpus readers: round trips (property tests), the fields each format carries,
//! and a typed error naming file and line for every kind of bad input.

use std::path::{Path, PathBuf};

use cllm_core::Document;
use cllm_corpus::input::{read_corpus, FortuneSource, TextSource};
use cllm_corpus::{
    read_corpus_file, CorpusError, CorpusFormat, CorpusSpec, FieldNames, ReadOptions, TextProblem,
};
use proptest::prelude::*;

fn read(path: &Path) -> Result<cllm_corpus::Corpus, CorpusError> {
    read_corpus_file(&CorpusSpec::new(path), &mut |_, _| {})
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, bytes).unwrap();
    p
}

/// The problem and line of a `BadText` error, or a panic naming what came instead.
fn problem(r: Result<cllm_corpus::Corpus, CorpusError>) -> (u64, TextProblem) {
    match r {
        Err(CorpusError::BadText { line, problem, .. }) => (line, problem),
        Err(e) => panic!("another error: {e}"),
        Ok(c) => panic!("read {} texts", c.len()),
    }
}

fn texts(c: &cllm_corpus::Corpus) -> Vec<&str> {
    c.iter().map(|d| d.text.as_str()).collect()
}

/// Any non-blank text (the readers refuse blank ones).
fn any_text() -> impl Strategy<Value = String> {
    "(?s).{0,40}".prop_filter("not blank", |s| !s.trim().is_empty())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn jsonl_round_trip(ts in prop::collection::vec(any_text(), 1..8)) {
        let dir = tempfile::tempdir().unwrap();
        let mut body = String::new();
        for (i, t) in ts.iter().enumerate() {
            body += &serde_json::json!({"id": format!("t{i}"), "text": t}).to_string();
            body.push('\n');
        }
        let c = read(&write(dir.path(), "c.jsonl", body)).unwrap();
        prop_assert_eq!(texts(&c), ts.iter().map(String::as_str).collect::<Vec<_>>());
    }

    #[test]
    fn csv_and_tsv_round_trip(ts in prop::collection::vec(any_text(), 1..8), tab in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let (name, delim) = if tab { ("c.tsv", b'\t') } else { ("c.csv", b',') };
        let path = dir.path().join(name);
        let mut w = csv::WriterBuilder::new().delimiter(delim).from_path(&path).unwrap();
        w.write_record(["id", "text", "label"]).unwrap();
        for (i, t) in ts.iter().enumerate() {
            w.write_record([format!("r{i}").as_str(), t, "g"]).unwrap();
        }
        w.flush().unwrap();
        drop(w);
        let c = read(&path).unwrap();
        prop_assert_eq!(texts(&c), ts.iter().map(String::as_str).collect::<Vec<_>>());
        prop_assert!(c.iter().all(|d| d.group() == Some("g")));
    }

    /// (A text ending in `\r` is left out: the file's final `\r\n` is one line break.)
    #[test]
    fn folder_round_trip(ts in prop::collection::vec(any_text().prop_filter("no final CR", |t| !t.ends_with('\r')), 1..6)) {
        let dir = tempfile::tempdir().unwrap();
        for (i, t) in ts.iter().enumerate() {
            write(dir.path(), &format!("g{}/t{i:02}.txt", i % 2), format!("{t}\n"));
        }
        let c = read(dir.path()).unwrap();
        let mut got: Vec<(String, String)> = c.iter().map(|d| (d.id.clone(), d.text.clone())).collect();
        got.sort();
        let mut want: Vec<(String, String)> = ts.iter().enumerate()
            .map(|(i, t)| (format!("g{}/t{i:02}", i % 2), t.clone())).collect();
        want.sort();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn readers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let dir = tempfile::tempdir().unwrap();
        for name in ["x.jsonl", "x.csv", "x.tsv"] {
            let _ = read(&write(dir.path(), name, &bytes));
        }
        let spec = CorpusSpec { format: Some(CorpusFormat::Fortune), ..CorpusSpec::new(dir.path().join("x.csv")) };
        let _ = read_corpus_file(&spec, &mut |_, _| {});
    }
}

#[test]
fn jsonl_fields_metadata_and_our_own_export() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "c.jsonl",
        concat!(
            r#"{"id": 7, "text": "first", "title": "T", "groups": ["a", "b"], "year": 2020, "ok": true, "n": null}"#,
            "\n\n",
            r#"{"text": "second", "label": "c", "nested": {"k": [1]}}"#,
            "\r\n",
        ),
    );
    let c = read(&p).unwrap();
    let d = &c.documents()[0];
    assert_eq!(
        (d.id.as_str(), d.title(), d.groups()),
        ("7", Some("T"), vec!["a", "b"])
    );
    assert_eq!(
        (d.tag("year"), d.tag("ok"), d.tag("n")),
        (Some("2020"), Some("true"), None)
    );
    let d = &c.documents()[1];
    assert_eq!((d.id.as_str(), d.group()), ("line-3", Some("c")));
    assert_eq!(d.tag("nested"), Some(r#"{"k":[1]}"#));
    // a corpus written by Corpus::write_jsonl reads back the same
    let out = dir.path().join("again.jsonl");
    c.write_jsonl(&out).unwrap();
    assert_eq!(read(&out).unwrap().documents(), c.documents());
    // field names are configurable
    let p = write(
        dir.path(),
        "o.jsonl",
        r#"{"body": "x", "key": "k1", "topic": "t"}"#,
    );
    let spec = CorpusSpec {
        fields: FieldNames {
            text: "body".into(),
            id: "key".into(),
            title: "title".into(),
            groups: Some("topic".into()),
        },
        ..CorpusSpec::new(&p)
    };
    let c = read_corpus_file(&spec, &mut |_, _| {}).unwrap();
    let d = &c.documents()[0];
    assert_eq!(
        (d.id.as_str(), d.text.as_str(), d.group()),
        ("k1", "x", Some("t"))
    );
}

#[test]
fn csv_columns_and_multiline_cells() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "c.csv",
        "text,groups,source\n\"two\nlines, quoted \"\"x\"\"\",a|b,web\nplain,,book\n",
    );
    let c = read(&p).unwrap();
    let d = &c.documents()[0];
    assert_eq!(d.text, "two\nlines, quoted \"x\"");
    assert_eq!(
        (d.id.as_str(), d.groups(), d.tag("source")),
        ("row-1", vec!["a", "b"], Some("web"))
    );
    let d = &c.documents()[1];
    assert_eq!(
        (d.id.as_str(), d.group(), d.tag("source")),
        ("row-2", None, Some("book"))
    );
}

#[test]
fn folder_ids_groups_and_titles() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "top.txt", "at the top\n");
    write(dir.path(), "soup/minestrone.md", "# Minestrone\n\nBeans.\n");
    write(dir.path(), "soup/deeper/x.TXT", "deep");
    write(dir.path(), "soup/notes.json", "{}");
    write(dir.path(), ".hidden/y.txt", "hidden");
    let c = read(dir.path()).unwrap();
    let got: Vec<(&str, Option<&str>, Option<&str>)> = c
        .iter()
        .map(|d| (d.id.as_str(), d.group(), d.title()))
        .collect();
    assert_eq!(
        got,
        [
            ("soup/deeper/x", Some("soup"), None),
            ("soup/minestrone", Some("soup"), Some("Minestrone")),
            ("top", None, None)
        ]
    );
    assert_eq!(c.documents()[1].text, "# Minestrone\n\nBeans.");
}

#[test]
fn fortune_files() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "riddles",
        "Q: Why?\nA: Because.\n%\nSecond one.\n%\n",
    );
    write(dir.path(), "riddles.dat", [0u8, 1, 2]);
    write(dir.path(), "wisdom", "Only one, no final separator");
    let spec = CorpusSpec {
        format: Some(CorpusFormat::Fortune),
        ..CorpusSpec::new(dir.path())
    };
    let c = read_corpus_file(&spec, &mut |_, _| {}).unwrap();
    let got: Vec<(&str, &str, Option<&str>)> = c
        .iter()
        .map(|d| (d.id.as_str(), d.text.as_str(), d.group()))
        .collect();
    assert_eq!(
        got,
        [
            ("riddles:1", "Q: Why?\nA: Because.", Some("riddles")),
            ("riddles:2", "Second one.", Some("riddles")),
            ("wisdom:1", "Only one, no final separator", Some("wisdom")),
        ]
    );
    let src = FortuneSource::new(dir.path().to_path_buf(), 1 << 16).unwrap();
    assert_eq!(src.files().len(), 2);
    let mut last = 0;
    let c = read_corpus(&src, &ReadOptions::default(), &mut |done, total| {
        assert!(done >= last && Some(done) <= total);
        last = done;
    })
    .unwrap();
    assert_eq!((c.len(), Some(last)), (3, src.total_bytes()));
    // an empty entry is refused, with its line
    let bad = write(dir.path(), "bad/f", "one\n%\n%\ntwo\n");
    let spec = CorpusSpec {
        format: Some(CorpusFormat::Fortune),
        ..CorpusSpec::new(bad)
    };
    assert_eq!(
        problem(read_corpus_file(&spec, &mut |_, _| {})),
        (3, TextProblem::EmptyText)
    );
}

#[test]
fn every_bad_input_is_a_typed_error_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ok = r#"{"id": "a", "text": "fine"}"#;
    // not UTF-8 (line 2, byte column 11)
    let mut bytes = format!("{ok}\n").into_bytes();
    bytes.extend_from_slice(b"{\"text\": \"\xff\"}\n");
    assert_eq!(
        problem(read(&write(d, "u.jsonl", &bytes))),
        (2, TextProblem::NotUtf8 { column: 11 })
    );
    // empty text
    let (line, p) = problem(read(&write(
        d,
        "e.jsonl",
        format!("{ok}\n{{\"text\": \"  \\n \"}}\n"),
    )));
    assert_eq!((line, p), (2, TextProblem::EmptyText));
    // duplicate ids, naming the first
    let (line, p) = problem(read(&write(d, "d.jsonl", format!("{ok}\n\n{ok}\n"))));
    assert_eq!(line, 3);
    assert!(
        matches!(p, TextProblem::DuplicateId { ref id, ref first } if id == "a" && first.ends_with("d.jsonl:1")),
        "{p:?}"
    );
    // a missing text field, and one of the wrong type
    let (line, p) = problem(read(&write(d, "m.jsonl", r#"{"body": "x"}"#)));
    assert_eq!(
        (line, p),
        (
            1,
            TextProblem::MissingField {
                field: "text".into()
            }
        )
    );
    assert!(matches!(
        problem(read(&write(d, "t.jsonl", r#"{"text": 3}"#))).1,
        TextProblem::Malformed { .. }
    ));
    // malformed lines: not JSON, not an object
    assert!(matches!(
        problem(read(&write(d, "j.jsonl", format!("{ok}\n{{\"text\": \n")))),
        (2, TextProblem::Malformed { .. })
    ));
    assert!(matches!(
        problem(read(&write(d, "a.jsonl", "[1, 2]\n"))),
        (1, TextProblem::Malformed { .. })
    ));
    // a bad group name
    assert!(matches!(
        problem(read(&write(
            d,
            "g.jsonl",
            r#"{"text": "x", "groups": ["a|b"]}"#
        ))),
        (1, TextProblem::BadGroup { .. })
    ));
    // CSV: a missing text column, a row of the wrong width, bad UTF-8 in a cell
    assert_eq!(
        problem(read(&write(d, "m.csv", "body\nx\n"))),
        (
            1,
            TextProblem::MissingField {
                field: "text".into()
            }
        )
    );
    assert!(matches!(
        problem(read(&write(d, "w.csv", "text,label\na,b\nc\n"))),
        (3, TextProblem::Malformed { .. })
    ));
    assert!(matches!(
        problem(read(&write(d, "u.csv", b"text\nok\n\xc3(\n"))),
        (3, TextProblem::NotUtf8 { .. })
    ));
    // folder: a non-UTF-8 file, an empty file
    let f = d.join("folder");
    write(&f, "a.txt", "fine");
    write(&f, "b.txt", b"bad \xff");
    assert!(matches!(
        problem(read(&f)),
        (1, TextProblem::NotUtf8 { column: 5 })
    ));
    std::fs::remove_file(f.join("b.txt")).unwrap();
    write(&f, "c.txt", "\n");
    assert_eq!(problem(read(&f)), (0, TextProblem::EmptyText));
    // an empty corpus: an empty file, blank lines only, an empty folder
    for p in [
        write(d, "empty.jsonl", ""),
        write(d, "blank.jsonl", "\n \n"),
        write(d, "h.csv", "text\n"),
    ] {
        assert!(
            matches!(read(&p), Err(CorpusError::EmptyCorpus { .. })),
            "{}",
            p.display()
        );
    }
    std::fs::create_dir(d.join("none")).unwrap();
    assert!(matches!(
        read(&d.join("none")),
        Err(CorpusError::EmptyCorpus { .. })
    ));
    // a format that cannot be told, a path that is not there
    assert!(matches!(
        read(&write(d, "x.bin", "x")),
        Err(CorpusError::UnknownFormat { .. })
    ));
    assert!(matches!(
        read(&d.join("nope.jsonl")),
        Err(CorpusError::Io { .. })
    ));
}

#[test]
fn over_length_texts_are_cut_and_counted_or_refused_when_strict() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "l.jsonl",
        "{\"text\": \"ééééé\"}\n{\"text\": \"ok\"}\n",
    );
    let mut spec = CorpusSpec::new(&p);
    spec.options.max_chars = 3;
    let c = read_corpus_file(&spec, &mut |_, _| {}).unwrap();
    assert_eq!((texts(&c), c.report().cut), (vec!["ééé", "ok"], 1));
    spec.options.strict = true;
    assert_eq!(
        problem(read_corpus_file(&spec, &mut |_, _| {})),
        (1, TextProblem::TooLong { chars: 5, limit: 3 })
    );
    // a folder file far over the limit is read only so far, then cut or refused
    let f = dir.path().join("f");
    write(&f, "big.txt", "é".repeat(1000));
    let mut spec = CorpusSpec::new(&f);
    spec.options.max_chars = 10;
    let c = read_corpus_file(&spec, &mut |_, _| {}).unwrap();
    assert_eq!(c.documents()[0].text, "é".repeat(10));
    spec.options.strict = true;
    assert!(matches!(
        problem(read_corpus_file(&spec, &mut |_, _| {})).1,
        TextProblem::TooLong { limit: 10, .. }
    ));
    // a JSONL line over the line limit is refused with its number, whatever the mode
    let p = write(
        dir.path(),
        "long.jsonl",
        format!(
            "{{\"text\": \"ok\"}}\n{{\"text\": \"{}\"}}\n",
            "x".repeat(100_000)
        ),
    );
    let mut spec = CorpusSpec::new(&p);
    spec.options.max_chars = 10;
    assert!(matches!(
        problem(read_corpus_file(&spec, &mut |_, _| {})),
        (2, TextProblem::Malformed { .. })
    ));
}

#[test]
fn groups_must_exist_and_can_be_focused() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "c.jsonl",
        concat!(
            r#"{"id": "1", "text": "a", "groups": ["pizza", "soup"]}"#,
            "\n",
            r#"{"id": "2", "text": "b", "groups": "soup"}"#,
            "\n",
            r#"{"id": "3", "text": "c"}"#,
            "\n",
        ),
    );
    let mut c = read(&p).unwrap();
    assert_eq!(c.group_names(), ["pizza", "soup"]);
    assert!(c.require_groups(&["soup", "pizza"]).is_ok());
    match c.require_groups(&["cake"]) {
        Err(e @ CorpusError::UnknownGroup { .. }) => {
            assert!(
                e.to_string().contains("no text of family \"cake\"")
                    && e.to_string().contains("pizza, soup"),
                "{e}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.family("soup").count(), 2);
    assert_eq!(c.focus_groups(&["soup"]), 1);
    let split: Vec<Option<&str>> = c.iter().map(Document::group).collect();
    assert_eq!(split, [Some("soup"), Some("soup"), None]);
}

/// An unclosed quote in a CSV file, or a fortune file without `%` lines, would make the
/// rest of the file one record held whole in memory: the record is refused while it is
/// read, with the file and the line it starts on.
#[test]
fn a_record_the_size_of_the_file_is_refused_while_reading() {
    let dir = tempfile::tempdir().unwrap();
    let options = ReadOptions {
        max_chars: 1_000,
        ..ReadOptions::default()
    };
    let limit = options.max_line_bytes();
    // the second record opens a quote that never closes; the file holds far more than
    // the limit after it (and more than the readers' read-ahead)
    let mut csv = String::from("id,text\na,first text\nb,\"never closed\n");
    while csv.len() < 4 * (limit + (1 << 18)) {
        csv.push_str("more words of the runaway cell, line after line\n");
    }
    let path = write(dir.path(), "runaway.csv", &csv);
    let spec = CorpusSpec {
        options,
        ..CorpusSpec::new(&path)
    };
    match read_corpus_file(&spec, &mut |_, _| {}) {
        Err(CorpusError::BadText {
            path: p,
            line,
            problem: TextProblem::Malformed { message },
        }) => {
            assert_eq!(p, path);
            assert_eq!(line, 3, "the record starts on line 3");
            assert!(message.contains("unclosed quote"), "{message}");
        }
        other => panic!("expected a malformed record, got {other:?}"),
    }

    let mut fortune = String::from("one\n%\n");
    while fortune.len() < 2 * limit {
        fortune.push_str("a line of a file that is not a fortune file\n");
    }
    let path = write(dir.path(), "notfortunes", &fortune);
    let spec = CorpusSpec {
        format: Some(CorpusFormat::Fortune),
        options,
        ..CorpusSpec::new(&path)
    };
    match read_corpus_file(&spec, &mut |_, _| {}) {
        Err(CorpusError::BadText {
            line,
            problem: TextProblem::Malformed { message },
            ..
        }) => {
            assert_eq!(line, 3);
            assert!(message.contains("without a `%` line"), "{message}");
        }
        other => panic!("expected a malformed record, got {other:?}"),
    }
}
