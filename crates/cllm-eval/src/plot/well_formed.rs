//! Test support: a strict, minimal XML well-formedness check for the SVG the figures write
//! (one root element, balanced and matching tags, quoted attributes without `<`, unique
//! attribute names, only the five predefined or numeric entities, no raw `<` or `>` in
//! text).

/// How often `needle` occurs in `haystack`.
pub(crate) fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// `Ok` when `doc` is a well-formed XML document, else where and why not.
pub(crate) fn check_well_formed(doc: &str) -> Result<(), String> {
    let mut stack: Vec<&str> = Vec::new();
    let mut roots = 0;
    let mut rest = doc;
    let at = |rest: &str| doc.len() - rest.len();
    loop {
        let text_end = rest.find('<').unwrap_or(rest.len());
        let text = &rest[..text_end];
        if text.contains('>') {
            return Err(format!("raw '>' in text at byte {}", at(rest)));
        }
        check_entities(text).map_err(|e| format!("{e} at byte {}", at(rest)))?;
        if stack.is_empty() && !text.trim().is_empty() {
            return Err(format!(
                "text outside the root element at byte {}",
                at(rest)
            ));
        }
        rest = &rest[text_end..];
        if rest.is_empty() {
            break;
        }
        if let Some(after) = rest.strip_prefix("<!--") {
            let end = after.find("-->").ok_or("unclosed comment")?;
            rest = &after[end + 3..];
            continue;
        }
        if let Some(after) = rest.strip_prefix("</") {
            let end = after.find('>').ok_or("unclosed end tag")?;
            let name = after[..end].trim_end();
            match stack.pop() {
                Some(open) if open == name => {}
                other => return Err(format!("</{name}> closes {other:?} at byte {}", at(rest))),
            }
            rest = &after[end + 1..];
            continue;
        }
        let (name, after, self_closing) =
            parse_start_tag(&rest[1..]).map_err(|e| format!("{e} at byte {}", at(rest)))?;
        if stack.is_empty() {
            roots += 1;
        }
        if !self_closing {
            stack.push(name);
        }
        rest = after;
    }
    match (stack.last(), roots) {
        (Some(open), _) => Err(format!("<{open}> is never closed")),
        (None, 1) => Ok(()),
        (None, n) => Err(format!("{n} root elements")),
    }
}

/// Parses `name attr="v" …>` (after the `<`): the name, the rest after `>`, and whether
/// the tag closed itself.
fn parse_start_tag(s: &str) -> Result<(&str, &str, bool), String> {
    let name_end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.')))
        .unwrap_or(s.len());
    let name = &s[..name_end];
    if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err("a tag without a name".into());
    }
    let mut rest = &s[name_end..];
    let mut seen: Vec<&str> = Vec::new();
    loop {
        let trimmed = rest.trim_start();
        if let Some(after) = trimmed.strip_prefix("/>") {
            return Ok((name, after, true));
        }
        if let Some(after) = trimmed.strip_prefix('>') {
            return Ok((name, after, false));
        }
        if trimmed.len() == rest.len() {
            return Err(format!("<{name}>: attributes must be separated by space"));
        }
        let eq = trimmed
            .find('=')
            .ok_or(format!("<{name}>: attribute without a value"))?;
        let attr = &trimmed[..eq];
        if attr.is_empty() || attr.contains(|c: char| c.is_whitespace() || "<>\"'/".contains(c)) {
            return Err(format!("<{name}>: bad attribute name {attr:?}"));
        }
        if seen.contains(&attr) {
            return Err(format!("<{name}>: attribute {attr} twice"));
        }
        seen.push(attr);
        let value = &trimmed[eq + 1..];
        let quote = value.chars().next().filter(|&q| q == '"' || q == '\'');
        let quote = quote.ok_or(format!("<{name}>: attribute {attr} is not quoted"))?;
        let end = value[1..]
            .find(quote)
            .ok_or(format!("<{name}>: unclosed {attr}"))?;
        let v = &value[1..1 + end];
        if v.contains('<') {
            return Err(format!("<{name}>: '<' in attribute {attr}"));
        }
        check_entities(v)?;
        rest = &value[end + 2..];
    }
}

/// Every `&` starts `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&apos;` or `&#digits;`.
fn check_entities(text: &str) -> Result<(), String> {
    for (i, _) in text.match_indices('&') {
        let tail = &text[i + 1..];
        let end = tail.find(';').ok_or("a bare '&'")?;
        let entity = &tail[..end];
        let numeric = entity
            .strip_prefix('#')
            .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()));
        if !numeric && !matches!(entity, "amp" | "lt" | "gt" | "quot" | "apos") {
            return Err(format!("unknown entity &{entity};"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_well_formed_and_rejects_broken_documents() {
        check_well_formed("<svg a=\"1\"><g><title>x &amp; y</title></g><rect b='2'/></svg>\n")
            .unwrap();
        for bad in [
            "<svg><g></svg>",
            "<svg></svg><svg></svg>",
            "<svg>a < b</svg>",
            "<svg>a & b</svg>",
            "<svg a=1></svg>",
            "<svg a=\"1\" a=\"2\"></svg>",
            "<svg a=\"<\"></svg>",
            "<svg>&nbsp;</svg>",
            "<svg a=\"1\"b=\"2\"></svg>",
            "<svg>",
            "text<svg></svg>",
        ] {
            assert!(check_well_formed(bad).is_err(), "{bad}");
        }
    }
}
