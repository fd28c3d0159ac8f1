//! Step 7: the report a researcher reads. Into the experiment's folder:
//! `report.json` (every number, and the map's data), `report.md` (tables and decodes beside
//! their originals), `map.svg` (PCA of CLLM1's space: training texts, validation, the
//! family, zone balls), `auroc.svg` (void-score AUROC with 95% intervals), `training.svg`
//! (CLLM1's loss and batch accuracy) and `report.html` (all of it, self-contained, with an
//! interactive map).

use std::fmt::Write as _;
use std::path::Path;

use cllm_autoencoder::TrainReport;
use cllm_void::VoidReport;
use serde_json::json;

use super::readings::{CrossDecoding, ReadingResult};
use super::split::{Space, Split};
use super::{ExperimentReport, CLLM1};
use crate::error::{EvalError, Result};
use crate::metrics::Interval;
use crate::plot::{
    interval_bars, line_chart, scatter_map, IntervalBar, MapCircle, MapPoint, Series,
};
use crate::projection::Pca2;
use crate::report_page::{
    html_page, Block, InteractiveMap, InteractivePoint, InteractiveZone, Section, Table, ZoneSample,
};
use crate::sources::Provenance;
use cllm_core::safe_text::markdown_cell;

/// Training texts drawn on the map (a seeded sample; all of them would hide the rest).
const MAP_TRAINING_POINTS: usize = 800;

/// Writes every file of the report into `out_dir`.
pub fn write(
    report: &ExperimentReport,
    split: &Split,
    space: &Space,
    zones: &VoidReport,
    out_dir: &Path,
) -> Result<()> {
    let map = latent_map(report, split, space, zones)?;
    let figures = [
        ("map.svg", map.svg.clone()),
        ("auroc.svg", auroc_figure(report)),
        ("training.svg", training_figure(out_dir)),
    ];
    let mut data =
        serde_json::to_value(report).map_err(|e| EvalError::InvalidInput(e.to_string()))?;
    data["map"] = serde_json::to_value(&map.interactive)
        .map_err(|e| EvalError::InvalidInput(e.to_string()))?;
    data["map_axes"] = json!(map.axes);
    let sections = html_sections(report, &figures);
    let page = html_page(&title(report), &sections, &data)?;
    let json =
        serde_json::to_string_pretty(&data).map_err(|e| EvalError::InvalidInput(e.to_string()))?;
    let md = markdown(report);
    let mut set: Vec<(&str, &[u8])> = vec![
        ("report.json", json.as_bytes()),
        ("report.md", md.as_bytes()),
        ("report.html", page.as_bytes()),
    ];
    set.extend(figures.iter().map(|(name, svg)| (*name, svg.as_bytes())));
    save_set(out_dir, &set)
}

/// Writes files that belong together as one set ([`cllm_core::write_atomic_set`]).
pub(crate) fn save_set(dir: &Path, files: &[(&str, &[u8])]) -> Result<()> {
    cllm_core::write_atomic_set(dir, files).map_err(|e| EvalError::Io {
        path: dir.to_path_buf(),
        source: e,
    })
}

fn title(r: &ExperimentReport) -> String {
    format!(
        "cllm experiment: {} held out (k = {})",
        r.options.family, r.options.cllm1.model.k
    )
}

pub(crate) fn interval(i: &Interval) -> String {
    format!("{:.3} [{:.3}, {:.3}]", i.estimate, i.low, i.high)
}

fn number(x: Option<f64>) -> String {
    x.map_or("-".into(), |v| format!("{v:.3}"))
}

fn optional(i: &Option<Interval>) -> String {
    i.as_ref().map_or("-".into(), interval)
}

/// The tables of the report: (title, header, rows).
fn tables(r: &ExperimentReport) -> Vec<Table> {
    let cllm1 = Table {
        title: "CLLM1: reconstruction per split (free-running: greedy, no repeated trigram)".into(),
        header: [
            "split",
            "texts",
            "token acc",
            "exact",
            "free token acc",
            "free word F1",
            "nearest training text's F1",
        ]
        .map(String::from)
        .to_vec(),
        rows: r
            .cllm1
            .splits
            .iter()
            .map(|s| {
                vec![
                    s.name.clone(),
                    s.report.texts.to_string(),
                    format!("{:.3}", s.report.token_accuracy),
                    format!("{:.3}", s.report.exact_text_rate),
                    format!("{:.3}", s.free_running.token_accuracy),
                    s.free_running
                        .word_f1
                        .map_or("-".into(), |f| format!("{f:.3}")),
                    s.free_running
                        .nearest_training_word_f1
                        .map_or("-".into(), |f| format!("{f:.3}")),
                ]
            })
            .collect(),
    };
    let separation = Table {
        title: format!(
            "Void-score AUROC, {} vs validation (95% bootstrap interval)",
            r.options.family
        ),
        header: [
            "space",
            "dim",
            "AUROC [95%] (default: euclidean k=10)",
            "within each source",
            "best of 9 scores (picked after the fact)",
        ]
        .map(String::from)
        .to_vec(),
        rows: r
            .separation
            .iter()
            .map(|s| {
                let within: Vec<String> = s
                    .within_source
                    .iter()
                    .map(|w| {
                        format!(
                            "{} ({} vs {}): {}",
                            w.source,
                            w.family_texts,
                            w.val_texts,
                            interval(&w.auroc)
                        )
                    })
                    .collect();
                vec![
                    s.space.clone(),
                    s.dim.to_string(),
                    interval(&s.auroc),
                    if within.is_empty() {
                        "-".into()
                    } else {
                        within.join("; ")
                    },
                    s.best().map_or("-".into(), |b| {
                        format!("{}: {}", b.score.name(), interval(&b.auroc))
                    }),
                ]
            })
            .collect(),
    };
    let readings = Table {
        title: "Readings: where the codes lie, and what CLLM1's decoder makes of them".into(),
        header: [
            "codes",
            "n",
            "in a zone",
            "in a significant zone",
            "void AUROC vs val",
            "P(family) by content [95%]",
            "realism: two-sample AUROC",
            "decodes named as family",
            "originals named as family",
            "distinct decodes",
            "word F1",
            "token acc",
        ]
        .map(String::from)
        .to_vec(),
        rows: r.readings.iter().map(reading_row).collect(),
    };
    let discovery = Table {
        title: "Discovery: samples decoded by CLLM1".into(),
        header: [
            "source",
            "samples",
            "P(family) by content [95%]",
            "realism: two-sample AUROC",
            "named as family",
            "distinct decodes",
            "F1 to nearest training text",
        ]
        .map(String::from)
        .to_vec(),
        rows: r
            .discovery
            .sources
            .iter()
            .map(|s| {
                vec![
                    s.source.clone(),
                    s.samples.to_string(),
                    optional(&s.family_likeness),
                    number(s.two_sample_auroc),
                    optional(&s.reads_as_family),
                    format!("{:.3}", s.distinct_decodes),
                    format!("{:.3}", s.nearest_training_f1),
                ]
            })
            .collect(),
    };
    let mut tables = vec![cllm1];
    tables.extend(code_shape_table(r));
    tables.push(separation);
    tables.extend(scores_table(r));
    tables.extend(likeness_table(r));
    tables.push(readings);
    tables.extend(guided_table(r));
    tables.push(discovery);
    tables.extend(zone_table(r));
    tables
}

/// The shape of CLLM1's training codes and what their first direction separates.
fn code_shape_table(r: &ExperimentReport) -> Option<Table> {
    let c = r.cllm1.code_shape.as_ref()?;
    let s = &c.shape;
    let mut rows = vec![
        vec![
            "participation ratio (Σλ)²/Σλ²".into(),
            format!("{:.1} of {}", s.participation_ratio, s.dim),
        ],
        vec![
            "directions holding 90% of the variance".into(),
            s.directions_90.to_string(),
        ],
        vec![
            "first direction's share of the variance".into(),
            format!("{:.1}%", 100.0 * s.first_direction_share),
        ],
        vec![
            "mean |correlation| between coordinates".into(),
            format!("{:.3}", s.mean_abs_correlation),
        ],
    ];
    rows.extend(c.first_direction.iter().map(|d| {
        vec![
            format!(
                "first direction, AUROC of {} vs the rest ({} vs {})",
                d.group, d.texts, d.rest
            ),
            format!("{:.3}", d.auroc),
        ]
    }));
    Some(Table {
        title: format!(
            "CLLM1's training codes: their shape ({} codes of the training texts)",
            s.codes
        ),
        header: ["measure", "value"].map(String::from).to_vec(),
        rows,
    })
}

/// The readings decoded again under the base LLM's guidance.
fn guided_table(r: &ExperimentReport) -> Option<Table> {
    let lambda = r
        .readings
        .iter()
        .find_map(|x| x.cross_decoding.guided.as_ref())?
        .lm_weight;
    Some(Table {
        title: format!("Readings decoded under SmolLM2's guidance (λ = {lambda})"),
        header: [
            "codes",
            "P(family) by content [95%]",
            "realism: two-sample AUROC",
            "decodes named as family",
            "distinct decodes",
            "word F1",
        ]
        .map(String::from)
        .to_vec(),
        rows: r
            .readings
            .iter()
            .filter_map(|x| {
                let g = x.cross_decoding.guided.as_ref()?;
                Some(vec![
                    x.description.clone(),
                    optional(&g.family_likeness),
                    number(g.two_sample_auroc),
                    optional(&g.reads_as_family),
                    format!("{:.3}", g.distinct_decodes),
                    format!("{:.3}", g.word_f1),
                ])
            })
            .collect(),
    })
}

/// The family's void AUROC under every score, one column per space.
fn scores_table(r: &ExperimentReport) -> Option<Table> {
    let first = r.separation.first()?;
    if first.scores.is_empty() {
        return None;
    }
    let mut header = vec!["void score".to_string()];
    header.extend(r.separation.iter().map(|s| s.space.clone()));
    let rows = first
        .scores
        .iter()
        .map(|sc| {
            let mut row = vec![sc.score.name()];
            row.extend(r.separation.iter().map(|s| {
                s.scores
                    .iter()
                    .find(|x| x.score == sc.score)
                    .map_or("-".into(), |x| interval(&x.auroc))
            }));
            row
        })
        .collect();
    Some(Table {
        title: format!(
            "Void AUROC, {} vs validation, under every score (the default is euclidean k=10)",
            r.options.family
        ),
        header,
        rows,
    })
}

/// The content-based family scorer on real texts.
fn likeness_table(r: &ExperimentReport) -> Option<Table> {
    let l = r.family_likeness.as_ref()?;
    let cv = &l.cross_validated;
    Some(Table {
        title: format!(
            "Content-based family scorer (logistic regression on {} words, every family's name words masked; evaluation only)",
            l.features
        ),
        header: ["measure", "value"].map(String::from).to_vec(),
        rows: vec![
            vec![
                format!(
                    "cross-validated AUROC, {} vs the rest ({} of {} texts)",
                    cv.family, cv.family_texts, cv.texts
                ),
                format!("{:.3}", cv.auroc),
            ],
            vec![
                format!("mean P({}) of the real {} texts (out of fold): the ceiling", cv.family, cv.family),
                interval(&l.family_texts),
            ],
            vec![
                "mean P(family) of real validation texts (out of fold)".into(),
                interval(&l.validation_texts),
            ],
        ],
    })
}

/// What borders each zone.
fn zone_table(r: &ExperimentReport) -> Option<Table> {
    if r.zones.composition.is_empty() {
        return None;
    }
    let counts = |v: &[(String, usize)]| -> String {
        v.iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Some(Table {
        title: "Void zones: the training texts that bound them".into(),
        header: [
            "zone",
            "bounding texts",
            "by source",
            "by family",
            "the gap between sources?",
        ]
        .map(String::from)
        .to_vec(),
        rows: r
            .zones
            .composition
            .iter()
            .map(|z| {
                vec![
                    z.rank.to_string(),
                    z.bounding.to_string(),
                    counts(&z.sources),
                    counts(&z.families),
                    if z.between_sources { "yes" } else { "no" }.into(),
                ]
            })
            .collect(),
    })
}

fn reading_row(x: &ReadingResult) -> Vec<String> {
    let m = &x.membership;
    let c: &CrossDecoding = &x.cross_decoding;
    vec![
        x.description.clone(),
        m.codes.to_string(),
        interval(&m.in_zone),
        interval(&m.in_significant_zone),
        interval(&m.void_auroc),
        optional(&c.family_likeness),
        number(c.two_sample_auroc),
        optional(&c.reads_as_family),
        c.originals_read_as_family
            .map_or("-".into(), |r| format!("{r:.3}")),
        format!("{:.3}", c.distinct_decodes),
        format!("{:.3}", c.word_f1),
        format!("{:.3}", c.token_accuracy),
    ]
}

/// One reading's mean P(family) against the floor's, in words.
fn against_floor(what: &str, fam: &str, p: &Interval, floor: &Interval) -> String {
    format!(
        "{what}: decodes score P({fam}) {} against {} for the decodes of validation codes: {}.",
        interval(p),
        interval(floor),
        if p.low > floor.high {
            "above the floor (intervals apart)"
        } else if p.high < floor.low {
            "below the floor (intervals apart)"
        } else {
            "not shown above the floor (intervals overlap)"
        }
    )
}

/// What the numbers say of the method's claims, in plain words.
fn findings(r: &ExperimentReport) -> Vec<String> {
    let mut out = Vec::new();
    let fam = &r.options.family;
    if let Some(c) = &r.cllm1.code_shape {
        let s = &c.shape;
        let strongest = c
            .first_direction
            .iter()
            .max_by(|a, b| a.auroc.total_cmp(&b.auroc));
        out.push(format!(
            "Code shape: CLLM1's training codes use {:.1} of {} directions (participation ratio; {} hold 90% of the variance, the first {:.0}%), mean |correlation| {:.2}.{}",
            s.participation_ratio,
            s.dim,
            s.directions_90,
            100.0 * s.first_direction_share,
            s.mean_abs_correlation,
            strongest.map_or(String::new(), |d| format!(
                " The first direction separates {} best (AUROC {:.2}).",
                d.group, d.auroc
            ))
        ));
    }
    let gaps: Vec<String> = r
        .zones
        .composition
        .iter()
        .filter(|z| z.between_sources)
        .map(|z| z.rank.to_string())
        .collect();
    if !gaps.is_empty() {
        out.push(format!(
            "Zone(s) {} lie in the gap between sources (their bounding texts come from two sources in comparable shares): a difference of writing style, not unseen content.",
            gaps.join(", ")
        ));
    }
    if let Some(l) = &r.family_likeness {
        let floor = r
            .readings
            .iter()
            .find(|x| x.reading == super::Reading::ValidationTexts)
            .and_then(|x| x.cross_decoding.family_likeness.clone());
        out.push(format!(
            "Content, not names: the masked scorer tells real {fam} texts from the rest with cross-validated AUROC {:.3}; real {fam} texts score P = {:.3}, real validation texts {:.3}.",
            l.cross_validated.auroc, l.family_texts.estimate, l.validation_texts.estimate
        ));
        let guided_floor = r
            .readings
            .iter()
            .find(|x| x.reading == super::Reading::ValidationTexts)
            .and_then(|x| x.cross_decoding.guided.as_ref())
            .and_then(|g| g.family_likeness.clone());
        let others = || {
            r.readings
                .iter()
                .filter(|x| x.reading != super::Reading::ValidationTexts)
        };
        if let Some(floor) = floor {
            for x in others() {
                if let Some(p) = &x.cross_decoding.family_likeness {
                    out.push(against_floor(&x.description, fam, p, &floor));
                }
            }
        }
        if let Some(floor) = guided_floor {
            for x in others() {
                let guided = x.cross_decoding.guided.as_ref();
                if let Some((p, g)) =
                    guided.and_then(|g| g.family_likeness.as_ref().map(|p| (p, g)))
                {
                    let what = format!("{}, guided (λ = {})", x.description, g.lm_weight);
                    out.push(against_floor(&what, fam, p, &floor));
                }
            }
        }
    }
    if let [cllm, baselines @ ..] = r.separation.as_slice() {
        let a = &cllm.auroc;
        for base in baselines {
            let b = &base.auroc;
            out.push(format!(
                "Void score: {fam} vs validation AUROC {:.3} [{:.3}, {:.3}] in CLLM1's space, {:.3} [{:.3}, {:.3}] in the baseline space of {}: {}.",
                a.estimate, a.low, a.high, b.estimate, b.low, b.high, base.space,
                if a.low > b.high {
                    "the CLLM separates the family better than this baseline (intervals apart)"
                } else if a.high < b.low {
                    "this baseline separates the family better than the CLLM (intervals apart)"
                } else {
                    "the intervals overlap: no difference shown"
                }
            ));
        }
        out.push(format!(
            "The family {} in CLLM1's voids (AUROC {} 0.5 at 95%).",
            if a.low > 0.5 { "lies farther from the training data than validation texts do: consistent with falling" } else { "is not shown to lie" },
            if a.low > 0.5 { "above" } else { "not above" }
        ));
    }
    if let Some(own) = r
        .readings
        .iter()
        .find(|x| x.reading == super::Reading::Cllm1)
    {
        let d = own.cross_decoding.distinct_decodes;
        if d < 0.5 {
            out.push(format!(
                "Posterior collapse: CLLM1's decoder turns the family's {} codes into only {:.0}% distinct texts; the decodes carry the corpus's average text, not the code's content, so no reading below can read as the family.",
                own.membership.codes,
                100.0 * d
            ));
        }
    }
    let zone_rate = |x: &ReadingResult| x.membership.in_zone.estimate;
    if let (Some(own), Some(val)) = (
        r.readings
            .iter()
            .find(|x| x.reading == super::Reading::Cllm1),
        r.readings
            .iter()
            .find(|x| x.reading == super::Reading::ValidationTexts),
    ) {
        out.push(format!(
            "Zone membership: {:.1}% of the family's CLLM1 codes lie inside a zone ball, {:.1}% of validation codes; {} zones kept, {} significant.",
            100.0 * zone_rate(own),
            100.0 * zone_rate(val),
            r.zones.kept,
            r.zones.significant
        ));
    }
    for x in &r.readings {
        if let Some(rate) = &x.cross_decoding.reads_as_family {
            out.push(format!(
                "{}: {:.1}% of decodes read as {fam} (word F1 {:.3}).",
                x.description,
                100.0 * rate.estimate,
                x.cross_decoding.word_f1
            ));
        }
    }
    if let Some(voids) = r.discovery.sources.iter().find(|s| s.source == "voids") {
        let others: Vec<String> = r
            .discovery
            .sources
            .iter()
            .filter(|s| s.source != "voids")
            .filter_map(|s| {
                s.reads_as_family
                    .as_ref()
                    .map(|i| format!("{} {:.1}%", s.source, 100.0 * i.estimate))
            })
            .collect();
        if let Some(v) = &voids.reads_as_family {
            out.push(format!(
                "Discovery: {:.1}% of void samples decode to a {fam} text, against {}.",
                100.0 * v.estimate,
                others.join(", ")
            ));
        }
    }
    out
}

fn markdown(r: &ExperimentReport) -> String {
    let mut md = format!("# {}\n\n", title(r));
    let o = &r.options;
    let _ = writeln!(
        md,
        "CLLM1: {} decoder, k = {}, {} steps ({:.2} epochs) in {:.0} s; {} training texts, {} validation and {} {} texts scored ({} in the corpus, none in CLLM1's training). Experiment wall time {:.0} s. Seed {}.\n",
        if o.cllm1.model.is_autoregressive() { "autoregressive" } else { "mirror" },
        o.cllm1.model.k,
        r.cllm1.steps,
        r.cllm1.epochs,
        r.cllm1.wall_s,
        r.split.train,
        r.split.val,
        r.split.family,
        o.family,
        r.split.family_in_corpus,
        r.wall_s,
        o.seed
    );
    md.push_str("## Findings\n\n");
    for f in findings(r) {
        let _ = writeln!(md, "- {f}");
    }
    md.push('\n');
    for t in tables(r) {
        let _ = writeln!(md, "## {}\n", t.title);
        let _ = writeln!(md, "| {} |", t.header.join(" | "));
        let _ = writeln!(md, "|{}", "---|".repeat(t.header.len()));
        for row in &t.rows {
            let cells: Vec<String> = row.iter().map(|c| markdown_cell(c)).collect();
            let _ = writeln!(md, "| {} |", cells.join(" | "));
        }
        md.push('\n');
    }
    let _ = writeln!(
        md,
        "Zones: {} found in {} training vectors, {} kept, {} significant against the null.\n",
        r.zones.found, r.zones.points, r.zones.kept, r.zones.significant
    );
    md.push_str("## Decodes beside their originals\n\n");
    for x in &r.readings {
        let _ = writeln!(md, "### {} — {}\n", x.description, x.note);
        for e in x.cross_decoding.examples.iter().take(3) {
            let _ = writeln!(
                md,
                "- **{}**\n  - original: `{}`\n  - decoded: `{}`",
                markdown_cell(&e.title),
                one_line(&e.original),
                one_line(&e.decoded)
            );
        }
        md.push('\n');
    }
    md.push_str("## Samples from the top void zones\n\n");
    if let Some(v) = r.discovery.sources.iter().find(|s| s.source == "voids") {
        for d in v.decodes.iter().take(8) {
            let _ = writeln!(
                md,
                "- {} (nearest training text {} at word F1 {:.2}{}): `{}`",
                provenance(&d.provenance),
                d.nearest_training.0,
                d.nearest_training.1,
                if d.reads_as_family {
                    ", reads as the family"
                } else {
                    ""
                },
                one_line(&d.text)
            );
        }
    }
    // Titles and texts come from an untrusted corpus: nothing unsafe reaches the file.
    cllm_core::safe_text::printable(&md)
}

/// A text on one line inside backticks: nothing unsafe, no backtick to close the span.
fn one_line(s: &str) -> String {
    cllm_core::safe_text::one_line(s).replace('`', "'")
}

fn provenance(p: &Provenance) -> String {
    match p {
        Provenance::ZoneCentre { zone } => format!("centre of zone {zone}"),
        Provenance::InZone { zone } => format!("inside zone {zone}"),
        Provenance::Near { of } => format!("near {of}"),
        Provenance::Midpoint { of } => format!("midpoint of {} and {}", of[0], of[1]),
        Provenance::Gaussian => "Gaussian draw".into(),
    }
}

/// The map: PCA of the training codes; the static SVG and the interactive data.
struct LatentMap {
    svg: String,
    interactive: InteractiveMap,
    axes: [String; 2],
}

fn latent_map(
    r: &ExperimentReport,
    split: &Split,
    space: &Space,
    zones: &VoidReport,
) -> Result<LatentMap> {
    let pca = Pca2::fit(&space.train)?;
    let ratio = pca.explained_variance_ratio();
    let axes = [
        format!("PC 1 ({:.0}% of the variance)", 100.0 * ratio[0]),
        format!("PC 2 ({:.0}%)", 100.0 * ratio[1]),
    ];
    let mut points = Vec::new();
    let shown = super::split::sample(
        &(0..space.train.len()).collect::<Vec<_>>(),
        MAP_TRAINING_POINTS,
        r.options.seed,
    );
    for i in shown {
        let [x, y] = pca.project(&space.train[i])?;
        points.push(InteractivePoint {
            x,
            y,
            group: "training".into(),
            title: split.train.titles[i].clone(),
            original: None,
            decoded: None,
        });
    }
    let decodes = |reading| {
        r.readings
            .iter()
            .find(|x| x.reading == reading)
            .map(|x| x.cross_decoding.examples.clone())
            .unwrap_or_default()
    };
    for (group, codes, part, decoded) in [
        (
            "validation",
            &space.val,
            &split.val,
            decodes(super::Reading::ValidationTexts),
        ),
        (
            r.options.family.as_str(),
            &space.family,
            &split.family,
            decodes(super::Reading::Cllm1),
        ),
    ] {
        for (i, c) in codes.iter().enumerate() {
            let [x, y] = pca.project(c)?;
            points.push(InteractivePoint {
                x,
                y,
                group: group.into(),
                title: part.titles[i].clone(),
                original: decoded.get(i).map(|e| e.original.clone()),
                decoded: decoded.get(i).map(|e| e.decoded.clone()),
            });
        }
    }
    let voids = r.discovery.sources.iter().find(|s| s.source == "voids");
    let mut interactive_zones = Vec::new();
    for z in &zones.zones {
        let [x, y] = pca.project(&z.zone.centre)?;
        let mut samples = Vec::new();
        for d in voids.into_iter().flat_map(|v| &v.decodes) {
            if matches!(d.provenance, Provenance::ZoneCentre { zone } | Provenance::InZone { zone } if zone == z.rank)
            {
                let [sx, sy] = pca.project(&d.vector)?;
                samples.push(ZoneSample {
                    x: sx,
                    y: sy,
                    decoded: d.text.clone(),
                });
            }
        }
        interactive_zones.push(InteractiveZone {
            x,
            y,
            r: f64::from(z.zone.radius),
            label: format!(
                "zone {} (relative radius {:.2}{})",
                z.rank,
                z.zone.relative_radius,
                z.significance
                    .as_ref()
                    .map_or(String::new(), |s| format!(", p = {:.2}", s.p_value))
            ),
            samples,
        });
    }
    let svg = scatter_map(
        &format!(
            "CLLM1's space: training texts, validation, {} and void zones",
            r.options.family
        ),
        [&axes[0], &axes[1]],
        &points
            .iter()
            .map(|p| MapPoint {
                x: p.x,
                y: p.y,
                group: p.group.clone(),
                label: p.title.clone(),
            })
            .collect::<Vec<_>>(),
        &interactive_zones
            .iter()
            .map(|z| MapCircle {
                x: z.x,
                y: z.y,
                r: z.r,
                label: z.label.clone(),
            })
            .collect::<Vec<_>>(),
    );
    Ok(LatentMap {
        svg,
        interactive: InteractiveMap {
            points,
            zones: interactive_zones,
        },
        axes,
    })
}

fn auroc_figure(r: &ExperimentReport) -> String {
    let bar = |label: String, i: &Interval| IntervalBar {
        label,
        value: i.estimate,
        low: i.low,
        high: i.high,
    };
    let mut bars: Vec<IntervalBar> = r
        .separation
        .iter()
        .map(|s| bar(s.space.clone(), &s.auroc))
        .collect();
    bars.extend(
        r.readings
            .iter()
            .filter(|x| {
                x.reading != super::Reading::ValidationTexts && x.reading != super::Reading::Cllm1
            })
            .map(|x| bar(x.description.clone(), &x.membership.void_auroc)),
    );
    interval_bars(
        &format!(
            "Void-score AUROC, {} vs validation (95% bootstrap intervals)",
            r.options.family
        ),
        "AUROC",
        &bars,
        Some(0.5),
    )
}

fn training_figure(out_dir: &Path) -> String {
    let path = out_dir.join(CLLM1).join("report.json");
    let report: Option<TrainReport> = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let series = match report {
        Some(t) => vec![
            Series {
                name: "loss".into(),
                points: t
                    .state
                    .history
                    .iter()
                    .map(|h| (h.step as f64, f64::from(h.loss)))
                    .collect(),
            },
            Series {
                name: "batch token accuracy × 10".into(),
                points: t
                    .state
                    .history
                    .iter()
                    .map(|h| (h.step as f64, 10.0 * f64::from(h.batch_token_accuracy)))
                    .collect(),
            },
        ],
        None => Vec::new(),
    };
    line_chart("CLLM1's training", "step", "loss; accuracy × 10", &series)
}

fn html_sections(r: &ExperimentReport, figures: &[(&str, String); 3]) -> Vec<Section> {
    let tables = tables(r);
    let figure = |i: usize, caption: &str| Block::Figure {
        caption: caption.into(),
        svg: figures[i].1.clone(),
    };
    let mut decodes = Vec::new();
    for x in &r.readings {
        decodes.push(Block::Table(Table {
            title: format!("{} — {}", x.description, x.note),
            header: ["title", "original", "decoded"].map(String::from).to_vec(),
            rows: x
                .cross_decoding
                .examples
                .iter()
                .take(5)
                .map(|e| vec![e.title.clone(), e.original.clone(), e.decoded.clone()])
                .collect(),
        }));
    }
    vec![
        Section {
            heading: "Findings".into(),
            blocks: findings(r).into_iter().map(Block::Paragraph).collect(),
        },
        Section {
            heading: "CLLM1's space".into(),
            blocks: vec![
                Block::Paragraph("Circles: the largest ball of each kept void zone (a ball projects to a disk of the same radius); PCA of CLLM1's training codes.".into()),
                Block::InteractiveMap,
                figure(0, "The same map as a static figure."),
            ],
        },
        Section {
            heading: "Void membership".into(),
            blocks: vec![
                Block::Table(tables[1].clone()),
                figure(1, "Void-score AUROC with 95% bootstrap intervals; dashed: chance."),
                Block::Table(tables[2].clone()),
            ],
        },
        Section { heading: "Decodes beside their originals".into(), blocks: decodes },
        Section { heading: "Discovery".into(), blocks: vec![Block::Table(tables[3].clone())] },
        Section {
            heading: "CLLM1".into(),
            blocks: vec![Block::Table(tables[0].clone()), figure(2, "Loss and batch token accuracy per step.")],
        },
    ]
}
