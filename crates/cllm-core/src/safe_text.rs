//! Text from a corpus or a decode, made safe to show.
//!
//! A corpus is untrusted input: a title can hold an ANSI escape sequence that rewrites the
//! terminal, a C0 control that makes an SVG unreadable as XML, a bidirectional override
//! that makes a line read backwards, or a `|` that breaks a Markdown table. Every place
//! that writes such text for people (the terminal, `report.md`, `generated.md`, SVG and
//! HTML) passes it through one of these functions first.
//!
//! ```
//! use cllm_core::safe_text::{markdown_cell, one_line, printable};
//!
//! let hostile = "Pizza\u{1b}[31m red\r\nline\u{7}\u{202e}olleh | x";
//! assert_eq!(printable(hostile), "Pizza[31m red\nlineolleh | x");
//! assert_eq!(one_line(hostile), "Pizza[31m red ⏎ lineolleh | x");
//! assert_eq!(markdown_cell("a | <b>"), "a \\| &lt;b&gt;");
//! ```

/// Whether `c` is removed from shown text: C0 controls other than tab and newline, DEL,
/// C1 controls, the bidirectional embedding, override and isolate controls, and the
/// noncharacters U+FFFE and U+FFFF (not allowed in XML).
pub fn is_unsafe(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{fffe}' | '\u{ffff}')
}

/// `text` with line ends normalised (`\r\n` and a lone `\r` become `\n`) and every
/// [unsafe](is_unsafe) character removed. Tabs and newlines stay. An ANSI escape sequence
/// loses its ESC, so what remains is inert text.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push('\n');
            }
            c if is_unsafe(c) => {}
            c => out.push(c),
        }
    }
    out
}

/// [`printable`] on one line: newlines become ` ⏎ ` and tabs a space.
pub fn one_line(text: &str) -> String {
    printable(text).replace('\n', " ⏎ ").replace('\t', " ")
}

/// [`one_line`] fit for a Markdown table cell or inline text: `|` escaped, and `&`, `<`, `>`
/// written as entities so no HTML in a text is rendered as HTML.
pub fn markdown_cell(text: &str) -> String {
    let line = one_line(text);
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn controls_and_overrides_are_removed_line_ends_normalised() {
        assert_eq!(printable("a\u{1}b\u{1b}c\u{7}d"), "abcd");
        assert_eq!(printable("a\r\nb\rc\nd\te"), "a\nb\nc\nd\te");
        assert_eq!(printable("\u{202e}abc\u{2066}"), "abc");
        assert_eq!(printable("\u{85}x\u{9b}31m"), "x31m");
        assert_eq!(printable("café ✓ 日本"), "café ✓ 日本");
    }

    #[test]
    fn markdown_cells_cannot_break_a_table_or_open_html() {
        assert_eq!(
            markdown_cell("x | y\n<!-- z -->"),
            "x \\| y ⏎ &lt;!-- z --&gt;"
        );
    }

    proptest! {
        #[test]
        fn nothing_unsafe_survives(s in any::<String>()) {
            let p = printable(&s);
            prop_assert!(!p.chars().any(|c| is_unsafe(c) || c == '\r'));
            let l = one_line(&s);
            prop_assert!(!l.contains('\n') && !l.contains('\t'));
            let m = markdown_cell(&s);
            prop_assert!(!m.contains('<') && !m.contains('>'));
            prop_assert!(!m.replace("\\|", "").contains('|'));
        }

        #[test]
        fn safe_text_is_unchanged(s in "[a-zA-Z0-9 .,;:()\\n\\t-]{0,64}") {
            prop_assert_eq!(printable(&s), s);
        }
    }
}
