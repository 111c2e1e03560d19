//! A forest plot: one panel per metric, one row per model, each a point with its 95%
//! interval as a whisker. The ensemble stage draws its members, their mean ± SD and the
//! ensemble this way, so a reader sees at once whether the spread between seeds is larger
//! than each run's own sampling interval.

use std::path::Path;

use anyhow::anyhow;
use plotters::prelude::*;
use serde::Serialize;

use super::draw::{BLUE, GREY, ORANGE, Rgb, fonts};

/// One model's value of one metric, with its interval (or none, for mean ± SD's own span).
#[derive(Debug, Clone, Serialize)]
pub struct ForestRow {
    pub label: String,
    pub value: f64,
    pub low: f64,
    pub high: f64,
    pub color: Rgb,
}

#[derive(Debug, Clone, Serialize)]
pub struct ForestPanel {
    pub metric: String,
    pub rows: Vec<ForestRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Forest {
    pub title: String,
    pub panels: Vec<ForestPanel>,
}

/// Colours by row kind: a member, the members' mean ± SD, the ensemble.
pub const MEMBER: Rgb = BLUE;
pub const MEAN: Rgb = GREY;
pub const ENSEMBLE: Rgb = ORANGE;

/// The x range of a panel: every finite bound, padded, clipped to [0, 1].
fn span(p: &ForestPanel) -> (f64, f64) {
    let xs = p
        .rows
        .iter()
        .flat_map(|r| [r.low, r.value, r.high])
        .filter(|x| x.is_finite());
    let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.08).max(0.005);
    ((lo - pad).max(0.0), (hi + pad).min(1.0))
}

/// Draws `f` to `out` as PNG, `width` x `height`.
pub fn save(f: &Forest, out: &Path, width: u32, height: u32) -> anyhow::Result<()> {
    fonts();
    let root = BitMapBackend::new(out, (width, height)).into_drawing_area();
    let e = |e: DrawingAreaErrorKind<_>| anyhow!("drawing `{}`: {e:?}", f.title);
    root.fill(&WHITE).map_err(e)?;
    let root = root.titled(&f.title, ("sans-serif", 22)).map_err(e)?;
    let n = f.panels.len().max(1);
    let labels: Vec<String> = f
        .panels
        .first()
        .map(|p| p.rows.iter().map(|r| r.label.clone()).collect())
        .unwrap_or_default();
    let rows = labels.len();
    // the first panel carries the row labels, so it is wider
    let label_w = 190u32;
    let (first, rest) = root.split_horizontally(label_w + (width - label_w) / n as u32);
    let mut areas = vec![first];
    areas.extend(rest.split_evenly((1, n - 1)));
    for (i, (area, p)) in areas.iter().zip(&f.panels).enumerate() {
        let (lo, hi) = span(p);
        let y = -0.5..rows as f64 - 0.5;
        let mut chart = ChartBuilder::on(area)
            .caption(&p.metric, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(if i == 0 { label_w } else { 8 })
            .build_cartesian_2d(lo..hi, y)
            .map_err(e)?;
        let labels = &labels;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_labels(4)
            .x_label_formatter(&|x| format!("{x:.3}"))
            .y_labels(rows)
            .y_label_formatter(&|y| {
                // only the first panel names the rows
                let j = rows as f64 - 1.0 - y.round();
                match i {
                    0 => labels.get(j as usize).cloned().unwrap_or_default(),
                    _ => String::new(),
                }
            })
            .label_style(("sans-serif", 13))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(e)?;
        for (j, r) in p.rows.iter().enumerate() {
            // the first row at the top
            let y = (rows - 1 - j) as f64;
            let color = RGBColor::from(r.color);
            if r.low.is_finite() && r.high.is_finite() {
                chart
                    .draw_series([PathElement::new(
                        [(r.low, y), (r.high, y)],
                        color.stroke_width(2),
                    )])
                    .map_err(e)?;
            }
            if r.value.is_finite() {
                chart
                    .draw_series([Circle::new((r.value, y), 5, color.filled())])
                    .map_err(e)?;
            }
        }
    }
    root.present().map_err(e)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_covers_every_interval_and_stays_in_the_unit_range() {
        let row = |v: f64, lo: f64, hi: f64| ForestRow {
            label: "m".into(),
            value: v,
            low: lo,
            high: hi,
            color: MEMBER,
        };
        let p = ForestPanel {
            metric: "AUC".into(),
            rows: vec![row(0.99, 0.97, 1.0), row(0.95, f64::NAN, f64::NAN)],
        };
        let (lo, hi) = span(&p);
        assert!(lo <= 0.95 && lo > 0.9, "{lo}");
        assert_eq!(hi, 1.0);
    }
}
