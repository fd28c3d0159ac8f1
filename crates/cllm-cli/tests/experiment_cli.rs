//! `cllm experiment` end to end on a tiny random backbone and three dozen JSONL texts, in
//! seconds: every step runs, every file of the report is written, the family never reaches
//! CLLM1's training, a second run reuses the finished steps, and a run after CLLM1 changed
//! recomputes every step derived from it. Some titles and texts are hostile (terminal
//! escapes, C0 controls, CR line ends, markup, table pipes, an RTL override, a long title):
//! the SVG stays strict XML and nothing unsafe reaches report.md or the terminal. Checks the
//! wiring, not what the models learn.

mod common;

use std::path::Path;

use cllm_autoencoder::{CllmConfig, StageConfig};
use common::{cllm, tiny_gguf, D};

fn write_corpus(dir: &Path) -> String {
    let dishes = [
        ("soup", "Tomato soup", "simmer the tomatoes in stock"),
        ("salad", "Bean salad", "toss the beans with oil"),
        ("bread", "Rye bread", "knead the dough and bake"),
    ];
    let mut lines = String::new();
    for i in 0..36 {
        let (group, title, step) = dishes[i % 3];
        let hostile = match i % 6 {
            0 => " \u{1b}[31mred\u{1b}[0m\u{7}\u{1} | </script> <!-- ]]> \u{202e}evil",
            3 => " \r\n<b>bold</b>\r a|b `tick`",
            _ => "",
        };
        let long = if i == 5 {
            "long ".repeat(1000)
        } else {
            String::new()
        };
        lines += &serde_json::json!({
            "id": format!("r{i}"),
            "title": format!("{title} {i}{hostile}{long}"),
            "text": format!("{title} {i}{hostile}\r\nSteps:\n1. {step} for {i} minutes."),
            "groups": group,
        })
        .to_string();
        lines.push('\n');
    }
    let p = dir.join("dishes.jsonl");
    std::fs::write(&p, lines).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn the_experiment_runs_every_step_and_writes_its_report() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let gguf = tiny_gguf(t).to_str().unwrap().to_string();
    let corpus = write_corpus(t);
    let config = CllmConfig::new(D, 64, 32, 8, vec![StageConfig::new(1, 4, 32)]).with_heads(2);
    let config_path = t.join("model.json");
    std::fs::write(&config_path, serde_json::to_string(&config).unwrap()).unwrap();
    let out_dir = t.join("exp");
    let cache = t.join("empty-cache");
    let args = [
        "experiment",
        "--offline",
        "--cache",
        cache.to_str().unwrap(),
        "--gguf",
        &gguf,
        "--corpus",
        &corpus,
        "--family",
        "soup",
        "--model-config",
        config_path.to_str().unwrap(),
        "--steps",
        "4",
        "--batch",
        "4",
        "--finetune-seconds",
        "5",
        "--fit-steps",
        "3",
        "--texts",
        "6",
        "--samples",
        "3",
        "--null-runs",
        "2",
        "--out",
        out_dir.to_str().unwrap(),
    ];
    let out = cllm(&args);
    assert!(out.status.success());
    // hostile text made harmless: no escape reaches the terminal, every SVG is strict XML,
    // no control character lands in report.md
    for stream in [&out.stdout, &out.stderr] {
        assert!(!stream.contains(&0x1b), "an escape reached the terminal");
    }
    for svg in ["map.svg", "auroc.svg", "training.svg"] {
        let text = std::fs::read_to_string(out_dir.join(svg)).unwrap();
        if let Err(e) = roxmltree::Document::parse(&text) {
            panic!("{svg} is not XML: {e}");
        }
    }
    let md = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    assert!(
        !md.chars()
            .any(|c| cllm_core::safe_text::is_unsafe(c) || c == '\r'),
        "a control character in report.md"
    );
    for f in [
        "report.md",
        "report.json",
        "report.html",
        "map.svg",
        "auroc.svg",
        "training.svg",
        "voids.json",
        "fitted-codes.json",
    ] {
        assert!(out_dir.join(f).is_file(), "{f} missing");
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("report.json")).unwrap()).unwrap();
    // the family never reaches CLLM1: 12 soups held out, the rest split into train and val
    assert_eq!(report["split"]["family_in_corpus"], 12);
    assert_eq!(report["split"]["family_in_training"], false);
    let train = report["split"]["train"].as_u64().unwrap();
    let sizes = report["cllm1"]["split_sizes"].as_array().unwrap();
    assert!(
        sizes.iter().any(|s| s[0] == "soup" && s[1] == 12),
        "{sizes:?}"
    );
    assert!(
        sizes.iter().any(|s| s[0] == "train" && s[1] == train),
        "{sizes:?}"
    );
    // every reading, two spaces, four discovery sources
    let readings: Vec<&str> = report["readings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reading"].as_str().unwrap())
        .collect();
    assert_eq!(
        readings,
        [
            "cllm1",
            "validation_texts",
            "whole_model",
            "encoder_only",
            "fitted_codes"
        ]
    );
    assert_eq!(report["separation"].as_array().unwrap().len(), 2);
    for r in report["readings"].as_array().unwrap() {
        let auroc = &r["membership"]["void_auroc"];
        let (lo, est, hi) = (
            auroc["low"].as_f64().unwrap(),
            auroc["estimate"].as_f64().unwrap(),
            auroc["high"].as_f64().unwrap(),
        );
        assert!(lo <= est && est <= hi, "{auroc}");
        assert!(
            r["cross_decoding"]["reads_as_family"].is_object(),
            "soup has a rule"
        );
        let p = r["cross_decoding"]["family_likeness"]["estimate"]
            .as_f64()
            .expect("every reading's decodes are scored by content");
        assert!((0.0..=1.0).contains(&p), "{p}");
    }
    // the code's shape, the content-based scorer, the within-source AUROC, the zones'
    // composition: present and finite
    let shape = &report["cllm1"]["code_shape"]["shape"];
    let pr = shape["participation_ratio"].as_f64().unwrap();
    assert!(pr.is_finite() && pr >= 0.0 && pr <= 8.0, "{shape}");
    let corr = shape["mean_abs_correlation"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&corr), "{shape}");
    assert!(shape["directions_90"].as_u64().unwrap() <= 8);
    let cv = report["family_likeness"]["cross_validated"]["auroc"]
        .as_f64()
        .unwrap();
    assert!((0.0..=1.0).contains(&cv), "{cv}");
    for part in ["family_texts", "validation_texts"] {
        let p = report["family_likeness"][part]["estimate"]
            .as_f64()
            .unwrap();
        assert!((0.0..=1.0).contains(&p), "{part}: {p}");
    }
    for s in report["separation"].as_array().unwrap() {
        assert!(s["within_source"].is_array(), "{s}");
    }
    assert!(report["zones"]["composition"].is_array());
    for s in report["discovery"]["sources"].as_array().unwrap() {
        assert!(s["family_likeness"]["estimate"].as_f64().is_some(), "{s}");
    }
    let md = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    for heading in [
        "their shape",
        "Content-based family scorer",
        "within each source",
    ] {
        assert!(md.contains(heading), "report.md lacks {heading:?}");
    }
    let sources: Vec<&str> = report["discovery"]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["voids", "gaussian", "near", "midpoints"]);
    // the interactive map carries the validation and family texts
    let groups: Vec<&str> = report["map"]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["group"].as_str().unwrap())
        .collect();
    assert!(groups.contains(&"soup") && groups.contains(&"validation"));

    // the page renders in headless Chromium and carries report.json (skipped, visibly,
    // where Chromium is not installed)
    let check = std::process::Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/check_report_html.py"))
        .arg(&out_dir)
        .output()
        .expect("python3");
    let said = String::from_utf8_lossy(&check.stdout);
    if said.contains("SKIP") {
        eprintln!("SKIP report.html in Chromium: {said}");
    } else {
        assert!(
            check.status.success(),
            "{said}{}",
            String::from_utf8_lossy(&check.stderr)
        );
    }

    // the same command again reuses CLLM1, the CLLM2 runs, the voids and the fitted codes
    let again = cllm(&[&["-v"], &args[..]].concat());
    assert!(again.status.success());
    let log = String::from_utf8_lossy(&again.stderr);
    assert_eq!(
        log.matches("finished before; reusing it").count(),
        3,
        "{log}"
    );
    assert!(log.contains("void zones found before"), "{log}");
    assert!(!log.contains("fitting codes"), "{log}");

    // CLLM1 changes under the experiment (here: another model's weights put in its place;
    // a resumed CLLM1 does the same): every step derived from it is recomputed and says so
    let cllm1_model = out_dir.join("cllm1").join("model").join("model.mpk");
    std::fs::copy(
        out_dir.join("cllm2-whole").join("model").join("model.mpk"),
        &cllm1_model,
    )
    .unwrap();
    let changed = cllm(&[&["-v"], &args[..]].concat());
    assert!(changed.status.success());
    let log = String::from_utf8_lossy(&changed.stderr);
    assert!(
        log.contains("void zones of other training vectors"),
        "{log}"
    );
    assert!(log.contains("codes fitted for another CLLM1"), "{log}");
    assert_eq!(
        log.matches("fine-tuned from another CLLM1").count(),
        2,
        "both fine-tuning runs are redone: {log}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("report.json")).unwrap()).unwrap();
    let voids: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("voids.json")).unwrap()).unwrap();
    assert!(
        voids["made_from"].is_string(),
        "voids.json records what it was made from"
    );
    assert_eq!(report["zones"]["points"], voids["n_points"]);
}

#[test]
fn the_experiment_refuses_a_family_the_corpus_lacks() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let gguf = tiny_gguf(t).to_str().unwrap().to_string();
    let corpus = write_corpus(t);
    let cache = t.join("empty-cache");
    let out = cllm(&[
        "experiment",
        "--offline",
        "--cache",
        cache.to_str().unwrap(),
        "--gguf",
        &gguf,
        "--corpus",
        &corpus,
        "--family",
        "pizza",
        "--out",
        t.join("exp").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pizza"), "{err}");
}

/// `--k 4,8` runs the dimension sweep: one CLLM1 per k and setting of the terms (four arms),
/// each scored on reconstruction, zones and void AUROC, into one table, one JSON and one
/// figure; a second run reuses every arm.
#[test]
fn several_k_run_the_dimension_sweep() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let gguf = tiny_gguf(t).to_str().unwrap().to_string();
    let corpus = write_corpus(t);
    let config = CllmConfig::new(D, 64, 32, 8, vec![StageConfig::new(1, 4, 32)]).with_heads(2);
    let config_path = t.join("model.json");
    std::fs::write(&config_path, serde_json::to_string(&config).unwrap()).unwrap();
    let out_dir = t.join("sweep-out");
    let cache = t.join("empty-cache");
    let args = [
        "experiment",
        "--offline",
        "--cache",
        cache.to_str().unwrap(),
        "--gguf",
        &gguf,
        "--corpus",
        &corpus,
        "--family",
        "soup",
        "--model-config",
        config_path.to_str().unwrap(),
        "--k",
        "4,8",
        "--steps",
        "3",
        "--batch",
        "4",
        "--texts",
        "6",
        "--null-runs",
        "2",
        "--out",
        out_dir.to_str().unwrap(),
    ];
    let out = cllm(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in ["sweep.md", "sweep.json", "sweep.svg"] {
        assert!(out_dir.join(f).is_file(), "{f} missing");
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("sweep.json")).unwrap()).unwrap();
    let arms: Vec<(u64, bool)> = report["arms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["k"].as_u64().unwrap(), a["terms"].as_bool().unwrap()))
        .collect();
    assert_eq!(arms, [(4, false), (4, true), (8, false), (8, true)]);
    for a in report["arms"].as_array().unwrap() {
        let k = a["k"].as_u64().unwrap();
        let name = format!(
            "k{k}-{}",
            if a["terms"].as_bool().unwrap() {
                "terms"
            } else {
                "plain"
            }
        );
        // each arm trained its own CLLM1 with that k, and the terms only where asked
        let eval: serde_json::Value = serde_json::from_slice(
            &std::fs::read(out_dir.join("sweep").join(&name).join("cllm1/eval.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(eval["job"]["options"]["model"]["k"], k, "{name}");
        let cluster = eval["job"]["options"]["loss"]["cluster_weight"]
            .as_f64()
            .unwrap();
        assert_eq!(cluster > 0.0, a["terms"].as_bool().unwrap(), "{name}");
        assert_eq!(a["separation"][0]["dim"], k);
        assert_eq!(
            a["separation"].as_array().unwrap().len(),
            2,
            "CLLM1 and mean-pooled"
        );
        assert!(out_dir
            .join("sweep")
            .join(&name)
            .join("voids.json")
            .is_file());
    }
    let md = std::fs::read_to_string(out_dir.join("sweep.md")).unwrap();
    assert_eq!(
        md.matches("\n| 4 |").count() + md.matches("\n| 8 |").count(),
        4,
        "{md}"
    );

    let again = cllm(&[&["-v"], &args[..]].concat());
    assert!(again.status.success());
    let log = String::from_utf8_lossy(&again.stderr);
    assert_eq!(
        log.matches("finished before; reusing it").count(),
        4,
        "{log}"
    );
    assert_eq!(log.matches("void zones found before").count(), 4, "{log}");
}
