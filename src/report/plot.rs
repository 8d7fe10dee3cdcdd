//! The accuracy-versus-prune-ratio figure, as SVG (text is drawn by the viewer, so no font files
//! are needed to make it).

use std::path::Path;

use plotters::prelude::*;

use super::{MainRow, mean_std};

const PALETTE: [RGBColor; 8] = [
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// A point of a method's line: prune ratio (%), mean accuracy (%), std (%).
type Point = (f64, f64, f64);

/// The accuracy figures of an experiment's rows in `dir`: `accuracy.svg` for a single
/// network; `accuracy-<network>.svg` per network (its own subsets) for several.
pub fn accuracy_figures(rows: &[MainRow], experiment: &str, dir: &Path) -> anyhow::Result<()> {
    let archs = super::archs(rows);
    let figures: Vec<(String, String, Vec<MainRow>)> = match archs.len() {
        0 | 1 => vec![(
            "accuracy.svg".into(),
            format!("{experiment}: test accuracy after pruning"),
            rows.to_vec(),
        )],
        _ => archs
            .iter()
            .map(|a| {
                (
                    format!("accuracy-{a}.svg"),
                    format!("{experiment}, {a}: test accuracy after pruning"),
                    rows.iter()
                        .filter(|r| r.arch == *a && r.source() == a)
                        .cloned()
                        .collect(),
                )
            })
            .collect(),
    };
    for (file, title, rows) in figures {
        let path = dir.join(file);
        accuracy_svg(&rows, &title, &path)
            .map_err(|e| anyhow::anyhow!("drawing {}: {e}", path.display()))?;
    }
    Ok(())
}

/// One line per method: mean test accuracy (%) against prune ratio (%), with ± std error bars
/// over seeds, and the full-data mean as a grey band of ± one std.
pub fn accuracy_svg(rows: &[MainRow], title: &str, path: &Path) -> Result<(), String> {
    let methods = super::pruning_methods(rows);
    let series: Vec<(&str, Vec<Point>)> = methods
        .iter()
        .map(|&m| {
            let points = super::prune_ratios(rows, Some(m))
                .into_iter()
                .map(|p| {
                    let acc: Vec<f64> = rows
                        .iter()
                        .filter(|r| r.method == m && r.prune_ratio == p)
                        .map(|r| 100.0 * r.test_acc)
                        .collect();
                    let (mean, std) = mean_std(&acc);
                    (100.0 * p, mean, std)
                })
                .collect();
            (m, points)
        })
        .collect();
    let full: Vec<f64> = rows
        .iter()
        .filter(|r| r.method == "full")
        .map(|r| 100.0 * r.test_acc)
        .collect();
    let all_y = series
        .iter()
        .flat_map(|(_, pts)| pts.iter().flat_map(|&(_, m, s)| [m - s, m + s]))
        .chain(full.iter().copied());
    let (lo, hi) = all_y.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), y| {
        (lo.min(y), hi.max(y))
    });
    if !lo.is_finite() {
        return Err("no rows to plot".into());
    }
    let pad = ((hi - lo) * 0.05).max(0.5);
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..100f64, (lo - pad)..(hi + pad))
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("prune ratio (% of training samples removed)")
        .y_desc("test accuracy (%)")
        .draw()
        .map_err(e)?;
    if !full.is_empty() {
        let (m, s) = mean_std(&full);
        let grey = RGBColor(170, 170, 170);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(0.0, m - s), (100.0, m + s)],
                grey.mix(0.25).filled(),
            )))
            .map_err(e)?;
        chart
            .draw_series(LineSeries::new(
                [(0.0, m), (100.0, m)],
                grey.stroke_width(2),
            ))
            .map_err(e)?
            .label(format!("full data {m:.2}"))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], grey.stroke_width(2)));
    }
    for (i, (name, pts)) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let width = if *name == "dyn_unc" { 3 } else { 2 };
        chart
            .draw_series(LineSeries::new(
                pts.iter().map(|&(x, m, _)| (x, m)),
                color.stroke_width(width),
            ))
            .map_err(e)?
            .label(*name)
            .legend(move |(x, y)| {
                PathElement::new([(x, y), (x + 20, y)], color.stroke_width(width))
            });
        chart
            .draw_series(
                pts.iter().map(|&(x, m, s)| {
                    ErrorBar::new_vertical(x, m - s, m, m + s, color.filled(), 6)
                }),
            )
            .map_err(e)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(e)?;
    root.present().map_err(e)
}

/// One panel per method: the distribution of its scores over the training set (50 bins, sample
/// counts on a linear scale), so the shape each method ranks by can be seen at a glance.
pub fn score_histograms_svg<V: AsRef<[f32]>>(
    scores: &[(&str, V)],
    title: &str,
    path: &Path,
) -> Result<(), String> {
    const BINS: usize = 50;
    if scores.is_empty() {
        return Err("no scores to draw".into());
    }
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    let root = SVGBackend::new(path, (900, 220 * scores.len() as u32 + 40)).into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let root = root.titled(title, ("sans-serif", 22)).map_err(e)?;
    for (i, (area, (name, values))) in root
        .split_evenly((scores.len(), 1))
        .iter()
        .zip(scores)
        .enumerate()
    {
        let values = values.as_ref();
        let (lo, hi) = values
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        let (lo, hi) = (f64::from(lo), f64::from(hi).max(f64::from(lo) + 1e-9));
        let width = (hi - lo) / BINS as f64;
        let mut counts = [0u64; BINS];
        for &v in values {
            counts[((f64::from(v) - lo) / width)
                .floor()
                .clamp(0.0, (BINS - 1) as f64) as usize] += 1;
        }
        let top = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("{name} ({} samples)", values.len()),
                ("sans-serif", 16),
            )
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(lo..hi, 0f64..top * 1.05)
            .map_err(e)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("score")
            .y_desc("samples")
            .draw()
            .map_err(e)?;
        let color = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(counts.iter().enumerate().map(|(b, &c)| {
                let x0 = lo + b as f64 * width;
                Rectangle::new([(x0, 0.0), (x0 + width, c as f64)], color.mix(0.7).filled())
            }))
            .map_err(e)?;
    }
    root.present().map_err(e)
}
