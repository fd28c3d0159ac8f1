//! Test support: the SVG the figures write is checked with a strict XML parser (roxmltree:
//! well-formedness, legal characters, entities, one root).

/// How often `needle` occurs in `haystack`.
pub(crate) fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// `Ok` when `doc` is a well-formed XML document, else where and why not.
pub(crate) fn check_well_formed(doc: &str) -> Result<(), String> {
    roxmltree::Document::parse(doc)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parser_is_strict() {
        assert!(check_well_formed("<svg><g/></svg>").is_ok());
        assert!(check_well_formed("<svg><g></svg>").is_err());
        assert!(check_well_formed("<svg>a & b</svg>").is_err());
        assert!(check_well_formed("<svg><title>\u{1}</title></svg>").is_err());
        assert!(check_well_formed("<svg/><svg/>").is_err());
    }
}
