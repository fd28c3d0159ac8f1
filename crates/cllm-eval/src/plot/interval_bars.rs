//! Estimates with their intervals, one per category (AUROC per space with 95% whiskers).

use super::canvas::{no_data, Axis, Frame, Svg};
use super::{colour, IntervalBar};
use crate::markup::{coord, escape, short};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 460.0;
const LEFT: f64 = 80.0;
const TOP: f64 = 44.0;
const RIGHT: f64 = 40.0;
/// Room under the plot for (possibly slanted) category labels.
const BOTTOM: f64 = 110.0;
/// The rough width of one character of the 12 px labels, to decide whether to slant them.
const CHAR_WIDTH: f64 = 6.5;
const WHAT: &str = "bars and intervals";

/// A dot-and-whisker figure of `bars` (the estimate as a dot, its interval as a whisker
/// with caps, the value written above), titled `title`, the value axis labelled `y_label`,
/// with a dashed horizontal line at `reference` (e.g. 0.5, chance for an AUROC).
///
/// Estimates are `<circle class="estimate">` with a `<title>` "label: value [low, high]",
/// intervals `<line class="interval">`. A bar with a non-finite value is skipped; one with
/// a non-finite interval end is drawn without its whisker; both are counted in a note.
/// Category labels are slanted when they would not fit side by side.
pub fn interval_bars(
    title: &str,
    y_label: &str,
    bars: &[IntervalBar],
    reference: Option<f64>,
) -> String {
    let drawn: Vec<&IntervalBar> = bars.iter().filter(|b| b.value.is_finite()).collect();
    let without_interval = drawn.iter().filter(|b| !has_interval(b)).count();
    let skipped = bars.len() - drawn.len() + without_interval;
    if drawn.is_empty() {
        return no_data(title, skipped, WHAT);
    }
    let reference = reference.filter(|r| r.is_finite());
    let values = drawn
        .iter()
        .flat_map(|b| [b.value, b.low, b.high])
        .filter(|v| v.is_finite())
        .chain(reference);
    let frame = Frame {
        left: LEFT,
        top: TOP,
        width: WIDTH - LEFT - RIGHT,
        height: HEIGHT - TOP - BOTTOM,
        x: Axis::exact(0.0, drawn.len() as f64),
        y: Axis::covering(values, 0.04),
    };
    let mut svg = Svg::open(WIDTH, HEIGHT, title);
    frame.draw_axes(&mut svg, "", y_label, false);

    if let Some(r) = reference {
        let y = coord(frame.py(r));
        svg.raw(&format!(
            "<line class=\"reference\" x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#666666\" stroke-dasharray=\"6 4\"/>",
            coord(frame.left),
            coord(frame.left + frame.width)
        ));
        let text_y = frame.py(r) - 4.0;
        svg.text(
            frame.left + frame.width - 4.0,
            text_y,
            "end",
            "reference-label",
            &short(r),
            "fill=\"#666666\"",
        );
    }

    let slot = frame.width / drawn.len() as f64;
    let slant = drawn
        .iter()
        .any(|b| b.label.chars().count() as f64 * CHAR_WIDTH > slot - 6.0);
    let bottom = frame.top + frame.height;
    for (i, bar) in drawn.iter().enumerate() {
        let x = frame.px(i as f64 + 0.5);
        let c = colour(i + 1);
        let mut top = frame.py(bar.value);
        let tooltip = if has_interval(bar) {
            let (lo, hi) = (bar.low.min(bar.high), bar.low.max(bar.high));
            let (y_lo, y_hi) = (frame.py(lo), frame.py(hi));
            top = y_hi;
            let (x, x0, x1) = (coord(x), coord(x - 8.0), coord(x + 8.0));
            let (y_lo, y_hi) = (coord(y_lo), coord(y_hi));
            svg.raw(&format!(
                "<line class=\"interval\" x1=\"{x}\" y1=\"{y_lo}\" x2=\"{x}\" y2=\"{y_hi}\" stroke=\"{c}\" stroke-width=\"2\"/>\n\
                 <path class=\"cap\" d=\"M {x0} {y_lo} H {x1} M {x0} {y_hi} H {x1}\" stroke=\"{c}\" stroke-width=\"2\"/>"
            ));
            format!(
                "{}: {} [{}, {}]",
                bar.label,
                short(bar.value),
                short(lo),
                short(hi)
            )
        } else {
            format!("{}: {} (no interval)", bar.label, short(bar.value))
        };
        svg.raw(&format!(
            "<circle class=\"estimate\" cx=\"{}\" cy=\"{}\" r=\"5\" fill=\"{c}\"><title>{}</title></circle>",
            coord(x),
            coord(frame.py(bar.value)),
            escape(&tooltip)
        ));
        svg.text(
            x + 10.0,
            top.min(frame.py(bar.value)) - 2.0,
            "start",
            "value",
            &short(bar.value),
            "",
        );
        if slant {
            let (lx, ly) = (x + 4.0, bottom + 16.0);
            let rotate = format!("transform=\"rotate(-30 {} {})\"", coord(lx), coord(ly));
            svg.text(lx, ly, "end", "category", &bar.label, &rotate);
        } else {
            svg.text(x, bottom + 18.0, "middle", "category", &bar.label, "");
        }
    }
    svg.skipped_note(skipped, WHAT);
    svg.close()
}

fn has_interval(bar: &IntervalBar) -> bool {
    bar.low.is_finite() && bar.high.is_finite()
}

#[cfg(test)]
mod tests {
    use super::super::well_formed::{check_well_formed, count};
    use super::*;

    fn bar(label: &str, value: f64, low: f64, high: f64) -> IntervalBar {
        IntervalBar {
            label: label.into(),
            value,
            low,
            high,
        }
    }

    #[test]
    fn draws_each_estimate_with_its_whisker_and_the_reference() {
        let bars = [
            bar("CLLM k=16", 0.71, 0.6, 0.8),
            bar("backbone <mean>", 0.48, 0.37, 0.59),
            bar("MiniLM & co", 0.55, f64::NAN, 0.6),
            bar("broken", f64::INFINITY, 0.0, 1.0),
        ];
        let svg = interval_bars("void AUROC", "AUROC", &bars, Some(0.5));
        check_well_formed(&svg).unwrap();
        assert_eq!(count(&svg, "<circle class=\"estimate\""), 3);
        assert_eq!(count(&svg, "<line class=\"interval\""), 2);
        assert_eq!(count(&svg, "<line class=\"reference\""), 1);
        assert!(svg.contains("backbone &lt;mean&gt;") && svg.contains("MiniLM &amp; co"));
        assert!(svg.contains("<title>CLLM k=16: 0.71 [0.6, 0.8]</title>"));
        assert!(svg.contains("MiniLM &amp; co: 0.55 (no interval)"));
        assert!(svg.contains("2 of the bars and intervals not drawn"));
        assert!(!svg.contains("NaN") && !svg.contains("inf\""));
    }

    #[test]
    fn long_labels_are_slanted_and_output_is_stable() {
        let bars: Vec<IntervalBar> = (0..8)
            .map(|i| {
                bar(
                    &format!("a long category name {i}"),
                    0.5 + i as f64 * 0.05,
                    0.4,
                    0.95,
                )
            })
            .collect();
        let svg = interval_bars("t", "y", &bars, None);
        check_well_formed(&svg).unwrap();
        assert_eq!(count(&svg, "rotate(-30"), 8);
        assert_eq!(svg, interval_bars("t", "y", &bars, None));
        let short_labels = interval_bars("t", "y", &[bar("a", 0.5, 0.4, 0.6)], None);
        assert_eq!(count(&short_labels, "rotate(-30"), 0);
    }

    #[test]
    fn no_finite_estimate_says_no_data() {
        let svg = interval_bars("t", "y", &[bar("x", f64::NAN, 0.0, 1.0)], Some(0.5));
        check_well_formed(&svg).unwrap();
        assert!(svg.contains(">no data</text>") && svg.contains("1 of the bars"));
        assert!(interval_bars("t", "y", &[], None).contains(">no data</text>"));
    }
}
