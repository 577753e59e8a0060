//! The charts of the monthly report: reports by channel, by field and by day, as SVG and PNG.
//!
//! Drawn with plotters; text is laid out and rasterised with its `ab_glyph` feature from a font
//! compiled into the binary (`deploy/fonts/DejaVuSans.ttf`, DejaVu fonts licence, beside it),
//! so that the charts render the same on every machine, with no system font lookup, and
//! Vietnamese labels keep their marks. SVG text names the `DejaVu Sans, sans-serif` family.

use std::sync::OnceLock;

use chrono::Datelike;
use plotters::coord::ranged1d::SegmentedCoord;
use plotters::coord::types::RangedCoordusize;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Figures, Period};
use crate::labels;

/// The font the charts are laid out and drawn with (DejaVu Sans: every Vietnamese letter).
static FONT: &[u8] = include_bytes!("../../deploy/fonts/DejaVuSans.ttf");
const FAMILY: &str = "DejaVu Sans";

/// How a chart is laid out: `Wide` (1000 × 560, the monthly report's and the desktop's) or
/// `Narrow` (480 × 560, for a phone: the title on two lines, fewer dates under the days).
/// Bar labels sit above their bars in both, so a long Vietnamese name is never cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    #[default]
    Wide,
    Narrow,
}

impl Layout {
    pub fn size(self) -> (u32, u32) {
        match self {
            Layout::Wide => (1000, 560),
            Layout::Narrow => (480, 560),
        }
    }

    /// `wide`, `narrow`.
    pub fn from_name(name: &str) -> Option<Layout> {
        match name {
            "wide" => Some(Layout::Wide),
            "narrow" => Some(Layout::Narrow),
            _ => None,
        }
    }
}

/// A chart of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chart {
    ByChannel,
    ByField,
    Daily,
}

impl Chart {
    pub const ALL: [Chart; 3] = [Chart::ByChannel, Chart::ByField, Chart::Daily];

    /// The file name stem: `by-channel`, `by-field`, `daily`.
    pub fn name(self) -> &'static str {
        match self {
            Chart::ByChannel => "by-channel",
            Chart::ByField => "by-field",
            Chart::Daily => "daily",
        }
    }

    pub fn from_name(name: &str) -> Option<Chart> {
        Chart::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// Image formats of a chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Svg,
    Png,
}

impl ImageFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Svg => "svg",
            ImageFormat::Png => "png",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ImageFormat::Svg => "image/svg+xml; charset=utf-8",
            ImageFormat::Png => "image/png",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("drawing the chart: {0}")]
    Draw(String),
    #[error("encoding the PNG: {0}")]
    Png(#[from] image::ImageError),
}

fn draw_error<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> ChartError {
    ChartError::Draw(e.to_string())
}

fn ensure_font() {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    REGISTERED.get_or_init(|| {
        let ok = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok();
        if !ok {
            tracing::error!("the embedded chart font does not load");
        }
        ok
    });
}

/// The Vietnamese name of a channel key, as the monthly report writes it (`crate::labels`).
pub fn channel_label(key: &str) -> String {
    labels::of_key(labels::Kind::Channel, key).into()
}

/// The Vietnamese name of a field key of Đ5 (`crate::labels`).
pub fn field_label(key: &str) -> String {
    labels::of_key(labels::Kind::Field, key).into()
}

/// What a chart shows, without its period.
pub fn subject(chart: Chart) -> &'static str {
    match chart {
        Chart::ByChannel => "Phản ánh theo kênh tiếp nhận",
        Chart::ByField => "Phản ánh theo lĩnh vực",
        Chart::Daily => "Số phản ánh theo ngày",
    }
}

/// The title of a chart for `period`.
pub fn title(chart: Chart, period: Period) -> String {
    format!("{} — {}", subject(chart), period.label_vi())
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    chart: Chart,
    layout: Layout,
    period: Period,
    figures: &Figures,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    // Wide: one caption line; narrow: the subject and the period on two lines of their own.
    let (area, caption) = match layout {
        Layout::Wide => (root.clone(), Some(title(chart, period))),
        Layout::Narrow => {
            let (top, rest) = root.split_vertically(64);
            let (w, _) = top.dim_in_pixel();
            let centred = |size: u32| {
                TextStyle::from((FAMILY, size).into_font()).pos(Pos::new(HPos::Center, VPos::Top))
            };
            top.draw(&Text::new(subject(chart), (w as i32 / 2, 8), centred(22)))?;
            top.draw(&Text::new(
                period.label_vi(),
                (w as i32 / 2, 36),
                centred(18),
            ))?;
            (rest, None)
        }
    };
    match chart {
        Chart::ByChannel => {
            let bars: Vec<(String, u64)> = figures
                .by_channel
                .iter()
                .map(|c| (channel_label(&c.key), c.count))
                .collect();
            bar_chart(&area, caption.as_deref(), &bars)
        }
        Chart::ByField => {
            let bars: Vec<(String, u64)> = figures
                .by_field
                .iter()
                .map(|c| (field_label(&c.key), c.count))
                .collect();
            bar_chart(&area, caption.as_deref(), &bars)
        }
        Chart::Daily => daily_chart(&area, caption.as_deref(), layout, figures),
    }?;
    root.present()
}

/// `n` segments `0..n` (a segmented `a..b` has the segments `a` to `b` included).
fn segments(n: usize) -> SegmentedCoord<RangedCoordusize> {
    (0..n.saturating_sub(1).max(1)).into_segmented()
}

/// Horizontal bars, one per label (the first on top), each label above its bar and the count
/// at its end: labels take the chart's whole width, so none is cut on a narrow chart.
fn bar_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    caption: Option<&str>,
    bars: &[(String, u64)],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let n = bars.len().max(1);
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let x_max = max as f64 * 1.15;
    // Segment j (from the bottom) holds bar n - 1 - j.
    let bar = |j: usize| n.checked_sub(j + 1).and_then(|i| bars.get(i));
    let mut builder = ChartBuilder::on(root);
    if let Some(caption) = caption {
        builder.caption(caption, (FAMILY, 26));
    }
    let mut chart = builder
        .margin(20)
        .x_label_area_size(40)
        .y_label_area_size(0)
        .build_cartesian_2d(0f64..x_max, segments(n))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(1)
        .y_label_formatter(&|_| String::new())
        .x_label_formatter(&|x| {
            if x.fract() == 0.0 {
                format!("{x:.0}")
            } else {
                String::new()
            }
        })
        .label_style((FAMILY, 16))
        .draw()?;
    let colour = RGBColor(31, 119, 180);
    // The label's line on top of each segment, the bar below it.
    let label_px = 24;
    chart.draw_series((0..bars.len()).map(|j| {
        let v = bar(j).map(|b| b.1).unwrap_or(0) as f64;
        let mut r = Rectangle::new(
            [
                (0.0, SegmentValue::Exact(j)),
                (v, SegmentValue::Exact(j + 1)),
            ],
            colour.filled(),
        );
        r.set_margin(label_px, 6, 0, 0);
        r
    }))?;
    chart.draw_series((0..bars.len()).map(|j| {
        let label = bar(j).map(|b| b.0.clone()).unwrap_or_default();
        EmptyElement::at((0.0, SegmentValue::Exact(j + 1)))
            + Text::new(label, (2, 3), (FAMILY, 16).into_font())
    }))?;
    chart.draw_series((0..bars.len()).map(|j| {
        let v = bar(j).map(|b| b.1).unwrap_or(0);
        Text::new(
            v.to_string(),
            (v as f64 + x_max * 0.01, SegmentValue::CenterOf(j)),
            (FAMILY, 16),
        )
    }))?;
    Ok(())
}

/// Columns per day, the date under them (every other day for a month, the first of each
/// month for a year).
fn daily_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    caption: Option<&str>,
    layout: Layout,
    figures: &Figures,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let days = &figures.daily;
    let n = days.len().max(1);
    let max = days.iter().map(|d| d.count).max().unwrap_or(0).max(1);
    let long = days.len() > 62;
    let narrow = layout == Layout::Narrow;
    let mut builder = ChartBuilder::on(root);
    if let Some(caption) = caption {
        builder.caption(caption, (FAMILY, 26));
    }
    let mut chart = builder
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d(segments(n), 0f64..max as f64 * 1.1)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| {
            let SegmentValue::CenterOf(i) = x else {
                return String::new();
            };
            let Some(day) = days.get(*i) else {
                return String::new();
            };
            let shown = match (long, narrow) {
                (true, false) => day.date.day() == 1,
                (true, true) => day.date.day() == 1 && day.date.month() % 3 == 1,
                (false, false) => i % 2 == 0,
                (false, true) => i % 5 == 0,
            };
            if shown {
                day.date.format("%d/%m").to_string()
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|y| {
            if y.fract() == 0.0 {
                format!("{y:.0}")
            } else {
                String::new()
            }
        })
        .y_desc("Số phản ánh")
        .x_desc("Ngày tiếp nhận")
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 16))
        .draw()?;
    let colour = RGBColor(44, 160, 44);
    chart.draw_series(days.iter().enumerate().map(|(i, d)| {
        let mut r = Rectangle::new(
            [
                (SegmentValue::Exact(i), 0.0),
                (SegmentValue::Exact(i + 1), d.count as f64),
            ],
            colour.filled(),
        );
        r.set_margin(0, 0, 1, 1);
        r
    }))?;
    Ok(())
}

/// One chart of `figures` in `format`, laid out for the monthly report ([`Layout::Wide`]).
pub fn render(
    chart: Chart,
    format: ImageFormat,
    period: Period,
    figures: &Figures,
) -> Result<Vec<u8>, ChartError> {
    render_as(chart, format, Layout::Wide, period, figures)
}

/// One chart of `figures` in `format` and `layout`.
pub fn render_as(
    chart: Chart,
    format: ImageFormat,
    layout: Layout,
    period: Period,
    figures: &Figures,
) -> Result<Vec<u8>, ChartError> {
    ensure_font();
    let (width, height) = layout.size();
    match format {
        ImageFormat::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
                draw(root, chart, layout, period, figures).map_err(draw_error)?;
            }
            Ok(svg.into_bytes())
        }
        ImageFormat::Png => {
            let mut rgb = vec![0u8; (width * height * 3) as usize];
            {
                let root =
                    BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
                draw(root, chart, layout, period, figures).map_err(draw_error)?;
            }
            let mut png = Vec::new();
            image::ImageEncoder::write_image(
                image::codecs::png::PngEncoder::new(&mut png),
                &rgb,
                width,
                height,
                image::ExtendedColorType::Rgb8,
            )?;
            Ok(png)
        }
    }
}
