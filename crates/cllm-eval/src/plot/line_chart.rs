//! Named series of `(x, y)` points joined by lines (training curves, the dimension sweep).

use super::canvas::{legend, no_data, Axis, Frame, Mark, Svg};
use super::{colour, Series};
use crate::markup::{coord, escape, short};

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 430.0;
const LEFT: f64 = 80.0;
const TOP: f64 = 44.0;
const PLOT_WIDTH: f64 = 480.0;
const PLOT_HEIGHT: f64 = 330.0;
const WHAT: &str = "points";

/// A line chart of `series` (each a polyline in its own colour, with a marker per point),
/// titled `title`, axes labelled `x_label` and `y_label`, with a legend.
///
/// Points are joined in the order given. Markers are `<circle class="marker">` with a
/// `<title>` "name: x = …, y = …"; lines are `<polyline class="series">` (for series of two
/// or more drawn points). Points with a non-finite coordinate are skipped (the line joins
/// its neighbours) and counted in a note.
pub fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    let drawn: Vec<(&str, Vec<(f64, f64)>)> = series
        .iter()
        .map(|s| {
            let finite = s
                .points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect();
            (s.name.as_str(), finite)
        })
        .collect();
    let total: usize = series.iter().map(|s| s.points.len()).sum();
    let kept: usize = drawn.iter().map(|(_, p)| p.len()).sum();
    let skipped = total - kept;
    if kept == 0 {
        return no_data(title, skipped, WHAT);
    }
    let all = || drawn.iter().flat_map(|(_, p)| p.iter().copied());
    let frame = Frame {
        left: LEFT,
        top: TOP,
        width: PLOT_WIDTH,
        height: PLOT_HEIGHT,
        x: Axis::covering(all().map(|(x, _)| x), 0.0),
        y: Axis::covering(all().map(|(_, y)| y), 0.0),
    };
    let mut svg = Svg::open(WIDTH, HEIGHT, title);
    frame.draw_axes(&mut svg, x_label, y_label, true);

    for (i, (name, points)) in drawn.iter().enumerate() {
        let c = colour(i + 1);
        if points.len() >= 2 {
            let path: Vec<String> = points
                .iter()
                .map(|&(x, y)| format!("{},{}", coord(frame.px(x)), coord(frame.py(y))))
                .collect();
            svg.raw(&format!(
                "<polyline class=\"series\" points=\"{}\" fill=\"none\" stroke=\"{c}\" stroke-width=\"2\"/>",
                path.join(" ")
            ));
        }
        for &(x, y) in points {
            svg.raw(&format!(
                "<circle class=\"marker\" cx=\"{}\" cy=\"{}\" r=\"3\" fill=\"{c}\"><title>{}</title></circle>",
                coord(frame.px(x)),
                coord(frame.py(y)),
                escape(&format!("{name}: x = {}, y = {}", short(x), short(y)))
            ));
        }
    }
    let entries: Vec<(Mark<'_>, String)> = drawn
        .iter()
        .enumerate()
        .map(|(i, (name, _))| (Mark::Line(colour(i + 1)), name.to_string()))
        .collect();
    legend(&mut svg, LEFT + PLOT_WIDTH + 24.0, TOP + 12.0, &entries);
    svg.skipped_note(skipped, WHAT);
    svg.close()
}

#[cfg(test)]
mod tests {
    use super::super::well_formed::{check_well_formed, count};
    use super::*;

    fn series(name: &str, points: &[(f64, f64)]) -> Series {
        Series {
            name: name.into(),
            points: points.to_vec(),
        }
    }

    #[test]
    fn draws_a_line_and_markers_per_series() {
        let curves = [
            series(
                "train <loss>",
                &[(0.0, 3.2), (1.0, 2.1), (2.0, f64::NAN), (3.0, 1.2)],
            ),
            series("val & test", &[(0.0, 3.4), (3.0, 1.9)]),
            series("single", &[(1.5, 2.5)]),
        ];
        let svg = line_chart("training", "epoch", "loss", &curves);
        check_well_formed(&svg).unwrap();
        assert_eq!(count(&svg, "<polyline class=\"series\""), 2);
        assert_eq!(count(&svg, "<circle class=\"marker\""), 6);
        assert!(svg.contains("train &lt;loss&gt;") && svg.contains("val &amp; test"));
        assert!(svg.contains("<title>val &amp; test: x = 3, y = 1.9</title>"));
        assert!(svg.contains("1 of the points not drawn (non-finite values)"));
        assert!(!svg.contains("NaN") && !svg.contains("inf\""));
        assert_eq!(svg, line_chart("training", "epoch", "loss", &curves));
    }

    #[test]
    fn ticks_are_nice_numbers_covering_the_data() {
        let sweep = [series(
            "AUROC",
            &[(8.0, 0.61), (16.0, 0.69), (32.0, 0.74), (64.0, 0.7)],
        )];
        let svg = line_chart("sweep", "k", "AUROC", &sweep);
        check_well_formed(&svg).unwrap();
        // x: 8..64 → step 10 from 0 to 70; y: 0.61..0.74 → step 0.02 from 0.60
        assert!(svg.contains("class=\"tick\" x="), "no ticks");
        for tick in ["0", "20", "40", "70", "0.60", "0.64", "0.70"] {
            assert!(svg.contains(&format!(">{tick}</text>")), "{tick}");
        }
        assert!(!svg.contains(">15</text>") && !svg.contains(">0.65</text>"));
    }

    #[test]
    fn no_finite_point_says_no_data() {
        let svg = line_chart("t", "x", "y", &[series("s", &[(f64::NAN, 1.0)])]);
        check_well_formed(&svg).unwrap();
        assert!(svg.contains(">no data</text>") && svg.contains("1 of the points"));
        assert!(line_chart("t", "x", "y", &[]).contains(">no data</text>"));
    }
}
