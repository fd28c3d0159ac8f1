//! The latent-space map: points coloured by group, circles (void zones) dashed.

use super::canvas::{legend, no_data, padded_range, Axis, Frame, Mark, Svg};
use super::{colour, MapCircle, MapPoint};
use crate::markup::{coord, escape};

const WIDTH: f64 = 820.0;
const HEIGHT: f64 = 640.0;
const LEFT: f64 = 70.0;
const TOP: f64 = 44.0;
/// The plotting area is square: both axes have the same scale.
const SIDE: f64 = 540.0;
const ZONE_COLOUR: &str = "#333333";

/// The map of `points` (coloured by group in order of first appearance, see
/// [`PALETTE`](super::PALETTE); the first group is drawn smaller, underneath) and
/// `circles` (dashed, with their centres marked), titled `title`, axes labelled
/// `axis_labels` (e.g. `["PC 1 (41%)", "PC 2 (17%)"]`).
///
/// Both axes have the same scale, so a circle of radius `r` is round. Every point and
/// circle carries its label as a `<title>` (a tooltip in a browser); points are
/// `<circle class="point">`, circles `<circle class="zone">`. Points with a non-finite
/// coordinate and circles with a non-finite or negative radius are skipped and counted in
/// a note.
pub fn scatter_map(
    title: &str,
    axis_labels: [&str; 2],
    points: &[MapPoint],
    circles: &[MapCircle],
) -> String {
    let drawn_points: Vec<&MapPoint> = points
        .iter()
        .filter(|p| p.x.is_finite() && p.y.is_finite())
        .collect();
    let drawn_circles: Vec<&MapCircle> = circles
        .iter()
        .filter(|c| c.x.is_finite() && c.y.is_finite() && c.r.is_finite() && c.r >= 0.0)
        .collect();
    let skipped = points.len() - drawn_points.len() + circles.len() - drawn_circles.len();
    if drawn_points.is_empty() && drawn_circles.is_empty() {
        return no_data(title, skipped, "points and circles");
    }

    let frame = square_frame(&drawn_points, &drawn_circles);
    let mut svg = Svg::open(WIDTH, HEIGHT, title);
    frame.draw_axes(&mut svg, axis_labels[0], axis_labels[1], true);

    let groups = groups_in_order(&drawn_points);
    for (g, (name, _)) in groups.iter().enumerate() {
        let radius = if g == 0 { "2" } else { "3.5" };
        for p in drawn_points.iter().filter(|p| &p.group == name) {
            svg.raw(&format!(
                "<circle class=\"point\" cx=\"{}\" cy=\"{}\" r=\"{radius}\" fill=\"{}\" fill-opacity=\"0.85\"><title>{}</title></circle>",
                coord(frame.px(p.x)),
                coord(frame.py(p.y)),
                colour(g),
                escape(&p.label)
            ));
        }
    }
    for c in &drawn_circles {
        let (cx, cy) = (frame.px(c.x), frame.py(c.y));
        svg.raw(&format!(
            "<circle class=\"zone\" cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"none\" stroke=\"{ZONE_COLOUR}\" stroke-width=\"1.5\" stroke-dasharray=\"5 4\"><title>{}</title></circle>",
            coord(cx),
            coord(cy),
            coord(c.r * frame.x_scale()),
            escape(&c.label)
        ));
        svg.raw(&format!(
            "<path class=\"zone-centre\" d=\"M {} {} h 8 M {} {} v 8\" stroke=\"{ZONE_COLOUR}\"/>",
            coord(cx - 4.0),
            coord(cy),
            coord(cx),
            coord(cy - 4.0)
        ));
    }

    let mut entries: Vec<(Mark<'_>, String)> = groups
        .iter()
        .enumerate()
        .map(|(g, (name, n))| (Mark::Dot(colour(g)), format!("{name} ({n})")))
        .collect();
    if !drawn_circles.is_empty() {
        entries.push((
            Mark::Dashed(ZONE_COLOUR),
            format!("void zone ({})", drawn_circles.len()),
        ));
    }
    legend(&mut svg, LEFT + SIDE + 24.0, TOP + 12.0, &entries);
    svg.skipped_note(skipped, "points and circles");
    svg.close()
}

/// The group names in order of first appearance, with their point counts.
fn groups_in_order(points: &[&MapPoint]) -> Vec<(String, usize)> {
    let mut groups: Vec<(String, usize)> = Vec::new();
    for p in points {
        match groups.iter_mut().find(|(name, _)| *name == p.group) {
            Some((_, n)) => *n += 1,
            None => groups.push((p.group.clone(), 1)),
        }
    }
    groups
}

/// A square frame holding every point and circle, with equal spans on both axes.
fn square_frame(points: &[&MapPoint], circles: &[&MapCircle]) -> Frame {
    let xs = points
        .iter()
        .map(|p| p.x)
        .chain(circles.iter().flat_map(|c| [c.x - c.r, c.x + c.r]));
    let ys = points
        .iter()
        .map(|p| p.y)
        .chain(circles.iter().flat_map(|c| [c.y - c.r, c.y + c.r]));
    let (x0, x1) = padded_range(xs, 0.05);
    let (y0, y1) = padded_range(ys, 0.05);
    let half = (x1 - x0).max(y1 - y0) / 2.0;
    let (xc, yc) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    Frame {
        left: LEFT,
        top: TOP,
        width: SIDE,
        height: SIDE,
        x: Axis::exact(xc - half, xc + half),
        y: Axis::exact(yc - half, yc + half),
    }
}

#[cfg(test)]
mod tests {
    use super::super::well_formed::{check_well_formed, count};
    use super::*;

    fn point(x: f64, y: f64, group: &str, label: &str) -> MapPoint {
        MapPoint {
            x,
            y,
            group: group.into(),
            label: label.into(),
        }
    }

    fn sample() -> (Vec<MapPoint>, Vec<MapCircle>) {
        let mut points: Vec<MapPoint> = (0..30)
            .map(|i| {
                point(
                    (i as f64 * 0.7).sin() * 3.0,
                    (i as f64 * 1.3).cos() * 2.0,
                    "train",
                    &format!("train {i}"),
                )
            })
            .collect();
        points.push(point(0.5, 0.5, "validation", "soup & <bread>"));
        points.push(point(1.5, -0.5, "pizza", "margherita \"classic\""));
        points.push(point(f64::NAN, 0.0, "pizza", "lost"));
        let circles = vec![
            MapCircle {
                x: 2.0,
                y: 2.0,
                r: 0.8,
                label: "zone 1 <best>".into(),
            },
            MapCircle {
                x: 0.0,
                y: 0.0,
                r: f64::INFINITY,
                label: "bad".into(),
            },
        ];
        (points, circles)
    }

    #[test]
    fn draws_every_finite_point_and_circle_with_escaped_labels() {
        let (points, circles) = sample();
        let svg = scatter_map("latent <map> & zones", ["PC 1", "PC 2"], &points, &circles);
        check_well_formed(&svg).unwrap();
        assert_eq!(count(&svg, "<circle class=\"point\""), 32);
        assert_eq!(count(&svg, "<circle class=\"zone\""), 1);
        assert!(svg.contains("<title>soup &amp; &lt;bread&gt;</title>"));
        assert!(svg.contains("margherita &quot;classic&quot;"));
        assert!(svg.contains("latent &lt;map&gt; &amp; zones"));
        assert!(svg.contains("2 of the points and circles not drawn (non-finite values)"));
        assert!(
            svg.contains("train (30)")
                && svg.contains("pizza (1)")
                && svg.contains("void zone (1)")
        );
        assert!(svg.contains("viewBox=\"0 0 820.00 640.00\""));
        assert!(!svg.contains("NaN") && !svg.contains("inf\""));
    }

    #[test]
    fn hostile_titles_leave_the_svg_well_formed() {
        let points = vec![
            point(0.0, 0.0, "train", "Pizza\u{1b}[31m\u{7}\u{1} red"),
            point(1.0, 1.0, "pizza", "a\r\nb ]]> <!-- </script> \u{202e}x"),
            point(2.0, 0.5, "train\u{1}", &"long ".repeat(1000)),
        ];
        let svg = scatter_map("map\u{0}", ["PC 1", "PC 2"], &points, &[]);
        check_well_formed(&svg).unwrap();
        assert!(!svg.chars().any(cllm_core::safe_text::is_unsafe));
        assert!(svg.contains("<title>Pizza[31m red</title>"));
    }

    #[test]
    fn the_same_input_gives_the_same_bytes() {
        let (points, circles) = sample();
        assert_eq!(
            scatter_map("m", ["a", "b"], &points, &circles),
            scatter_map("m", ["a", "b"], &points, &circles)
        );
    }

    #[test]
    fn circles_are_round_on_equal_axes() {
        // a wide, flat cloud: the y axis must get the x axis's span
        let points = vec![point(-10.0, 0.0, "a", "l"), point(10.0, 1.0, "a", "r")];
        let circles = [MapCircle {
            x: 0.0,
            y: 0.5,
            r: 1.0,
            label: "z".into(),
        }];
        let frame = square_frame(
            &points.iter().collect::<Vec<_>>(),
            &circles.iter().collect::<Vec<_>>(),
        );
        let (sx, sy) = (
            frame.width / (frame.x.hi - frame.x.lo),
            frame.height / (frame.y.hi - frame.y.lo),
        );
        assert!((sx - sy).abs() < 1e-9 * sx, "{sx} {sy}");
        let svg = scatter_map("m", ["a", "b"], &points, &circles);
        // 22 data units (20 + 5% padding each side) over 540 px: r = 540 / 22
        assert!(
            svg.contains(&format!("r=\"{}\"", coord(540.0 / 22.0))),
            "{svg}"
        );
    }

    #[test]
    fn empty_or_unusable_input_says_no_data() {
        let svg = scatter_map("empty", ["a", "b"], &[], &[]);
        check_well_formed(&svg).unwrap();
        assert!(svg.contains(">no data</text>"));
        let svg = scatter_map("nan", ["a", "b"], &[point(f64::NAN, 1.0, "g", "x")], &[]);
        check_well_formed(&svg).unwrap();
        assert!(svg.contains(">no data</text>") && svg.contains("1 of the points and circles"));
    }
}
