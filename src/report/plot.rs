//! The figures: accuracy against prune ratio, score histograms (each as SVG and PNG; PNG text
//! uses the embedded DejaVu Sans), and a grid of the highest- and lowest-scored images.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
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

/// The accuracy figures of an experiment's rows in `dir`: `accuracy.svg`/`.png` for a single
/// network; `accuracy-<network>.svg`/`.png` per network (its own subsets) for several.
pub fn accuracy_figures(rows: &[MainRow], experiment: &str, dir: &Path) -> anyhow::Result<()> {
    let archs = super::archs(rows);
    let figures: Vec<(String, String, Vec<MainRow>)> = match archs.len() {
        // One network trained: its own subsets (a proxy's are in the cross table).
        0 | 1 => vec![(
            "accuracy".into(),
            format!("{experiment}: test accuracy after pruning"),
            rows.iter()
                .filter(|r| r.source() == r.arch)
                .cloned()
                .collect(),
        )],
        _ => archs
            .iter()
            .map(|a| {
                (
                    format!("accuracy-{a}"),
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
        let stem = dir.join(file);
        accuracy_figure(&rows, &title, &stem)
            .map_err(|e| anyhow::anyhow!("drawing {}.svg/.png: {e}", stem.display()))?;
    }
    Ok(())
}

/// Registers the embedded font under "sans-serif" (once): both backends measure text with it.
fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is valid TrueType, so registration cannot fail; if it did, PNG text would
        // be missing and the SVG beside it still complete.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

/// `stem` with the extension `ext`.
fn with_ext(stem: &Path, ext: &str) -> PathBuf {
    stem.with_extension(ext)
}

/// Encodes an RGB buffer as PNG and writes it atomically.
fn write_png(path: &Path, (width, height): (u32, u32), rgb: Vec<u8>) -> Result<(), String> {
    let image = image::RgbImage::from_raw(width, height, rgb)
        .ok_or_else(|| format!("{}: the drawing buffer has the wrong size", path.display()))?;
    let mut bytes = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, image::ImageFormat::Png)
        .map_err(|e| format!("encoding {}: {e}", path.display()))?;
    crate::atomic::write(path, &bytes.into_inner()).map_err(|e| e.to_string())
}

/// Draws with `draw` into `<stem>.svg` and `<stem>.png`, each rendered in memory and written
/// atomically (a kill never leaves half a figure).
macro_rules! svg_and_png {
    ($stem:expr, $size:expr, $draw:ident ( $($arg:expr),* )) => {{
        let stem: &Path = $stem;
        let size: (u32, u32) = $size;
        fonts();
        let mut svg = String::new();
        $draw(SVGBackend::with_string(&mut svg, size).into_drawing_area(), $($arg),*)?;
        crate::atomic::write(&with_ext(stem, "svg"), svg.as_bytes()).map_err(|e| e.to_string())?;
        let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
        $draw(BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area(), $($arg),*)?;
        write_png(&with_ext(stem, "png"), size, rgb)
    }};
}

/// The accuracy figure of `rows` as `<stem>.svg` and `<stem>.png`.
pub fn accuracy_figure(rows: &[MainRow], title: &str, stem: &Path) -> Result<(), String> {
    svg_and_png!(stem, (900, 560), draw_accuracy(rows, title))
}

/// One line per method: mean test accuracy (%) against prune ratio (%), with ± std error bars
/// over seeds, and the full-data mean as a grey band of ± one std.
fn draw_accuracy<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    rows: &[MainRow],
    title: &str,
) -> Result<(), String> {
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
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
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
    legend(&mut chart, SeriesLabelPosition::LowerLeft)?;
    root.present().map_err(e)
}

/// The ranking-stability figure of `rows` (one model's `stability.csv`) as `<stem>.svg` and
/// `<stem>.png`: one panel per prune ratio, the kept-set overlap against the scoring epochs
/// used, one line per method.
pub fn stability_figure(
    rows: &[crate::score::stability::StabilityRow],
    title: &str,
    stem: &Path,
) -> Result<(), String> {
    let ratios = super::sorted_ratios(rows.iter().map(|r| r.prune_ratio));
    let width = 120 + 380 * ratios.len().max(1) as u32;
    svg_and_png!(stem, (width, 460), draw_stability(rows, &ratios, title))
}

fn draw_stability<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    rows: &[crate::score::stability::StabilityRow],
    ratios: &[f64],
    title: &str,
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let mut methods: Vec<&str> = Vec::new();
    for r in rows {
        if !methods.contains(&r.method.as_str()) {
            methods.push(&r.method);
        }
    }
    let last = rows.iter().map(|r| r.epochs_used).max().unwrap_or(1) as f64;
    root.fill(&WHITE).map_err(e)?;
    let root = root.titled(title, ("sans-serif", 22)).map_err(e)?;
    for (panel, &ratio) in root
        .split_evenly((1, ratios.len().max(1)))
        .iter()
        .zip(ratios)
    {
        let mut chart = ratio_panel(
            panel,
            ratio,
            (0f64..last, 0f64..1.02f64),
            ("scoring epochs used", "share of the final kept set"),
        )?;
        for (i, m) in methods.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let pts = rows
                .iter()
                .filter(|r| r.method == *m && r.prune_ratio == ratio)
                .map(|r| (r.epochs_used as f64, r.kept_overlap));
            chart
                .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                .map_err(e)?
                .label(*m)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    }
    root.present().map_err(e)
}

/// Accuracy against scoring cost as `<stem>.svg` and `<stem>.png`: one panel per prune ratio,
/// one line per method and scoring network through its parts of the run (cheapest first),
/// error bars one std.
pub fn scoring_cost_figure(
    points: &[crate::report::sections::scoring_cost::Point],
    title: &str,
    stem: &Path,
) -> Result<(), String> {
    let ratios = super::sorted_ratios(points.iter().map(|p| p.ratio));
    let width = 120 + 380 * ratios.len().max(1) as u32;
    svg_and_png!(
        stem,
        (width, 460),
        draw_scoring_cost(points, &ratios, title)
    )
}

fn draw_scoring_cost<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    points: &[crate::report::sections::scoring_cost::Point],
    ratios: &[f64],
    title: &str,
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let mut lines: Vec<(&str, &str)> = Vec::new();
    for p in points {
        if !lines.contains(&(p.line.as_str(), p.source.as_str())) {
            lines.push((&p.line, &p.source));
        }
    }
    let max_cost = points.iter().map(|p| p.cost).fold(1.0f64, f64::max) * 1.05;
    let lo = points
        .iter()
        .map(|p| p.mean - p.std)
        .fold(f64::INFINITY, f64::min);
    let hi = points
        .iter()
        .map(|p| p.mean + p.std)
        .fold(f64::NEG_INFINITY, f64::max);
    let pad = ((hi - lo) * 0.08).max(0.2);
    root.fill(&WHITE).map_err(e)?;
    let root = root.titled(title, ("sans-serif", 22)).map_err(e)?;
    for (panel, &ratio) in root
        .split_evenly((1, ratios.len().max(1)))
        .iter()
        .zip(ratios)
    {
        let mut chart = ratio_panel(
            panel,
            ratio,
            (0f64..max_cost, (lo - pad)..(hi + pad)),
            ("scoring seconds (x the whole run)", "test accuracy (%)"),
        )?;
        for (i, (line, source)) in lines.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let mut mine: Vec<_> = points
                .iter()
                .filter(|p| p.line == *line && p.source == *source && p.ratio == ratio)
                .collect();
            mine.sort_by(|a, b| a.cost.total_cmp(&b.cost));
            chart
                .draw_series(LineSeries::new(
                    mine.iter().map(|p| (p.cost, p.mean)),
                    color.stroke_width(2),
                ))
                .map_err(e)?
                .label(format!("{line} on {source}"))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(mine.iter().map(|p| {
                    ErrorBar::new_vertical(
                        p.cost,
                        p.mean - p.std,
                        p.mean,
                        p.mean + p.std,
                        color.filled(),
                        6,
                    )
                }))
                .map_err(e)?;
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    }
    root.present().map_err(e)
}

/// The x and y coordinates of a panel.
type Panel<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// One panel of a figure with a panel per prune ratio: captioned with the ratio, axes over `x`
/// and `y` described by `desc`, its mesh drawn.
fn ratio_panel<'a, DB: DrawingBackend>(
    panel: &'a DrawingArea<DB, Shift>,
    ratio: f64,
    (x, y): (std::ops::Range<f64>, std::ops::Range<f64>),
    (x_desc, y_desc): (&str, &str),
) -> Result<Panel<'a, DB>, String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let mut chart = ChartBuilder::on(panel)
        .caption(format!("prune {:.0}%", 100.0 * ratio), ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(x, y)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .draw()
        .map_err(e)?;
    Ok(chart)
}

/// The legend of a panel's labelled series, at `position`.
fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut Panel<'a, DB>,
    position: SeriesLabelPosition,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())
}

/// The score histograms as `<stem>.svg` and `<stem>.png`.
pub fn score_histograms<V: AsRef<[f32]>>(
    scores: &[(&str, V)],
    title: &str,
    stem: &Path,
) -> Result<(), String> {
    if scores.is_empty() {
        return Err("no scores to draw".into());
    }
    let size = (900, 220 * scores.len() as u32 + 40);
    svg_and_png!(stem, size, draw_histograms(scores, title))
}

/// One panel per method: the distribution of its scores over the training set (50 bins, sample
/// counts on a linear scale), so the shape each method ranks by can be seen at a glance.
fn draw_histograms<DB: DrawingBackend, V: AsRef<[f32]>>(
    root: DrawingArea<DB, Shift>,
    scores: &[(&str, V)],
    title: &str,
) -> Result<(), String> {
    const BINS: usize = 50;
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
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

/// A grid of training images, PNG: one block per `(caption, indices)`, `per_row` images a row,
/// each scaled `scale` times and named by its class.
pub fn image_grid_png(
    set: &crate::data::ImageSet,
    class_names: &[String],
    blocks: &[(String, Vec<usize>)],
    per_row: usize,
    path: &Path,
) -> Result<(), String> {
    // Small images (28x28) drawn 3x; ImageNet-size ones at their size.
    let scale = (84 / set.height.max(1) as u32).max(1);
    const CAPTION: u32 = 30;
    const LABEL: u32 = 16;
    const GAP: u32 = 6;
    let (h, w) = (set.height as u32 * scale, set.width as u32 * scale);
    let cell = (w + GAP, h + LABEL + GAP);
    let rows_of = |n: usize| n.div_ceil(per_row) as u32;
    let width = GAP + per_row as u32 * cell.0;
    let height: u32 = blocks
        .iter()
        .map(|(_, idx)| CAPTION + rows_of(idx.len()) * cell.1)
        .sum::<u32>()
        + GAP;
    fonts();
    let mut rgb = vec![0u8; width as usize * height as usize * 3];
    let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let mut y0 = 0i32;
    for (caption, indices) in blocks {
        root.draw_text(
            caption,
            &("sans-serif", 18).into_font().color(&BLACK),
            (GAP as i32, y0 + 6),
        )
        .map_err(e)?;
        y0 += CAPTION as i32;
        for (k, &i) in indices.iter().enumerate() {
            let x = (GAP + (k % per_row) as u32 * cell.0) as i32;
            let y = y0 + ((k / per_row) as u32 * cell.1) as i32;
            let img = set.image(i);
            for py in 0..set.height {
                for px in 0..set.width {
                    let base = (py * set.width + px) * set.channels;
                    let color = match set.channels {
                        3 => RGBColor(img[base], img[base + 1], img[base + 2]),
                        _ => RGBColor(img[base], img[base], img[base]),
                    };
                    let (x0, y1) = (
                        x + (px as u32 * scale) as i32,
                        y + (py as u32 * scale) as i32,
                    );
                    root.draw(&Rectangle::new(
                        [(x0, y1), (x0 + scale as i32, y1 + scale as i32)],
                        color.filled(),
                    ))
                    .map_err(e)?;
                }
            }
            let label = class_names
                .get(set.labels[i] as usize)
                .cloned()
                .unwrap_or_else(|| set.labels[i].to_string());
            root.draw_text(
                &label,
                &("sans-serif", 11).into_font().color(&RGBColor(60, 60, 60)),
                (x, y + h as i32 + 2),
            )
            .map_err(e)?;
        }
        y0 += (rows_of(indices.len()) * cell.1) as i32;
    }
    root.present().map_err(e)?;
    drop(root);
    write_png(path, (width, height), rgb)
}
