//! Loader of the Wikibooks Cookbook recipes (`recipes_en-us.json`).
//!
//! Format: one JSON object mapping the page title (`"Cookbook:Bobotie"`) to a record
//! `{ "title": str, "ingredients": [str], "steps": [str], "category": str|null, ... }`.
//! Recipes are returned sorted by page title. Null or blank list items are dropped; other fields are ignored.
//!
//! Ids: `wikibooks:<page>` where `<page>` is the page title without the `Cookbook:`
//! prefix, with whitespace runs replaced by `_` (as in the page's address).

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::json_util::{expected, key_seg, opt_str, opt_str_list, parse_json, read_json};
use crate::recipe::{Recipe, Source};
use crate::CorpusError;

/// Loads the Wikibooks recipes from a file, in file order.
pub fn load_file(path: &Path) -> Result<Vec<Recipe>, CorpusError> {
    let v = read_json(path)?;
    from_value(&v, path)
}

/// Parses the Wikibooks recipes from JSON text; `origin` names it in errors.
///
/// ```
/// let json = r#"{"Cookbook:Toast": {"title": "Toast", "ingredients": ["bread"], "steps": ["Toast it."]}}"#;
/// let r = cllm_corpus::wikibooks::parse_str(json, "inline".as_ref())?;
/// assert_eq!(r[0].id(), "wikibooks:Toast");
/// # Ok::<(), cllm_corpus::CorpusError>(())
/// ```
pub fn parse_str(json: &str, origin: &Path) -> Result<Vec<Recipe>, CorpusError> {
    let v = parse_json(json.as_bytes(), origin)?;
    from_value(&v, origin)
}

fn from_value(v: &Value, origin: &Path) -> Result<Vec<Recipe>, CorpusError> {
    let obj = v
        .as_object()
        .ok_or_else(|| expected(origin, "$", "an object of recipes", v))?;
    let mut used = BTreeSet::new();
    let mut out = Vec::with_capacity(obj.len());
    // Sorted by page title, whatever map order serde_json was built with.
    let mut entries: Vec<(&String, &Value)> = obj.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    for (page, rec) in entries {
        let at = format!("${}", key_seg(page));
        let r = rec
            .as_object()
            .ok_or_else(|| expected(origin, &at, "a recipe object", rec))?;
        let title = opt_str(origin, &format!("{at}.title"), r.get("title"))?;
        let ingredients = opt_str_list(origin, &format!("{at}.ingredients"), r.get("ingredients"))?;
        let steps = opt_str_list(origin, &format!("{at}.steps"), r.get("steps"))?;
        let category = opt_str(origin, &format!("{at}.category"), r.get("category"))?;
        let page = page.strip_prefix("Cookbook:").unwrap_or(page);
        let base = page.split_whitespace().collect::<Vec<_>>().join("_");
        let key = unique_key(
            &mut used,
            if base.is_empty() {
                "untitled".into()
            } else {
                base
            },
        );
        out.push(Recipe {
            source: Source::Wikibooks,
            key,
            title,
            ingredients,
            steps,
            category: (!category.is_empty()).then_some(category),
        });
    }
    Ok(out)
}

/// `base`, or `base~2`, `base~3`, ... when taken.
pub(crate) fn unique_key(used: &mut BTreeSet<String>, base: String) -> String {
    if used.insert(base.clone()) {
        return base;
    }
    (2..)
        .map(|n| format!("{base}~{n}"))
        .find(|k| used.insert(k.clone()))
        .unwrap_or(base)
}
