//! The charts that are not line charts: confusion matrices and the mean Grad-CAM maps.

use super::*;

pub(super) fn confusion(
    metrics: &Metrics,
    out: &Path,
    p: &ChartParams,
) -> anyhow::Result<ChartFile> {
    let png = "confusion.png".to_string();
    let path = out.join(&png);
    let root = BitMapBackend::new(&path, (p.width, p.height)).into_drawing_area();
    let e = |e: DrawingAreaErrorKind<_>| anyhow!("drawing the confusion matrix: {e:?}");
    root.fill(&WHITE).map_err(e)?;
    let roles: Vec<(&String, _)> = metrics.roles.iter().collect();
    let panels = root.split_evenly((1, roles.len().max(1)));
    for (area, (role, m)) in panels.iter().zip(roles) {
        let b = &m.report.binary;
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!(
                    "{role} (n = {}, threshold {:.3})",
                    m.report.n, m.report.threshold
                ),
                ("sans-serif", 18),
            )
            .margin(18)
            .x_label_area_size(44)
            .y_label_area_size(90)
            .build_cartesian_2d(0.0..2.0f64, 0.0..2.0f64)
            .map_err(e)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(0)
            .y_labels(0)
            .x_desc("predicted: NORMAL | PNEUMONIA")
            .y_desc("true: PNEUMONIA | NORMAL")
            .axis_desc_style(("sans-serif", 14))
            .draw()
            .map_err(e)?;
        // rows from the top: true NORMAL (y 1..2), true PNEUMONIA (y 0..1)
        let cells = [
            ((0.0, 1.0), b.tn, "TN"),
            ((1.0, 1.0), b.fp, "FP"),
            ((0.0, 0.0), b.fn_, "FN"),
            ((1.0, 0.0), b.tp, "TP"),
        ];
        let max = cells.iter().map(|c| c.1).max().unwrap_or(1).max(1) as f32;
        for ((x, y), count, name) in cells {
            let t = 0.15 + 0.75 * count as f32 / max;
            let [r, g, bl] = viridis(t);
            chart
                .draw_series([Rectangle::new(
                    [(x, y), (x + 1.0, y + 1.0)],
                    RGBColor(r, g, bl).filled(),
                )])
                .map_err(e)?;
            let text_color = if t > 0.6 { BLACK } else { WHITE };
            chart
                .draw_series([Text::new(
                    format!("{name} {count}"),
                    (x + 0.32, y + 0.55),
                    ("sans-serif", 22).into_font().color(&text_color),
                )])
                .map_err(e)?;
        }
    }
    root.present().map_err(e)?;
    Ok(ChartFile {
        name: "confusion".into(),
        png,
        svg: None,
        caption: "Confusion matrices at the chosen threshold (rows: truth, columns: prediction)."
            .into(),
    })
}

pub(super) fn mean_cams(
    g: &GradcamSummary,
    dir: &Path,
    out: &Path,
    p: &ChartParams,
) -> anyhow::Result<ChartFile> {
    let png = "mean-cam.png".to_string();
    let height = p.height.max(320);
    let path = out.join(&png);
    let root = BitMapBackend::new(&path, (p.width, height)).into_drawing_area();
    let e = |e: DrawingAreaErrorKind<_>| anyhow!("drawing the mean Grad-CAM: {e:?}");
    root.fill(&WHITE).map_err(e)?;
    let (body, bar) = root.split_vertically(height - 40);
    let panels = body.split_evenly((1, g.mean_maps.len().max(1)));
    let side = g.side;
    for (area, (label, (file, count))) in panels.iter().zip(&g.mean_maps) {
        let bytes = fs::read(dir.join(file))?;
        let map: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let max = map.iter().copied().fold(0.0f32, f32::max).max(1e-6);
        let area = area
            .titled(
                &format!("mean Grad-CAM, true {label} ({count} images)"),
                ("sans-serif", 18),
            )
            .map_err(e)?;
        let (w, h) = area.dim_in_pixel();
        let scale = ((w.min(h) as f32 - 30.0) / side as f32).max(0.1);
        let off_x = (w as f32 - side as f32 * scale) / 2.0;
        for y in 0..(side as f32 * scale) as i32 {
            for x in 0..(side as f32 * scale) as i32 {
                let (sx, sy) = ((x as f32 / scale) as usize, (y as f32 / scale) as usize);
                let v = map[sy.min(side - 1) * side + sx.min(side - 1)] / max;
                let [r, gg, b] = viridis(v);
                area.draw_pixel((off_x as i32 + x, 10 + y), &RGBColor(r, gg, b))
                    .map_err(e)?;
            }
        }
        area.draw_text(
            "image left = patient's right",
            &("sans-serif", 13).into_font().color(&BLACK),
            (off_x as i32, (side as f32 * scale) as i32 + 12),
        )
        .map_err(e)?;
    }
    // colour bar
    let (w, _) = bar.dim_in_pixel();
    let (x0, x1) = (w as i32 / 4, 3 * w as i32 / 4);
    for x in x0..x1 {
        let [r, gg, b] = viridis((x - x0) as f32 / (x1 - x0) as f32);
        bar.draw(&Rectangle::new(
            [(x, 4), (x + 1, 18)],
            RGBColor(r, gg, b).filled(),
        ))
        .map_err(e)?;
    }
    let font = ("sans-serif", 13).into_font().color(&BLACK);
    bar.draw_text("0", &font, (x0 - 14, 4)).map_err(e)?;
    bar.draw_text("max of the mean map", &font, (x1 + 6, 4))
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(ChartFile {
        name: "mean-cam".into(),
        png,
        svg: None,
        caption: format!(
            "Mean normalised Grad-CAM over the {} images by true label, each scaled to its maximum.",
            g.role
        ),
    })
}
