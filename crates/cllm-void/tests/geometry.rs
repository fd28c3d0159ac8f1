//! Properties of the void geometry: empty balls, monotone hill climbing, planted holes,
//! and the null test on structureless data.

use cllm_void::{
    find_voids_in_points, hill_climb, search_empty_balls, uniform_cube, BallSearchOptions,
    EmptyBall, IndexKind, KnnIndex, PlantedHole, PointSet, VoidSearchOptions,
};
use proptest::prelude::*;

fn brute_min_distance(points: &PointSet, c: &[f32]) -> f32 {
    points
        .rows()
        .map(|p| {
            p.iter()
                .zip(c)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f32>()
                .sqrt()
        })
        .fold(f32::INFINITY, f32::min)
}

fn small_search(seed: u64) -> BallSearchOptions {
    BallSearchOptions {
        candidates: 300,
        climbers: 16,
        seed,
        ..Default::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// No data point lies strictly inside any reported ball (float tolerance 1e-4 relative).
    #[test]
    fn every_reported_ball_is_empty(
        dim in 2usize..7,
        n in 40usize..160,
        seed in 0u64..1000,
        brute in any::<bool>(),
    ) {
        let points = uniform_cube(n, dim, seed).unwrap();
        let kind = if brute { IndexKind::BruteForce } else { IndexKind::KdTree };
        let idx = KnnIndex::build(points.clone(), kind).unwrap();
        let balls = search_empty_balls(&idx, &small_search(seed)).unwrap();
        for b in &balls {
            let nearest = brute_min_distance(&points, &b.centre);
            prop_assert!(nearest >= b.radius * (1.0 - 1e-4), "point at {nearest} inside ball of radius {}", b.radius);
            prop_assert!(idx.count_within(&b.centre, b.radius * (1.0 - 1e-4)).unwrap() == 0);
            prop_assert!(b.imbalance <= 0.2);
        }
    }

    /// Hill climbing never returns a smaller radius than its start.
    #[test]
    fn hill_climbing_never_shrinks(
        dim in 2usize..9,
        seed in 0u64..1000,
        start in proptest::collection::vec(0.0f32..1.0, 8),
    ) {
        let points = uniform_cube(120, dim, seed).unwrap();
        let idx = KnnIndex::build(points, IndexKind::Auto).unwrap();
        let opts = BallSearchOptions::default();
        let c = &start[..dim];
        let before = EmptyBall::at(&idx, c, 1, 0.0).unwrap().radius;
        let after = hill_climb(&idx, c, &opts).unwrap();
        prop_assert!(after.radius >= before, "{} < {before}", after.radius);
    }
}

fn assert_planted_hole_found_first(dim: usize, n: usize, seeds: std::ops::Range<u64>) {
    for seed in seeds {
        let data = PlantedHole::new(n, dim).with_seed(seed).generate().unwrap();
        let mut opts = VoidSearchOptions::default();
        opts.search.seed = seed;
        opts.search.candidates = 1500;
        opts.search.climbers = 32;
        opts.null.runs = 19;
        opts.progress = false;
        let report = find_voids_in_points(data.points, None, &opts).unwrap();
        let top = &report.zones[0];
        let off = top
            .zone
            .centre
            .iter()
            .zip(&data.hole_centre)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f32>()
            .sqrt();
        assert!(
            off < 0.5 * data.hole_radius,
            "dim {dim} seed {seed}: top zone {off} from the planted centre\n{report}"
        );
        assert!(
            (top.zone.radius - data.hole_radius).abs() < 0.2 * data.hole_radius,
            "dim {dim} seed {seed}: radius {} vs planted {}",
            top.zone.radius,
            data.hole_radius
        );
        assert!(
            top.significance.as_ref().unwrap().significant,
            "dim {dim} seed {seed}: planted hole not significant\n{report}"
        );
    }
}

#[test]
fn planted_hole_in_2d_is_found_and_ranked_first() {
    assert_planted_hole_found_first(2, 800, 0..3);
}

#[test]
fn planted_hole_in_8d_is_found_and_ranked_first() {
    assert_planted_hole_found_first(8, 1000, 0..2);
}

#[test]
fn planted_hole_in_16d_is_found_and_ranked_first() {
    assert_planted_hole_found_first(16, 1000, 0..2);
}

/// On uniform data (no structure) the null test flags a zone in at most 5% of seeds.
#[test]
fn null_test_finds_no_zone_on_uniform_data() {
    let seeds = 40u64;
    let mut false_zones = 0;
    let mut top_p = Vec::new();
    for seed in 0..seeds {
        let dim = [2usize, 4, 8][seed as usize % 3];
        let points = uniform_cube(300, dim, 10_000 + seed).unwrap();
        let mut opts = VoidSearchOptions {
            search: small_search(seed),
            progress: false,
            ..Default::default()
        };
        opts.null.runs = 19;
        let report = find_voids_in_points(points, None, &opts).unwrap();
        if report.significant_zones().next().is_some() {
            false_zones += 1;
        }
        top_p.push(
            report
                .zones
                .first()
                .and_then(|z| z.significance.as_ref())
                .map_or(1.0, |s| s.p_value),
        );
    }
    let rate = false_zones as f64 / seeds as f64;
    eprintln!("false-zone rate on uniform data: {false_zones}/{seeds}");
    assert!(
        rate <= 0.05,
        "false-zone rate {rate} ({false_zones}/{seeds}); top p-values {top_p:?}"
    );
}

/// Balls, zones and points of another point set are refused with a typed error, never
/// compared over the shorter dimension (`zip`) or indexed out of range.
#[test]
fn geometry_of_another_point_set_is_a_typed_error() {
    use cllm_void::{imbalance, merge_into_zones, PointSampler, VoidError};
    let points = PointSet::new(2, vec![0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0]).unwrap();
    let index = KnnIndex::build(points.clone(), IndexKind::Auto).unwrap();
    let ball = EmptyBall::at(&index, &[0.5, 0.5], 3, 0.01).unwrap();
    assert_eq!(
        merge_into_zones(&index, vec![ball.clone()], 1)
            .unwrap()
            .len(),
        1
    );

    let mut wide = ball.clone();
    wide.centre.push(0.5);
    assert!(matches!(
        merge_into_zones(&index, vec![ball.clone(), wide], 1),
        Err(VoidError::DimMismatch {
            expected: 2,
            got: 3
        })
    ));
    let mut far = ball.clone();
    far.touching.push(99);
    assert!(matches!(
        merge_into_zones(&index, vec![far], 1),
        Err(VoidError::InvalidInput(_))
    ));
    let mut nan = ball.clone();
    nan.centre[0] = f32::NAN;
    assert!(matches!(
        merge_into_zones(&index, vec![nan], 1),
        Err(VoidError::NonFinite { .. })
    ));

    let zone = merge_into_zones(&index, vec![ball], 1).unwrap().remove(0);
    let mut sampler = PointSampler::new(0);
    assert!(sampler.between_nearest(&zone, &points).is_ok());
    let three = PointSet::new(3, vec![0.0; 12]).unwrap();
    assert!(matches!(
        sampler.between_nearest(&zone, &three),
        Err(VoidError::DimMismatch {
            expected: 3,
            got: 2
        })
    ));
    let fewer = PointSet::new(2, vec![0.0, 0.0, 1.0, 0.0]).unwrap();
    assert!(matches!(
        sampler.between_nearest(&zone, &fewer),
        Err(VoidError::InvalidInput(_))
    ));

    let short = [[1.0f32]];
    assert!(matches!(
        imbalance(&[0.0, 0.0], short.iter().map(|p| &p[..])),
        Err(VoidError::DimMismatch {
            expected: 2,
            got: 1
        })
    ));
}
