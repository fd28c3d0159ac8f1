//! Escaping text for SVG and HTML, and the fixed formatting of numbers written into them
//! (so the same figure always gives the same bytes).

/// `text` made [printable](cllm_core::safe_text::printable) (no C0 control an XML parser
/// refuses, no bidirectional override, line ends normalised) and `&`, `<`, `>`, `"` and
/// `'` replaced by entities: safe inside XML/HTML text and inside attribute values of
/// either quote.
pub(crate) fn escape(text: &str) -> String {
    let text = cllm_core::safe_text::printable(text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate with two decimals (never `-0.00`).
pub(crate) fn coord(v: f64) -> String {
    without_negative_zero(format!("{v:.2}"))
}

/// A value for people: up to four decimals without trailing zeros, or scientific notation
/// for very large and very small magnitudes.
pub(crate) fn short(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-3) {
        return format!("{v:.3e}");
    }
    let fixed = format!("{v:.4}");
    let trimmed = fixed.trim_end_matches('0').trim_end_matches('.');
    without_negative_zero(trimmed.to_string())
}

/// A value with exactly `decimals` decimals (never a negative zero).
pub(crate) fn fixed(v: f64, decimals: usize) -> String {
    without_negative_zero(format!("{v:.decimals$}"))
}

fn without_negative_zero(s: String) -> String {
    match s.strip_prefix('-') {
        Some(rest) if rest.chars().all(|c| c == '0' || c == '.') => rest.to_string(),
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"a<b & "c" 'd'>"#),
            "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;"
        );
    }

    #[test]
    fn xml_illegal_characters_never_reach_markup() {
        assert_eq!(
            escape("Pizza\u{1}\u{1b}[1m\u{7} <b>\r\n"),
            "Pizza[1m &lt;b&gt;\n"
        );
    }

    #[test]
    fn numbers_are_formatted_without_negative_zero() {
        assert_eq!(coord(-0.001), "0.00");
        assert_eq!(coord(12.345), "12.35");
        assert_eq!(short(0.5), "0.5");
        assert_eq!(short(-0.00001), "-1.000e-5");
        assert_eq!(short(0.0), "0");
        assert_eq!(short(2.0), "2");
        assert_eq!(short(123456.0), "1.235e5");
        assert_eq!(fixed(-0.0001, 2), "0.00");
        assert_eq!(fixed(0.26, 1), "0.3");
    }
}
