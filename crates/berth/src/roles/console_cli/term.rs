//! How the commands print: colour only on a terminal and never with `NO_COLOR`, tables sized to the terminal
//! (comfy-table), and times as ages and RFC 3339.

use comfy_table::{Cell, Color, ContentArrangement, Table, presets};
use std::io::IsTerminal;

/// Whether standard output is a terminal and may be coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// Standard output is a terminal: tables fit its width.
    pub terminal: bool,
    /// Colours are wanted.
    pub colour: bool,
    /// The terminal's width in columns, when standard output is one that says (or `COLUMNS` does).
    pub width: Option<u16>,
}

/// The width of the terminal on standard output: its window size, else `COLUMNS`; none below 20 columns.
fn terminal_width() -> Option<u16> {
    let from_tty = rustix::termios::tcgetwinsize(std::io::stdout()).ok().map(|size| size.ws_col);
    let from_env = || std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse::<u16>().ok());
    from_tty.filter(|w| *w >= 20).or_else(from_env).filter(|w| *w >= 20)
}

impl Style {
    /// The style of this process's standard output.
    pub fn detect() -> Self {
        let terminal = std::io::stdout().is_terminal();
        let width = if terminal { terminal_width() } else { None };
        Self { terminal, colour: crate::logging::colour_wanted(terminal, std::env::var_os("NO_COLOR")), width }
    }

    /// Plain text, for tests.
    #[cfg(test)]
    pub const PLAIN: Style = Style { terminal: false, colour: false, width: None };

    /// A table with `header`: no borders, fitted to the terminal's width on a terminal.
    pub fn table(&self, header: &[&str]) -> Table {
        let mut table = Table::new();
        table.load_style(presets::NOTHING);
        // Fitted to the terminal when its width is known (a pseudo-terminal may say 0): else as wide as it takes.
        table.force_no_tty();
        if let Some(width) = self.width {
            table.set_width(width).set_content_arrangement(ContentArrangement::Dynamic);
        }
        if self.colour {
            table.enforce_styling();
        }
        table.set_header(header.iter().map(Cell::new));
        table
    }

    /// A cell for a status word, coloured by what it means when colours are on.
    pub fn status(&self, word: &str) -> Cell {
        self.coloured(word, word)
    }

    /// A cell showing `text`, coloured by what the status `word` means when colours are on.
    pub fn coloured(&self, word: &str, text: &str) -> Cell {
        let cell = Cell::new(text);
        if !self.colour {
            return cell;
        }
        match word {
            "RUNNING" | "ACTIVE" | "HEALTHY" | "COMPLETED" | "PRIMARY" | "connected" => cell.fg(Color::Green),
            "PENDING" | "PROVISIONING" | "ACTIVATING" | "IN_PROGRESS" | "DRAINING" | "DEACTIVATING" | "STOPPING"
            | "DEPROVISIONING" | "UNKNOWN" => cell.fg(Color::Yellow),
            "STOPPED" | "FAILED" | "UNHEALTHY" | "INACTIVE" | "disconnected" => cell.fg(Color::Red),
            _ => cell,
        }
    }

    /// `text` in bold when colours are on (a heading).
    pub fn heading(&self, text: &str) -> String {
        if self.colour { format!("\u{1b}[1m{text}\u{1b}[0m") } else { text.to_string() }
    }
}

/// A time as RFC 3339 in UTC, to the second.
pub fn timestamp(seconds: f64) -> String {
    let Ok(at) = time::OffsetDateTime::from_unix_timestamp_nanos((seconds * 1e9) as i128) else {
        return format!("{seconds}");
    };
    let (y, mo, d) = (at.year(), u8::from(at.month()), at.day());
    format!("{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z", at.hour(), at.minute(), at.second())
}

/// How long ago `then` was, as `45s`, `3m12s`, `2h5m` or `3d4h`.
pub fn age(now: f64, then: f64) -> String {
    duration((now - then).max(0.0))
}

/// A duration in seconds as `45s`, `3m12s`, `2h5m` or `3d4h`.
pub fn duration(seconds: f64) -> String {
    let s = seconds as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// The last part of an ARN (`task/default/abc` gives `abc`; a name stays as it is).
pub fn short(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// `family:revision` of a task definition ARN.
pub fn revision(task_definition_arn: &str) -> &str {
    short(task_definition_arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_people_say_them() {
        assert_eq!(timestamp(1_795_960_800.4), "2026-11-29T14:00:00Z");
        assert_eq!(age(100.0, 55.0), "45s");
        assert_eq!(age(1000.0, 808.0), "3m12s");
        assert_eq!(duration(7_500.0), "2h5m");
        assert_eq!(duration(273_600.0), "3d4h");
        assert_eq!(age(0.0, 10.0), "0s", "a clock skew is not a negative age");
        assert_eq!(short("arn:aws:ecs:us-east-1:0:task/default/abc"), "abc");
        assert_eq!(revision("arn:aws:ecs:us-east-1:0:task-definition/web:3"), "web:3");
    }

    #[test]
    fn plain_style_has_no_escape_codes() {
        let style = Style::PLAIN;
        let mut table = style.table(&["NAME", "STATUS"]);
        table.add_row(vec![Cell::new("web"), style.status("RUNNING")]);
        let text = table.to_string();
        assert!(!text.contains('\u{1b}'), "{text:?}");
        assert!(text.contains("RUNNING") && text.contains("NAME"), "{text}");
        assert_eq!(style.heading("Deployments"), "Deployments");
        let coloured = Style { terminal: false, colour: true, width: None };
        let mut table = coloured.table(&["STATUS"]);
        table.add_row(vec![coloured.status("FAILED")]);
        assert!(table.to_string().contains('\u{1b}'), "colours when asked for");
        let narrow = Style { terminal: true, colour: false, width: Some(30) };
        let mut table = narrow.table(&["NAME", "MESSAGE"]);
        table.add_row(vec!["web", "a long message that cannot fit on one line of thirty columns"]);
        let text = table.to_string();
        assert!(text.lines().all(|l| l.chars().count() <= 30), "sized to the terminal: {text}");
        assert!(text.lines().count() > 3, "wrapped: {text}");
    }
}
