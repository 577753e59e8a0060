//! The charts of the monthly report: reports by channel, by field and by day, as SVG and PNG.
//!
//! Drawn with plotters; text is laid out and rasterised with its `ab_glyph` feature from a font
//! compiled into the binary (`deploy/fonts/DejaVuSans.ttf`, DejaVu fonts licence, beside it),
//! so that the charts render the same on every machine, with no system font lookup, and
//! Vietnamese labels keep their marks. SVG text names the `DejaVu Sans, sans-serif` family.

use std::sync::OnceLock;

use chrono::Datelike;
use normalizers::report::Channel;
use plotters::coord::ranged1d::SegmentedCoord;
use plotters::coord::types::RangedCoordusize;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Figures, Period, UNKNOWN};

/// The font the charts are laid out and drawn with (DejaVu Sans: every Vietnamese letter).
static FONT: &[u8] = include_bytes!("../../deploy/fonts/DejaVuSans.ttf");
const FAMILY: &str = "DejaVu Sans";

const WIDTH: u32 = 1000;
const HEIGHT: u32 = 560;

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

/// The Vietnamese name of a channel, as the monthly report writes it.
pub fn channel_label(key: &str) -> String {
    let known = Channel::ALL.into_iter().find(|c| c.as_str() == key);
    match known {
        Some(Channel::Email) => "Thư điện tử".into(),
        Some(Channel::ZaloOa) => "Zalo OA".into(),
        Some(Channel::ZaloMiniapp) => "Zalo Mini App".into(),
        Some(Channel::App) => "Ứng dụng Long An Số".into(),
        Some(Channel::Portal) => "Cổng 1022".into(),
        Some(Channel::Open311) => "Open311".into(),
        None => key.into(),
    }
}

/// The Vietnamese name of a field of Đ5.
pub fn field_label(key: &str) -> String {
    match key {
        "public_administration" => "Dịch vụ hành chính công".into(),
        "urban_order" => "Trật tự đô thị".into(),
        "traffic" => "Giao thông".into(),
        "public_security" => "An ninh trật tự".into(),
        "environment" => "Môi trường".into(),
        UNKNOWN => "Chưa phân loại".into(),
        other => other.into(),
    }
}

/// The title of a chart for `period`.
pub fn title(chart: Chart, period: Period) -> String {
    let what = match chart {
        Chart::ByChannel => "Phản ánh theo kênh tiếp nhận",
        Chart::ByField => "Phản ánh theo lĩnh vực",
        Chart::Daily => "Số phản ánh theo ngày",
    };
    format!("{what} — {}", period.label_vi())
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    chart: Chart,
    period: Period,
    figures: &Figures,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let caption = title(chart, period);
    match chart {
        Chart::ByChannel => {
            let bars: Vec<(String, u64)> = figures
                .by_channel
                .iter()
                .map(|c| (channel_label(&c.key), c.count))
                .collect();
            bar_chart(&root, &caption, &bars)
        }
        Chart::ByField => {
            let bars: Vec<(String, u64)> = figures
                .by_field
                .iter()
                .map(|c| (field_label(&c.key), c.count))
                .collect();
            bar_chart(&root, &caption, &bars)
        }
        Chart::Daily => daily_chart(&root, &caption, figures),
    }?;
    root.present()
}

/// `n` segments `0..n` (a segmented `a..b` has the segments `a` to `b` included).
fn segments(n: usize) -> SegmentedCoord<RangedCoordusize> {
    (0..n.saturating_sub(1).max(1)).into_segmented()
}

/// Horizontal bars, one per label (the first on top), the count at the end of each.
fn bar_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    caption: &str,
    bars: &[(String, u64)],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let n = bars.len().max(1);
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let x_max = max as f64 * 1.15;
    // Segment j (from the bottom) holds bar n - 1 - j.
    let bar = |j: usize| n.checked_sub(j + 1).and_then(|i| bars.get(i));
    let mut chart = ChartBuilder::on(root)
        .caption(caption, (FAMILY, 26))
        .margin(20)
        .x_label_area_size(40)
        .y_label_area_size(240)
        .build_cartesian_2d(0f64..x_max, segments(n))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&|y| match y {
            SegmentValue::CenterOf(j) => bar(*j).map(|b| b.0.clone()).unwrap_or_default(),
            _ => String::new(),
        })
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
    chart.draw_series((0..bars.len()).map(|j| {
        let v = bar(j).map(|b| b.1).unwrap_or(0) as f64;
        let mut r = Rectangle::new(
            [
                (0.0, SegmentValue::Exact(j)),
                (v, SegmentValue::Exact(j + 1)),
            ],
            colour.filled(),
        );
        r.set_margin(8, 8, 0, 0);
        r
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
    caption: &str,
    figures: &Figures,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let days = &figures.daily;
    let n = days.len().max(1);
    let max = days.iter().map(|d| d.count).max().unwrap_or(0).max(1);
    let long = days.len() > 62;
    let mut chart = ChartBuilder::on(root)
        .caption(caption, (FAMILY, 26))
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
            let shown = if long {
                day.date.day() == 1
            } else {
                i % 2 == 0
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

/// One chart of `figures` in `format`.
pub fn render(
    chart: Chart,
    format: ImageFormat,
    period: Period,
    figures: &Figures,
) -> Result<Vec<u8>, ChartError> {
    ensure_font();
    match format {
        ImageFormat::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
                draw(root, chart, period, figures).map_err(draw_error)?;
            }
            Ok(svg.into_bytes())
        }
        ImageFormat::Png => {
            let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
            {
                let root =
                    BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
                draw(root, chart, period, figures).map_err(draw_error)?;
            }
            let mut png = Vec::new();
            image::ImageEncoder::write_image(
                image::codecs::png::PngEncoder::new(&mut png),
                &rgb,
                WIDTH,
                HEIGHT,
                image::ExtendedColorType::Rgb8,
            )?;
            Ok(png)
        }
    }
}
