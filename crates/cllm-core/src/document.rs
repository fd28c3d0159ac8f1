use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A corpus text: a stable id, the text itself, and key/value tags.
///
/// Tags carry what the method needs to split a corpus, e.g. `family=pizza`,
/// `source=wikibooks`, `lang=en`.
///
/// ```
/// use cllm_core::Document;
/// let d = Document::new("wb-0001", "Margherita pizza\n...").with_tag("family", "pizza");
/// assert_eq!(d.tag("family"), Some("pizza"));
/// assert!(d.has_tag("family", "pizza"));
/// assert_eq!(d.tag("lang"), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    /// Stable identifier, unique within a corpus.
    pub id: String,
    /// The text.
    pub text: String,
    /// Key/value tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl Document {
    /// A document with no tags.
    pub fn new(id: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            text: text.into(),
            tags: BTreeMap::new(),
        }
    }

    /// Adds (or replaces) a tag, builder style.
    pub fn with_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    /// The value of tag `key`, if set.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.get(key).map(String::as_str)
    }

    /// Whether tag `key` is set to `value`.
    pub fn has_tag(&self, key: &str, value: &str) -> bool {
        self.tag(key) == Some(value)
    }
}
