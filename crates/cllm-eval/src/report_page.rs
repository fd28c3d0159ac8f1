//! `report.html`: the experiment's report as one self-contained page.
//!
//! [`html_page`] writes sections of paragraphs, preformatted text, tables and SVG figures,
//! embeds the whole report data as JSON (`<script type="application/json"
//! id="report-data">`, the same value the caller writes to `report.json`), and, where a
//! section asks for it, an interactive map of the latent space drawn by a small inline
//! script from the data's [`MAP_KEY`] entry (an [`InteractiveMap`]): hover a point for its
//! title, click it for its original and decoded text, click a zone or one of its samples
//! for the samples' decodes.
//!
//! The page loads nothing: no external script, style, font or image, so it works from a
//! file with no network. Every caller text is escaped; inside the embedded JSON `<`, `>`
//! and `&` are written as `\u003c`, `\u003e`, `\u0026`, so no text can close the script.
//! `scripts/check_report_html.py` renders a page in headless Chromium and checks it
//! against its `report.json`.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::error::{EvalError, Result};
use crate::markup::escape;
use crate::plot::PALETTE;

/// The key of the report data holding the [`InteractiveMap`].
pub const MAP_KEY: &str = "map";

const STYLE: &str = include_str!("report_page/page.css");
const MAP_SCRIPT: &str = include_str!("report_page/latent_map.js");
/// The namespace attribute of a standalone SVG document; inline SVG in HTML gets its
/// namespace from the parser, so it is dropped there.
const SVG_NAMESPACE_ATTRIBUTE: &str = " xmlns=\"http://www.w3.org/2000/svg\"";

/// A section of the page: a heading and its blocks, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Section {
    /// The section's heading.
    pub heading: String,
    /// What it shows, top to bottom.
    pub blocks: Vec<Block>,
}

/// One piece of a [`Section`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Block {
    /// A paragraph of plain text.
    Paragraph(String),
    /// Plain text shown as is (line breaks and spacing kept).
    Preformatted(String),
    /// A table.
    Table(Table),
    /// An SVG figure (from [`crate::plot`]) with its caption.
    Figure {
        /// The caption under the figure.
        caption: String,
        /// The SVG document.
        svg: String,
    },
    /// The interactive latent map, drawn from the data's [`MAP_KEY`] entry (at most once a
    /// page).
    InteractiveMap,
}

/// A table of text cells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// The caption above the table (may be empty).
    pub title: String,
    /// The column headings.
    pub header: Vec<String>,
    /// The rows, each with one cell per column. Cells that parse as a number are
    /// right-aligned.
    pub rows: Vec<Vec<String>>,
}

/// The latent map the page draws interactively: the report data's [`MAP_KEY`] entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InteractiveMap {
    /// The texts' points.
    pub points: Vec<InteractivePoint>,
    /// The void zones, with samples drawn in them.
    #[serde(default)]
    pub zones: Vec<InteractiveZone>,
}

/// A text's point on the [`InteractiveMap`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InteractivePoint {
    /// The horizontal map coordinate.
    pub x: f64,
    /// The vertical map coordinate.
    pub y: f64,
    /// Its group (coloured in order of first appearance; the first is drawn underneath).
    pub group: String,
    /// The tooltip and panel heading (the recipe's title).
    pub title: String,
    /// The text itself, shown on click.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
    /// What the decoder made of its vector, shown on click.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoded: Option<String>,
}

/// A void zone on the [`InteractiveMap`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InteractiveZone {
    /// The horizontal coordinate of its centre.
    pub x: f64,
    /// The vertical coordinate of its centre.
    pub y: f64,
    /// Its radius in map units.
    pub r: f64,
    /// Its name and score.
    pub label: String,
    /// Vectors drawn in the zone and their decodes.
    #[serde(default)]
    pub samples: Vec<ZoneSample>,
}

/// A vector drawn in a void zone, on the map, with its decode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneSample {
    /// The horizontal map coordinate.
    pub x: f64,
    /// The vertical map coordinate.
    pub y: f64,
    /// The decoded text.
    pub decoded: String,
}

/// The self-contained HTML page titled `title` with `sections`, embedding `data` (the
/// report's JSON, written to `report.json` beside the page) and, where a section holds
/// [`Block::InteractiveMap`], the interactive map of `data[MAP_KEY]`.
///
/// # Errors
/// [`EvalError::InvalidInput`] when a table row has another number of cells than its
/// header, a figure is not an SVG document, more than one block asks for the interactive
/// map, or one does and `data` has no [`MAP_KEY`] entry that reads as an
/// [`InteractiveMap`] (an error naming the bad field).
pub fn html_page(title: &str, sections: &[Section], data: &serde_json::Value) -> Result<String> {
    let map_blocks = sections
        .iter()
        .flat_map(|s| &s.blocks)
        .filter(|b| matches!(b, Block::InteractiveMap))
        .count();
    if map_blocks > 1 {
        return Err(EvalError::InvalidInput(format!(
            "the page asks for the interactive map {map_blocks} times (at most once)"
        )));
    }
    if map_blocks == 1 {
        check_map(data)?;
    }

    let mut body = String::new();
    for section in sections {
        let _ = writeln!(body, "<section>\n<h2>{}</h2>", escape(&section.heading));
        for block in &section.blocks {
            write_block(&mut body, block)?;
        }
        body.push_str("</section>\n");
    }

    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{t}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n<h1>{t}</h1>\n{body}\
         <script type=\"application/json\" id=\"report-data\">{}</script>\n",
        embedded_json(data)?,
        t = escape(title),
    );
    if map_blocks == 1 {
        let _ = write!(page, "<script>\n{MAP_SCRIPT}</script>\n");
    }
    page.push_str("</body>\n</html>\n");
    Ok(page)
}

/// `data` as JSON that cannot end the `<script>` element holding it.
fn embedded_json(data: &serde_json::Value) -> Result<String> {
    let json = serde_json::to_string(data).map_err(|e| {
        EvalError::InvalidInput(format!("the report data cannot be written as JSON: {e}"))
    })?;
    // `<`, `>` and `&` only occur inside JSON strings, where their \u escapes mean the same
    Ok(json
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026"))
}

fn check_map(data: &serde_json::Value) -> Result<()> {
    let Some(map) = data.get(MAP_KEY) else {
        return Err(EvalError::InvalidInput(format!(
            "the page asks for the interactive map but the report data has no \"{MAP_KEY}\" entry"
        )));
    };
    InteractiveMap::deserialize(map).map_err(|e| {
        EvalError::InvalidInput(format!(
            "the report data's \"{MAP_KEY}\" is not a latent map: {e}"
        ))
    })?;
    Ok(())
}

fn write_block(out: &mut String, block: &Block) -> Result<()> {
    match block {
        Block::Paragraph(text) => {
            let _ = writeln!(out, "<p>{}</p>", escape(text));
        }
        Block::Preformatted(text) => {
            let _ = writeln!(out, "<pre>{}</pre>", escape(text));
        }
        Block::Table(table) => write_table(out, table)?,
        Block::Figure { caption, svg } => {
            let inline = svg.trim_start();
            if !inline.starts_with("<svg") {
                return Err(EvalError::InvalidInput(format!(
                    "figure \"{caption}\" is not an SVG document (it must start with <svg)"
                )));
            }
            let inline = inline.replacen(SVG_NAMESPACE_ATTRIBUTE, "", 1);
            let _ = writeln!(
                out,
                "<figure>\n{}\n<figcaption>{}</figcaption>\n</figure>",
                inline.trim_end(),
                escape(caption)
            );
        }
        Block::InteractiveMap => {
            let palette = PALETTE.join(" ");
            let _ = writeln!(
                out,
                "<p class=\"meta\">Hover a point for its title; click a point for its original and \
                 decoded text, a dashed zone or a ◇ sample for the zone's decodes.</p>\n\
                 <ul id=\"map-legend\"></ul>\n<div class=\"map-wrap\">\n\
                 <svg id=\"map-svg\" viewBox=\"0 0 640 640\" data-palette=\"{palette}\" role=\"img\" \
                 aria-label=\"latent map\"></svg>\n\
                 <aside id=\"map-panel\">Click a point or a zone sample to read its text.</aside>\n</div>\n\
                 <div id=\"map-tooltip\" hidden></div>\n\
                 <noscript><p>The interactive map needs JavaScript.</p></noscript>"
            );
        }
    }
    Ok(())
}

fn write_table(out: &mut String, table: &Table) -> Result<()> {
    let columns = table.header.len();
    if let Some(i) = table.rows.iter().position(|r| r.len() != columns) {
        return Err(EvalError::InvalidInput(format!(
            "table \"{}\": row {i} has {} cells, the header {columns}",
            table.title,
            table.rows[i].len()
        )));
    }
    out.push_str("<table>\n");
    if !table.title.is_empty() {
        let _ = writeln!(out, "<caption>{}</caption>", escape(&table.title));
    }
    out.push_str("<thead><tr>");
    for h in &table.header {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in &table.rows {
        out.push_str("<tr>");
        for cell in row {
            let numeric = cell.trim().parse::<f64>().is_ok();
            let class = if numeric { " class=\"num\"" } else { "" };
            let _ = write!(out, "<td{class}>{}</td>", escape(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::{interval_bars, IntervalBar};
    use serde_json::json;

    fn map_data() -> serde_json::Value {
        json!({
            "family": "pizza",
            "auroc": {"estimate": 0.71, "low": 0.6, "high": 0.8},
            "map": {
                "points": [
                    {"x": 0.0, "y": 1.0, "group": "train", "title": "Tomato soup"},
                    {"x": 1.0, "y": -1.0, "group": "pizza", "title": "Pizza </script><script>alert(1)</script>",
                     "original": "dough & \"cheese\" <b>", "decoded": "dough, cheese's"},
                ],
                "zones": [{"x": 0.5, "y": 0.5, "r": 0.3, "label": "zone 1",
                           "samples": [{"x": 0.5, "y": 0.6, "decoded": "a <new> dish"}]}]
            }
        })
    }

    fn sections() -> Vec<Section> {
        let bars = [IntervalBar {
            label: "CLLM".into(),
            value: 0.7,
            low: 0.6,
            high: 0.8,
        }];
        vec![
            Section {
                heading: "Latent map <2-D>".into(),
                blocks: vec![
                    Block::InteractiveMap,
                    Block::Paragraph("PCA of the codes & zones".into()),
                ],
            },
            Section {
                heading: "Void membership".into(),
                blocks: vec![
                    Block::Table(Table {
                        title: "AUROC".into(),
                        header: vec!["space".into(), "AUROC".into()],
                        rows: vec![vec!["CLLM <k=16>".into(), "0.71".into()]],
                    }),
                    Block::Figure {
                        caption: "AUROC & intervals".into(),
                        svg: interval_bars("AUROC", "AUROC", &bars, Some(0.5)),
                    },
                    Block::Preformatted("line 1\n  line <2>".into()),
                ],
            },
        ]
    }

    fn embedded(page: &str) -> serde_json::Value {
        let open = "<script type=\"application/json\" id=\"report-data\">";
        let start = page.find(open).unwrap() + open.len();
        let end = start + page[start..].find("</script>").unwrap();
        serde_json::from_str(&page[start..end]).unwrap()
    }

    #[test]
    fn the_embedded_data_reads_back_equal_and_cannot_close_its_script() {
        let data = map_data();
        let page = html_page("Experiment: pizza", &sections(), &data).unwrap();
        assert_eq!(embedded(&page), data);
        // two scripts of ours, none from the data
        assert_eq!(page.matches("</script>").count(), 2);
        assert!(!page.contains("alert(1)</script>"));
        assert!(!page.contains("<b>"));
    }

    #[test]
    fn texts_are_escaped_and_the_parts_are_all_there() {
        let page = html_page("Pizza & <soup>", &sections(), &map_data()).unwrap();
        assert!(page.contains("<title>Pizza &amp; &lt;soup&gt;</title>"));
        assert!(page.contains("<h2>Latent map &lt;2-D&gt;</h2>"));
        assert!(page.contains("<td>CLLM &lt;k=16&gt;</td><td class=\"num\">0.71</td>"));
        assert!(page.contains("<pre>line 1\n  line &lt;2&gt;</pre>"));
        assert!(page.contains("<figcaption>AUROC &amp; intervals</figcaption>"));
        assert!(page.contains("<svg viewBox=") && page.contains("id=\"map-svg\""));
        assert!(page.contains(&format!("data-palette=\"{}\"", PALETTE.join(" "))));
        assert_eq!(
            page,
            html_page("Pizza & <soup>", &sections(), &map_data()).unwrap()
        );
    }

    #[test]
    fn the_page_loads_nothing_from_outside() {
        let page = html_page("t", &sections(), &map_data()).unwrap();
        assert!(!page.contains("http"), "a URL in the page");
        assert!(!page.contains(" src=") && !page.contains("<link") && !page.contains("@import"));
        // a URL inside the caller's data stays data
        let mut data = map_data();
        data["source"] = json!("http://example.org/");
        let page = html_page("t", &sections(), &data).unwrap();
        assert_eq!(page.matches("http").count(), 1);
    }

    #[test]
    fn without_a_map_block_no_script_runs() {
        let plain = vec![Section {
            heading: "h".into(),
            blocks: vec![Block::Paragraph("p".into())],
        }];
        let page = html_page("t", &plain, &json!({"n": 1})).unwrap();
        assert_eq!(page.matches("<script").count(), 1);
        assert!(!page.contains("id=\"map-svg\""));
    }

    #[test]
    fn bad_input_is_refused_by_name() {
        let err =
            |s: &[Section], d: &serde_json::Value| html_page("t", s, d).unwrap_err().to_string();
        let map_only = vec![Section {
            heading: "m".into(),
            blocks: vec![Block::InteractiveMap],
        }];
        assert!(err(&map_only, &json!({})).contains("no \"map\" entry"));
        let e = err(
            &map_only,
            &json!({"map": {"points": [{"x": 1.0, "y": "up"}]}}),
        );
        assert!(e.contains("not a latent map"), "{e}");
        let twice = vec![Section {
            heading: "m".into(),
            blocks: vec![Block::InteractiveMap, Block::InteractiveMap],
        }];
        assert!(err(&twice, &map_data()).contains("2 times"));
        let ragged = vec![Section {
            heading: "t".into(),
            blocks: vec![Block::Table(Table {
                title: "T".into(),
                header: vec!["a".into(), "b".into()],
                rows: vec![vec!["1".into()]],
            })],
        }];
        assert!(err(&ragged, &json!({})).contains("row 0 has 1 cells, the header 2"));
        let not_svg = vec![Section {
            heading: "f".into(),
            blocks: vec![Block::Figure {
                caption: "c".into(),
                svg: "<script>x</script>".into(),
            }],
        }];
        assert!(err(&not_svg, &json!({})).contains("not an SVG document"));
    }
}
