//! What the figures share: the SVG document being written, axes with nice ticks, the plot
//! frame that maps data to pixels, the legend, and the notes under a figure.

use std::fmt::Write as _;

use crate::markup::{coord, escape, fixed};

/// The ticks an axis aims at.
const TARGET_TICKS: f64 = 5.0;

/// An SVG document being written.
pub(super) struct Svg {
    out: String,
    height: f64,
}

impl Svg {
    /// Opens a `width` × `height` document titled `title`, on a white background, with the
    /// title written at the top.
    pub(super) fn open(width: f64, height: f64, title: &str) -> Self {
        let mut out = String::new();
        let (w, h) = (coord(width), coord(height));
        let _ = write!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" \
             height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\" role=\"img\">\n\
             <title>{}</title>\n\
             <rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>\n",
            escape(title)
        );
        let mut svg = Self { out, height };
        svg.text(
            width / 2.0,
            24.0,
            "middle",
            "title",
            title,
            "font-size=\"16\"",
        );
        svg
    }

    /// Appends raw markup (built by the caller from escaped text).
    pub(super) fn raw(&mut self, markup: &str) {
        self.out.push_str(markup);
        self.out.push('\n');
    }

    /// Appends a `<text>` element; `extra` holds more attributes (already escaped).
    pub(super) fn text(
        &mut self,
        x: f64,
        y: f64,
        anchor: &str,
        class: &str,
        text: &str,
        extra: &str,
    ) {
        let _ = writeln!(
            self.out,
            "<text class=\"{class}\" x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\" {extra}>{}</text>",
            coord(x),
            coord(y),
            escape(text)
        );
    }

    /// Writes the note "`count` of the `what` not drawn (non-finite values)" at the bottom
    /// left, if `count > 0`.
    pub(super) fn skipped_note(&mut self, count: usize, what: &str) {
        if count > 0 {
            let note = format!("{count} of the {what} not drawn (non-finite values)");
            self.text(
                10.0,
                self.height - 8.0,
                "start",
                "note",
                &note,
                "fill=\"#a00000\"",
            );
        }
    }

    /// Closes the document.
    pub(super) fn close(mut self) -> String {
        self.out.push_str("</svg>\n");
        self.out
    }
}

/// The figure for empty input: its title and "no data" (and how much was skipped).
pub(super) fn no_data(title: &str, skipped: usize, what: &str) -> String {
    let (width, height) = (480.0, 200.0);
    let mut svg = Svg::open(width, height, title);
    svg.text(
        width / 2.0,
        height / 2.0,
        "middle",
        "no-data",
        "no data",
        "fill=\"#666666\"",
    );
    svg.skipped_note(skipped, what);
    svg.close()
}

/// A linear axis: the data range `[lo, hi]` and its nice ticks inside it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Axis {
    pub(super) lo: f64,
    pub(super) hi: f64,
    step: f64,
}

impl Axis {
    /// An axis covering `values` (finite, at least one) widened by `pad` of their span on
    /// each side (so markers do not sit on the frame), then to whole ticks. A single value
    /// gets a range around it.
    pub(super) fn covering(values: impl IntoIterator<Item = f64>, pad: f64) -> Self {
        let (lo, hi) = padded_range(values, pad);
        let step = nice_step(hi - lo);
        Self {
            lo: (lo / step).floor() * step,
            hi: (hi / step).ceil() * step,
            step,
        }
    }

    /// An axis over exactly `[lo, hi]` (`lo < hi`), ticks where they fall.
    pub(super) fn exact(lo: f64, hi: f64) -> Self {
        Self {
            lo,
            hi,
            step: nice_step(hi - lo),
        }
    }

    /// The tick values inside the range.
    pub(super) fn ticks(&self) -> Vec<f64> {
        if !(self.step.is_finite() && self.step > 0.0) {
            return Vec::new();
        }
        let first = (self.lo / self.step - 1e-9).ceil() as i64;
        let last = (self.hi / self.step + 1e-9).floor() as i64;
        (first..=last).map(|k| k as f64 * self.step).collect()
    }

    /// A tick label: as many decimals as the step needs.
    pub(super) fn label(&self, v: f64) -> String {
        let decimals = (-self.step.log10().floor()).clamp(0.0, 12.0) as usize;
        fixed(v, decimals)
    }
}

/// The range of `values`, widened by `pad` of its span on each side; a zero span becomes
/// a range of ±10% around the value (±1 around 0).
pub(super) fn padded_range(values: impl IntoIterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    let span = hi - lo;
    if span > 0.0 {
        (lo - pad * span, hi + pad * span)
    } else {
        let half = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        (lo - half, hi + half)
    }
}

/// 1, 2 or 5 × 10ⁿ, near `span / TARGET_TICKS`.
fn nice_step(span: f64) -> f64 {
    let raw = span / TARGET_TICKS;
    let magnitude = 10f64.powf(raw.log10().floor());
    let f = raw / magnitude;
    let nice = if f < 1.5 {
        1.0
    } else if f < 3.0 {
        2.0
    } else if f < 7.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// The plotting area of a figure (in pixels) and the axes mapped onto it.
pub(super) struct Frame {
    pub(super) left: f64,
    pub(super) top: f64,
    pub(super) width: f64,
    pub(super) height: f64,
    pub(super) x: Axis,
    pub(super) y: Axis,
}

impl Frame {
    /// The pixel column of data `x`.
    pub(super) fn px(&self, x: f64) -> f64 {
        self.left + (x - self.x.lo) / (self.x.hi - self.x.lo) * self.width
    }

    /// The pixel row of data `y` (up is larger).
    pub(super) fn py(&self, y: f64) -> f64 {
        self.top + self.height - (y - self.y.lo) / (self.y.hi - self.y.lo) * self.height
    }

    /// Pixels per data unit, horizontally.
    pub(super) fn x_scale(&self) -> f64 {
        self.width / (self.x.hi - self.x.lo)
    }

    /// Draws the frame, grid lines, ticks and their labels, and the axis labels (the x
    /// ticks only when `x_ticks`).
    pub(super) fn draw_axes(&self, svg: &mut Svg, x_label: &str, y_label: &str, x_ticks: bool) {
        let (l, t, w, h) = (self.left, self.top, self.width, self.height);
        let bottom = t + h;
        if x_ticks {
            for v in self.x.ticks() {
                let x = coord(self.px(v));
                svg.raw(&format!(
                    "<line class=\"grid\" x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"#eeeeee\"/>",
                    coord(t),
                    coord(bottom + 5.0)
                ));
                svg.text(
                    self.px(v),
                    bottom + 18.0,
                    "middle",
                    "tick",
                    &self.x.label(v),
                    "",
                );
            }
        }
        for v in self.y.ticks() {
            let y = coord(self.py(v));
            svg.raw(&format!(
                "<line class=\"grid\" x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#eeeeee\"/>",
                coord(l - 5.0),
                coord(l + w)
            ));
            svg.text(
                l - 8.0,
                self.py(v) + 4.0,
                "end",
                "tick",
                &self.y.label(v),
                "",
            );
        }
        svg.raw(&format!(
            "<rect class=\"frame\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#444444\"/>",
            coord(l),
            coord(t),
            coord(w),
            coord(h)
        ));
        if !x_label.is_empty() {
            svg.text(
                l + w / 2.0,
                bottom + 40.0,
                "middle",
                "axis-label",
                x_label,
                "",
            );
        }
        if !y_label.is_empty() {
            let (x, y) = (l - 52.0, t + h / 2.0);
            let rotate = format!("transform=\"rotate(-90 {} {})\"", coord(x), coord(y));
            svg.text(x, y, "middle", "axis-label", y_label, &rotate);
        }
    }
}

/// How a legend entry is marked.
pub(super) enum Mark<'a> {
    /// A filled dot of this colour.
    Dot(&'a str),
    /// A line of this colour.
    Line(&'a str),
    /// A dashed line (or circle) of this colour.
    Dashed(&'a str),
}

/// Writes a legend of `entries` from `(x, y)` down.
pub(super) fn legend(svg: &mut Svg, x: f64, y: f64, entries: &[(Mark<'_>, String)]) {
    for (i, (mark, name)) in entries.iter().enumerate() {
        let row = y + 20.0 * i as f64;
        let (cx, cy) = (coord(x + 8.0), coord(row - 4.0));
        let (x0, x1) = (coord(x), coord(x + 16.0));
        svg.raw(&match mark {
            Mark::Dot(c) => format!("<circle class=\"legend-mark\" cx=\"{cx}\" cy=\"{cy}\" r=\"4\" fill=\"{c}\"/>"),
            Mark::Line(c) => format!(
                "<line class=\"legend-mark\" x1=\"{x0}\" y1=\"{cy}\" x2=\"{x1}\" y2=\"{cy}\" stroke=\"{c}\" stroke-width=\"2\"/>"
            ),
            Mark::Dashed(c) => format!(
                "<line class=\"legend-mark\" x1=\"{x0}\" y1=\"{cy}\" x2=\"{x1}\" y2=\"{cy}\" stroke=\"{c}\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\"/>"
            ),
        });
        svg.text(x + 22.0, row, "start", "legend", name, "");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps_are_one_two_or_five_times_a_power_of_ten() {
        for (span, step) in [
            (1.0, 0.2),
            (10.0, 2.0),
            (3.0, 0.5),
            (0.04, 0.01),
            (400.0, 100.0),
        ] {
            let got = nice_step(span);
            assert!((got - step).abs() < step * 1e-12, "{span}: {got}");
        }
    }

    #[test]
    fn axes_cover_their_data_with_whole_ticks() {
        let a = Axis::covering([0.43, 0.91], 0.0);
        assert_eq!((a.lo, a.hi), (0.4, 1.0));
        assert_eq!(a.ticks().len(), 7);
        assert_eq!(a.label(0.4), "0.4");
        let b = Axis::covering([3.0], 0.0);
        assert!(b.lo < 3.0 && b.hi > 3.0);
        assert_eq!(Axis::covering([8.0, 64.0], 0.0).label(20.0), "20");
        // padding moves values off the frame: 0.5..1.0 becomes 0.48..1.02, then 0.4..1.1
        let p = Axis::covering([0.5, 1.0], 0.04);
        assert!(
            (p.lo - 0.4).abs() < 1e-12 && (p.hi - 1.1).abs() < 1e-12,
            "{p:?}"
        );
        let e = Axis::exact(-0.37, 0.52);
        assert_eq!(e.ticks().first().copied(), Some(-0.2));
    }
}
