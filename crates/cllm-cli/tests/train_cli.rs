//! `cllm train` and `cllm sentence-embed` end to end on a slice of the real corpus (the
//! default assets: fetched and cached on first use, as `cllm assets fetch` does).
//! A few training steps only: this checks the wiring (resume, fine-tuning, alignment,
//! typed refusals), not what the model learns.

use std::path::Path;

mod common;
use common::{cllm, QUICK_TRAIN as QUICK};

fn eval(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("eval.json")).expect("eval.json");
    serde_json::from_str(&text).expect("eval.json is JSON")
}

fn split_names(v: &serde_json::Value) -> Vec<String> {
    v["splits"]
        .as_array()
        .expect("splits")
        .iter()
        .map(|s| s["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn train_resume_fine_tune_and_align() {
    let tmp = tempfile::tempdir().unwrap();
    let run1 = tmp.path().join("cllm1");
    let run1_s = run1.to_str().unwrap();

    // CLLM1: trains, writes the best model and a report with train/val/held-out splits
    let mut args = vec!["train", "--out", run1_s];
    args.extend_from_slice(QUICK);
    assert!(cllm(&args).status.success());
    let report = eval(&run1);
    assert_eq!(report["steps"], 3);
    let names = split_names(&report);
    assert!(
        names.contains(&"train".to_string()) && names.contains(&"soup".to_string()),
        "{names:?}"
    );
    assert!(run1.join("model").join("config.json").exists());
    // the report is a count ratio over real texts (an accuracy in [0, 1] alone could not fail)
    let split = &report["splits"][0]["report"];
    let (tok, tokens, texts) = (
        split["token_accuracy"].as_f64().unwrap(),
        split["tokens"].as_u64().unwrap(),
        split["texts"].as_u64().unwrap(),
    );
    assert!(texts > 0 && tokens >= texts, "{split}");
    let correct = tok * tokens as f64;
    assert!(
        (0.0..=1.0).contains(&tok) && (correct - correct.round()).abs() < 1e-6,
        "token accuracy {tok} is not a count over {tokens} tokens"
    );

    // the lookup baseline: the nearest training text scores at most the best one, and a
    // training text is not looked up as itself (which would score exactly 1)
    for s in report["splits"].as_array().unwrap() {
        let f = &s["free_running"];
        let (nearest, best) = (
            f["nearest_training_word_f1"].as_f64().expect("lookup F1"),
            f["best_training_word_f1"].as_f64().expect("best F1"),
        );
        assert!((0.0..=best).contains(&nearest) && best <= 1.0, "{f}");
        if s["name"] == "train" {
            assert!(
                nearest < 1.0,
                "a training text was looked up as itself: {f}"
            );
        }
    }

    // the same command again: the finished run is found and not retrained
    assert!(cllm(&args).status.success());
    assert_eq!(eval(&run1)["steps"], 3);
    // other settings into the same directory are refused
    let mut other = args.clone();
    other.extend_from_slice(&["--seed", "9"]);
    let out = cllm(&other);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("holds a run with other settings (seed"),
        "the refusal names the changed setting: {err}"
    );

    // a prepared data directory (token cache + vocabulary of run 1) trains without the
    // backbone or the corpus
    let run5 = tmp.path().join("from-data");
    let mut prepared = vec![
        "train",
        "--out",
        run5.to_str().unwrap(),
        "--data",
        run1_s,
        "--steps",
        "2",
        "--batch",
        "4",
        "--report-texts",
        "4",
    ];
    prepared.extend_from_slice(&[
        "--eval-texts",
        "4",
        "--offline",
        "--gguf",
        "/nonexistent.gguf",
    ]);
    // the norm and the shortcut are on by default for a new ar model (run 1) and can be
    // turned off (run 5)
    let config_of = |run: &Path| -> serde_json::Value {
        serde_json::from_str(
            &std::fs::read_to_string(run.join("model").join("config.json")).unwrap(),
        )
        .unwrap()
    };
    let default_config = config_of(&run1);
    assert_eq!(default_config["latent_norm"], true);
    assert_eq!(default_config["pooled_shortcut"], true);
    let mut plain = prepared.clone();
    plain.extend_from_slice(&["--latent-norm", "false", "--pooled-shortcut", "false"]);
    assert!(cllm(&plain).status.success());
    assert_eq!(config_of(&run5)["latent_norm"], false);
    assert_eq!(config_of(&run5)["pooled_shortcut"], false);
    let report5 = eval(&run5);
    assert_eq!(report5["steps"], 2);
    // the decorrelation term: on (weight 1) for a new run, off with --decor-weight 0, and a
    // run already in the folder keeps its own weight when the flag is left out
    let decor_of = |run: &Path| -> f64 {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
        v["loss"]["decor_weight"].as_f64().unwrap()
    };
    assert_eq!(decor_of(&run1), 1.0);
    assert_eq!(decor_of(&run5), 1.0);
    let run8 = tmp.path().join("no-decor");
    let mut no_decor = prepared.clone();
    no_decor[2] = run8.to_str().unwrap();
    no_decor.extend_from_slice(&["--decor-weight", "0"]);
    assert!(cllm(&no_decor).status.success());
    assert_eq!(decor_of(&run8), 0.0);
    let mut same = prepared.clone();
    same[2] = run8.to_str().unwrap();
    let kept = cllm(&same);
    assert!(kept.status.success(), "{}", String::from_utf8_lossy(&kept.stderr));
    assert_eq!(decor_of(&run8), 0.0);
    // the code's shape is in eval.json
    let shape = &report5["code_shape"]["shape"];
    assert!(shape["participation_ratio"].as_f64().unwrap().is_finite(), "{shape}");
    // the same command without the flags (a run made under the older defaults) is found and
    // kept, not refused as a run with another model
    let again = cllm(&prepared);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(eval(&run5)["steps"], 2);
    assert_eq!(config_of(&run5)["latent_norm"], false);
    // without a backbone to read words with, there is no word F1 and no lookup baseline
    let f5 = &report5["splits"][0]["free_running"];
    assert!(
        f5["word_f1"].is_null() && f5["nearest_training_word_f1"].is_null(),
        "{f5}"
    );

    // a new model with the standardised text vector says so in its config
    let run6 = tmp.path().join("latent-norm");
    let mut normed = prepared.clone();
    normed[2] = run6.to_str().unwrap();
    normed.push("--latent-norm");
    normed.push("--pooled-shortcut");
    normed.extend_from_slice(&["--shortcut-queries", "2"]);
    assert!(cllm(&normed).status.success());
    let config = config_of(&run6);
    assert_eq!(config["latent_norm"], true);
    assert_eq!(config["pooled_shortcut"], true);
    assert_eq!(config["shortcut_queries"], 2);
    // a fine-tuned model keeps its architecture: asking for the norm or the shortcut on one
    // without it fails
    let run7 = tmp.path().join("latent-norm-init");
    let model5 = run5.join("model");
    for flag in [
        &["--latent-norm"][..],
        &["--pooled-shortcut"],
        &["--shortcut-queries", "2"],
    ] {
        let mut args = vec![
            "train",
            "--out",
            run7.to_str().unwrap(),
            "--data",
            run1_s,
            "--init-from",
            model5.to_str().unwrap(),
            "--steps",
            "1",
            "--offline",
        ];
        args.extend_from_slice(flag);
        let out = cllm(&args);
        let flag = flag[0];
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(flag) && stderr.contains("applies to a new model"),
            "{stderr}"
        );
    }

    // attention pools without the shortcut they belong to: refused before any data is read
    let out = cllm(&[
        "train",
        "--out",
        run7.to_str().unwrap(),
        "--data",
        run1_s,
        "--pooled-shortcut",
        "false",
        "--shortcut-queries",
        "2",
        "--steps",
        "1",
        "--offline",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("shortcut_queries needs pooled_shortcut"),
        "{stderr}"
    );

    // CLLM2: fine-tune on soup with replay; the architecture comes from CLLM1's model
    let run2 = tmp.path().join("cllm2");
    let model1 = run1.join("model");
    let mut ft = vec![
        "train",
        "--out",
        run2.to_str().unwrap(),
        "--init-from",
        model1.to_str().unwrap(),
        "--family",
        "soup",
        "--replay-fraction",
        "0.25",
    ];
    ft.extend_from_slice(QUICK);
    assert!(cllm(&ft).status.success());
    let names = split_names(&eval(&run2));
    assert!(names.contains(&"replay".to_string()), "{names:?}");
    assert!(
        names.contains(&"replay:pizza".to_string()) || !names.iter().any(|n| n == "pizza"),
        "{names:?}"
    );
    assert!(
        !names.contains(&"soup".to_string()),
        "soup is trained on, not held out"
    );

    // sentence embeddings (backbone layer 0, cheap) feed the alignment term
    let sent = tmp.path().join("sent.safetensors");
    let out = cllm(&[
        "sentence-embed",
        "--encoder",
        "layer:0",
        "--limit",
        "200",
        "--out",
        sent.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let run3 = tmp.path().join("aligned");
    let mut al = vec![
        "train",
        "--out",
        run3.to_str().unwrap(),
        "--align-weight",
        "1",
        "--sentence-embeddings",
        sent.to_str().unwrap(),
    ];
    al.extend_from_slice(QUICK);
    assert!(cllm(&al).status.success());
    assert_eq!(eval(&run3)["job"]["options"]["loss"]["align_weight"], 1.0);

    // refusals: a family that is not there, alignment without embeddings, a bad encoder
    let run4 = tmp.path().join("bad");
    let mut bad = vec![
        "train",
        "--out",
        run4.to_str().unwrap(),
        "--family",
        "nosuch",
    ];
    bad.extend_from_slice(QUICK);
    let out = cllm(&bad);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no text of family"));
    let out = cllm(&["train", "--align-weight", "1"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--sentence-embeddings"));
    let out = cllm(&["train", "--replay-fraction", "0.2"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs --family"));
    let out = cllm(&["sentence-embed", "--encoder", "bogus"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown --encoder"));
}
