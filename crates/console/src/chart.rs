//! Line charts of a percentage over time as inline SVG, drawn on the server (no script, no external request):
//! a service's CPU and memory utilisation from the `AWS/ECS` series.

use crate::html::esc;
use std::fmt::Write;

/// The drawing's size and the plot area inside it.
const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 590.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 172.0;

/// A chart to draw.
pub struct Chart<'a> {
    /// The element id (for tests and links).
    pub id: &'a str,
    /// What it shows (`CPU utilization`).
    pub title: &'a str,
    /// `(epoch seconds, percent)` in time order.
    pub points: &'a [(f64, f64)],
    /// The time range shown.
    pub start: f64,
    /// The end of the time range.
    pub end: f64,
}

/// `HH:MM` (UTC) of an epoch-seconds time.
fn clock_time(seconds: f64) -> String {
    jiff::Timestamp::from_second(seconds as i64).map(|t| t.strftime("%H:%M").to_string()).unwrap_or_default()
}

/// The chart as an `<svg>` element inside a `<figure>` with its caption.
pub fn percent_chart(chart: &Chart<'_>) -> String {
    let top_value = chart.points.iter().map(|p| p.1).fold(100.0_f64, f64::max).ceil();
    let span = (chart.end - chart.start).max(1.0);
    let x = |t: f64| LEFT + (t - chart.start).clamp(0.0, span) / span * (RIGHT - LEFT);
    let y = |v: f64| BOTTOM - v.clamp(0.0, top_value) / top_value * (BOTTOM - TOP);
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<figure class=\"chart\" id=\"{id}\"><figcaption>{title}</figcaption>\
         <svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{title}\">",
        id = esc(chart.id),
        title = esc(chart.title),
    );
    for step in 0..=4 {
        let value = top_value * f64::from(step) / 4.0;
        let at = y(value);
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{RIGHT}\" y1=\"{at:.1}\" y2=\"{at:.1}\"/>\
             <text class=\"axis\" x=\"{lx}\" y=\"{ty:.1}\" text-anchor=\"end\">{value:.0}%</text>",
            lx = LEFT - 4.0,
            ty = at + 4.0,
        );
    }
    let _ = write!(
        svg,
        "<text class=\"axis\" x=\"{LEFT}\" y=\"{HEIGHT}\" text-anchor=\"start\">{}</text>\
         <text class=\"axis\" x=\"{RIGHT}\" y=\"{HEIGHT}\" text-anchor=\"end\">{} UTC</text>",
        esc(&clock_time(chart.start)),
        esc(&clock_time(chart.end)),
    );
    if chart.points.is_empty() {
        let _ = write!(
            svg,
            "<text class=\"no-data\" x=\"{cx}\" y=\"{cy}\" text-anchor=\"middle\">No datapoints yet</text>",
            cx = (LEFT + RIGHT) / 2.0,
            cy = (TOP + BOTTOM) / 2.0,
        );
    } else {
        let line: Vec<String> = chart.points.iter().map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v))).collect();
        let _ = write!(svg, "<polyline class=\"series\" points=\"{}\"/>", line.join(" "));
        for (t, v) in chart.points {
            let _ = write!(
                svg,
                "<circle class=\"point\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\"><title>{} UTC: {:.1}%</title></circle>",
                x(*t),
                y(*v),
                esc(&clock_time(*t)),
                v
            );
        }
    }
    svg.push_str("</svg></figure>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_placed_inside_the_plot_area_on_a_percent_scale() {
        let points = [(1000.0, 0.0), (1060.0, 50.0), (1120.0, 100.0)];
        let svg = percent_chart(&Chart {
            id: "cpu",
            title: "CPU <utilization>",
            points: &points,
            start: 1000.0,
            end: 1120.0,
        });
        assert!(svg.contains("points=\"44.0,172.0 317.0,91.0 590.0,10.0\""), "{svg}");
        assert!(svg.contains("CPU &lt;utilization&gt;"));
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains(">100%</text>"));
        assert!(!svg.contains("No datapoints"));
    }

    #[test]
    fn values_over_a_hundred_raise_the_scale_and_an_empty_series_says_so() {
        let svg = percent_chart(&Chart { id: "m", title: "Memory", points: &[(0.0, 180.0)], start: 0.0, end: 60.0 });
        assert!(svg.contains(">180%</text>"), "{svg}");
        let svg = percent_chart(&Chart { id: "m", title: "Memory", points: &[], start: 0.0, end: 60.0 });
        assert!(svg.contains("No datapoints yet"));
        assert!(!svg.contains("<polyline"));
    }

    #[test]
    fn times_outside_the_range_stay_on_the_plot() {
        let svg = percent_chart(&Chart {
            id: "c",
            title: "C",
            points: &[(-50.0, 10.0), (500.0, 10.0)],
            start: 0.0,
            end: 100.0,
        });
        assert!(svg.contains("points=\"44.0,155.8 590.0,155.8\""), "{svg}");
    }
}
