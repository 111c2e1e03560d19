//! How a chart is drawn: the bundled font, the palette, line charts with markers and rules,
//! and saving each as PNG (and SVG).

use super::*;

pub(super) fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
        for style in [FontStyle::Normal, FontStyle::Bold] {
            let _ = register_font("sans-serif", style, bytes);
        }
    });
}

/// An sRGB colour; serialises as `#rrggbb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Serialize for Rgb {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2))
    }
}

impl From<Rgb> for RGBColor {
    fn from(c: Rgb) -> RGBColor {
        RGBColor(c.0, c.1, c.2)
    }
}

pub(super) const BLUE: Rgb = Rgb(31, 119, 180);
pub(super) const ORANGE: Rgb = Rgb(255, 127, 14);
pub(super) const GREEN: Rgb = Rgb(44, 160, 44);
pub(super) const RED: Rgb = Rgb(214, 39, 40);
pub(super) const PURPLE: Rgb = Rgb(148, 103, 189);
pub(super) const GREY: Rgb = Rgb(127, 127, 127);

#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub color: Rgb,
    pub dashed: bool,
}

/// A line chart, fully specified.
#[derive(Debug, Clone, Serialize)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x: Range<f64>,
    pub y: Range<f64>,
    pub lines: Vec<Line>,
    /// Labelled markers (operating points).
    pub marks: Vec<(String, (f64, f64), Rgb)>,
    /// Labelled vertical rules (the early-stopping point).
    pub rules: Vec<(String, f64)>,
}

pub(super) fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    c: &Chart,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("drawing `{}`: {e:?}", c.title);
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(root)
        .caption(&c.title, ("sans-serif", 22))
        .margin(14)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(c.x.clone(), c.y.clone())
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(&c.x_label)
        .y_desc(&c.y_label)
        .axis_desc_style(("sans-serif", 16))
        .label_style(("sans-serif", 13))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(e)?;
    for (name, x) in &c.rules {
        let (x, y0, y1) = (*x, c.y.start, c.y.end);
        chart
            .draw_series(DashedLineSeries::new(
                [(x, y0), (x, y1)],
                6,
                4,
                RGBColor::from(GREY).stroke_width(2),
            ))
            .map_err(e)?
            .label(name.clone())
            .legend(move |(px, py)| {
                PathElement::new([(px, py), (px + 18, py)], RGBColor::from(GREY))
            });
    }
    // an undefined metric (NaN) has no place on a chart: its point is left out, not drawn
    let finite = |&(x, y): &(f64, f64)| x.is_finite() && y.is_finite();
    for l in &c.lines {
        let points: Vec<(f64, f64)> = l.points.iter().copied().filter(finite).collect();
        let color = RGBColor::from(l.color);
        let style = color.stroke_width(if l.dashed { 1 } else { 2 });
        let series = if l.dashed {
            chart.draw_series(DashedLineSeries::new(points, 5, 5, style))
        } else {
            chart.draw_series(LineSeries::new(points, style))
        };
        series
            .map_err(e)?
            .label(l.name.clone())
            .legend(move |(px, py)| {
                PathElement::new([(px, py), (px + 18, py)], color.stroke_width(2))
            });
    }
    for (name, pt, color) in c.marks.iter().filter(|m| finite(&m.1)) {
        let color = RGBColor::from(*color);
        chart
            .draw_series([Circle::new(*pt, 6, color.filled())])
            .map_err(e)?
            .label(name.clone())
            .legend(move |(px, py)| Circle::new((px + 9, py), 5, color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

pub(super) fn save_chart(
    c: &Chart,
    out: &Path,
    name: &str,
    caption: &str,
    p: &ChartParams,
) -> anyhow::Result<ChartFile> {
    let png = format!("{name}.png");
    draw(
        &BitMapBackend::new(&out.join(&png), (p.width, p.height)).into_drawing_area(),
        c,
    )?;
    let svg = if p.svg {
        let svg = format!("{name}.svg");
        draw(
            &SVGBackend::new(&out.join(&svg), (p.width, p.height)).into_drawing_area(),
            c,
        )?;
        Some(svg)
    } else {
        None
    };
    Ok(ChartFile {
        name: name.into(),
        png,
        svg,
        caption: caption.into(),
    })
}
