//! A results folder, written from its CSV files alone: `main.md`, `archs.md`, `ood.md`, the
//! figures, and a `README.md` that ties them together. Used at the end of every run and by
//! `dynunc report`.

use std::path::Path;

use anyhow::{Context as _, Result};

use super::{arch_table, archs, ood_table, plot, read_arch_rows, read_ood_rows, read_rows};
use crate::score::rows::read_scores;

/// Rewrites every table and figure of `dir` from its CSV files (and the per-sample scores in
/// `work/`, when present); `note` says how the CSVs were made. Returns the accuracy tables.
pub fn write(dir: &Path, note: &str) -> Result<String> {
    let csv = dir.join("main.csv");
    let archs_csv = dir.join("archs.csv");
    let ood_csv = dir.join("ood.csv");
    // An experiment without retrains (scoring runs only) has archs.csv and no main.csv.
    let rows = if csv.exists() || !archs_csv.exists() {
        let rows = read_rows(&csv)
            .with_context(|| format!("reading {} (run the experiment first)", csv.display()))?;
        super::check_rows(&rows, &csv).map_err(anyhow::Error::msg)?;
        super::shown_rows(&rows)
    } else {
        Vec::new()
    };
    let arch_rows = match archs_csv.exists() {
        true => read_arch_rows(&archs_csv)
            .with_context(|| format!("reading {}", archs_csv.display()))?,
        false => Vec::new(),
    };
    let ood = match ood_csv.exists() {
        true => {
            let rows = read_ood_rows(&ood_csv)
                .with_context(|| format!("reading {}", ood_csv.display()))?;
            super::check_ood_rows(&rows, &ood_csv).map_err(anyhow::Error::msg)?;
            rows.into_iter()
                .map(|r| super::OodRow {
                    method: super::shown_method(&r.method, &r.strategy),
                    ..r
                })
                .collect()
        }
        false => Vec::new(),
    };
    let name = rows
        .first()
        .map(|r| r.experiment.clone())
        .or_else(|| arch_rows.first().map(|r| r.experiment.clone()))
        .or_else(|| dir.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "experiment".into());

    let table = super::results_markdown(&rows);
    if !rows.is_empty() {
        crate::atomic::write(
            &dir.join("main.md"),
            format!("# {name}\n\n{note}\n\n{table}").as_bytes(),
        )?;
        plot::accuracy_figures(&rows, &name, dir)?;
    }
    if !arch_rows.is_empty() {
        let md = format!(
            "# {name}: scoring runs\n\nOne full-data training run per model, dynamics recorded. {note}\n\n{}",
            arch_table(&arch_rows)
        );
        crate::atomic::write(&dir.join("archs.md"), md.as_bytes())?;
    }
    if !ood.is_empty() {
        let md = format!(
            "# {name}: out-of-distribution detection\n\nEvery trained model of main.csv, test set as in-distribution. {note}\n{}",
            ood_table(&ood)
        );
        crate::atomic::write(&dir.join("ood.md"), md.as_bytes())?;
    }

    let models: Vec<String> = match arch_rows.is_empty() {
        true => archs(&rows),
        false => arch_rows.iter().map(|r| r.arch.clone()).collect(),
    };
    score_figures(dir, &name, &models)?;
    stability_figures(dir, &name, &models)?;
    if let Some(points) = super::sections::scoring_cost::read_points(dir, &rows, &arch_rows) {
        let stem = dir.join("scoring_cost");
        plot::scoring_cost_figure(
            &points,
            &format!("{name}: accuracy against scoring cost"),
            &stem,
        )
        .map_err(|e| anyhow::anyhow!("drawing {}.svg/.png: {e}", stem.display()))?;
    }

    let folder = super::sections::Folder {
        dir,
        rows: &rows,
        table: &table,
        models: &models,
        arch_rows: &arch_rows,
        ood: &ood,
    };
    let readme = readme(dir, &name, note, &folder);
    crate::atomic::write(&dir.join("README.md"), readme.as_bytes())?;
    Ok(table)
}

/// Per model with a `stability[-<model>].csv`, its figure `stability[-<model>].svg/.png`.
fn stability_figures(dir: &Path, name: &str, models: &[String]) -> Result<()> {
    for (suffix, model) in suffixes(models).iter().zip(models) {
        let Some(rows) = read_stability(dir, suffix)? else {
            continue;
        };
        let title = match models.len() {
            1 => format!("{name}: how early the kept sets settle"),
            _ => format!("{name}, {model}: how early the kept sets settle"),
        };
        let stem = dir.join(format!("stability{suffix}"));
        plot::stability_figure(&rows, &title, &stem)
            .map_err(|e| anyhow::anyhow!("drawing {}.svg/.png: {e}", stem.display()))?;
    }
    Ok(())
}

/// The rows of `stability<suffix>.csv` in `dir`, when it exists.
pub(crate) fn read_stability(
    dir: &Path,
    suffix: &str,
) -> Result<Option<Vec<crate::score::stability::StabilityRow>>> {
    let path = dir.join(format!("stability{suffix}.csv"));
    if !path.exists() {
        return Ok(None);
    }
    let rows: Result<Vec<_>, _> = csv::Reader::from_path(&path)
        .and_then(|mut r| r.deserialize().collect())
        .with_context(|| format!("reading {}", path.display()));
    Ok(Some(rows?))
}

/// The suffix of a model's figure files: `""` when the experiment has one model, `-<name>`
/// when it has several.
pub fn suffix(several: bool, model: &str) -> String {
    match several {
        false => String::new(),
        true => format!("-{model}"),
    }
}

/// Where a run keeps `model`'s per-method score files: `work/scores`, or with several models
/// `work/<model>/scores`.
pub(crate) fn scores_dir(dir: &Path, models: &[String], model: &str) -> std::path::PathBuf {
    match models.len() > 1 {
        false => dir.join("work/scores"),
        true => dir.join("work").join(model).join("scores"),
    }
}

/// Per model, from the per-method score files a run keeps in `work/[<model>/]scores`: the
/// score distributions. (The Dyn-Unc image grid needs the training images, so the run draws
/// it from memory; the report never reloads data.)
fn score_figures(dir: &Path, name: &str, models: &[String]) -> Result<()> {
    let several = models.len() > 1;
    for model in models {
        let scores_dir = scores_dir(dir, models, model);
        let mut drawn = Vec::new();
        for m in crate::score::REGISTRY {
            let method = m.info().name;
            if let Ok(rows) = read_scores(&scores_dir.join(format!("{method}.csv"))) {
                drawn.push((method, rows.iter().map(|r| r.score).collect::<Vec<f32>>()));
            }
        }
        if drawn.is_empty() {
            continue;
        }
        let title = match several {
            false => name.to_owned(),
            true => format!("{name} ({model})"),
        };
        let stem = dir.join(format!("scores{}", suffix(several, model)));
        plot::score_histograms(&drawn, &format!("{title}: score distributions"), &stem)
            .map_err(|e| anyhow::anyhow!("drawing {}.svg/.png: {e}", stem.display()))?;
    }
    Ok(())
}

/// [`suffix`] of each of `models` (one empty suffix when there is at most one).
pub(crate) fn suffixes(models: &[String]) -> Vec<String> {
    match models.len() {
        0 | 1 => vec![String::new()],
        _ => models.iter().map(|m| suffix(true, m)).collect(),
    }
}

/// The 20 highest- and 20 lowest-scored training images by Dyn-Unc, as a PNG grid.
pub fn examples_grid(
    train: &crate::data::Images,
    class_names: &[String],
    scores: &[f32],
    png: &Path,
) -> Result<()> {
    const SHOWN: usize = 20;
    let ranking = crate::select::ranking(scores, crate::score::Keep::Highest, 0..scores.len());
    let highest: Vec<usize> = ranking.iter().take(SHOWN).copied().collect();
    let lowest: Vec<usize> = ranking.iter().rev().take(SHOWN).copied().collect();
    let blocks = [
        (
            format!("Highest Dyn-Unc scores: kept first (of {})", scores.len()),
            highest,
        ),
        ("Lowest Dyn-Unc scores: pruned first".to_string(), lowest),
    ];
    // Only the shown images are decoded; the grid indexes them in that order.
    let shown: Vec<usize> = blocks.iter().flat_map(|(_, idx)| idx.clone()).collect();
    let images = train.decode(&shown)?;
    let mut at = 0;
    let blocks = blocks.map(|(caption, idx)| {
        let local = (at..at + idx.len()).collect();
        at += idx.len();
        (caption, local)
    });
    plot::image_grid_png(&images, class_names, &blocks, 10, png)
        .map_err(|e| anyhow::anyhow!("drawing {}: {e}", png.display()))
}

/// `README.md`: every table inline, every figure the folder holds embedded, one section of
/// [`SECTIONS`](super::sections::SECTIONS) after another.
fn readme(dir: &Path, name: &str, note: &str, folder: &super::sections::Folder<'_>) -> String {
    let present = |files: &[&str]| {
        files
            .iter()
            .filter(|f| dir.join(f).exists())
            .map(|f| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = format!(
        "# {name}\n\n{note}\n\nThe experiment as run: `experiment.resolved.yaml`; seeds, commit and backend: `run_info.yaml`. Tables as Markdown: {}; as data: {}. Regenerate everything here with `dynunc report {}`.\n\n",
        present(&["main.md", "archs.md", "ood.md"]),
        present(&["main.csv", "archs.csv", "ood.csv"]),
        dir.display()
    );
    for section in super::sections::SECTIONS {
        out.extend(section.write(folder));
    }
    out
}
