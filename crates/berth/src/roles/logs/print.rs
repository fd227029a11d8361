//! The lines `berth logs` prints: `task-id/container | time message`, the prefix coloured per task on a terminal.

use super::sources::Source;
use std::collections::HashMap;
use std::io::Write;

/// ANSI colours for task prefixes, given to tasks in the order they are first printed.
const PALETTE: [&str; 10] = ["36", "33", "32", "35", "34", "96", "93", "92", "95", "94"];

/// Writes event lines to a buffered output.
pub struct Printer<W: Write> {
    out: std::io::BufWriter<W>,
    colour: bool,
    colours: HashMap<String, &'static str>,
}

impl<W: Write> Printer<W> {
    /// A printer to `out`, with colours when `colour`.
    pub fn new(out: W, colour: bool) -> Self {
        Self { out: std::io::BufWriter::new(out), colour, colours: HashMap::new() }
    }

    /// Prints one event.
    pub fn print(&mut self, source: &Source, timestamp: i64, message: &str) -> std::io::Result<()> {
        let time = berth_api::protocol::query::format_timestamp(timestamp as f64 / 1000.0);
        let message = message.strip_suffix('\n').unwrap_or(message);
        let prefix = format!("{}/{}", source.task_id, source.container);
        if self.colour {
            let next = PALETTE[self.colours.len() % PALETTE.len()];
            let code = *self.colours.entry(source.task_id.clone()).or_insert(next);
            writeln!(self.out, "\x1b[{code}m{prefix}\x1b[0m | {time} {message}")
        } else {
            writeln!(self.out, "{prefix} | {time} {message}")
        }
    }

    /// Writes out what is buffered.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(task: &str) -> Source {
        Source { task_id: task.into(), container: "app".into(), group: "/g".into(), stream: "s".into() }
    }

    fn printed(colour: bool) -> String {
        let mut out = Vec::new();
        {
            let mut printer = Printer::new(&mut out, colour);
            printer.print(&source("t1"), 1_795_960_800_123, "first\n").unwrap();
            printer.print(&source("t2"), 1_795_960_801_000, "second").unwrap();
            printer.print(&source("t1"), 1_795_960_802_000, "third").unwrap();
            printer.flush().unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn plain_lines_name_task_container_and_time() {
        assert_eq!(
            printed(false),
            "t1/app | 2026-11-29T14:00:00.123Z first\n\
             t2/app | 2026-11-29T14:00:01.000Z second\n\
             t1/app | 2026-11-29T14:00:02.000Z third\n"
        );
    }

    #[test]
    fn each_task_keeps_its_own_colour() {
        let text = printed(true);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("\x1b[36mt1/app\x1b[0m | "), "{text}");
        assert!(lines[1].starts_with("\x1b[33mt2/app\x1b[0m | "), "{text}");
        assert!(lines[2].starts_with("\x1b[36mt1/app\x1b[0m | "), "{text}");
    }
}
