//! `exec-probe`: commands for ECS Exec tests in an image with no shell.
//!
//! - `exec-probe print CODE WORD...`: prints `args: WORD...` on standard output and `stderr line` on standard
//!   error, then exits with CODE.
//! - `exec-probe cat`: copies standard input to standard output until its end, then prints `<eof>` and exits 0.
//! - `exec-probe winsize ROWSxCOLS`: prints `tty=<bool> size=<rows>x<cols>` now and after each SIGWINCH, and
//!   exits 0 once the terminal has that size.

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

use signal_hook::consts::SIGWINCH;
use signal_hook::iterator::Signals;

/// Runs `exec-probe` with its arguments.
pub fn run(args: &[&str]) -> ExitCode {
    match args {
        ["print", code, words @ ..] => match code.parse::<u8>() {
            Ok(code) => {
                println!("args: {}", words.join(" "));
                eprintln!("stderr line");
                ExitCode::from(code)
            }
            Err(_) => crate::usage_error(&format!("exit code must be 0-255, got {code:?}")),
        },
        ["cat"] => cat(),
        ["winsize", target] => winsize(target),
        _ => crate::usage_error("exec-probe takes print CODE WORD..., cat, or winsize ROWSxCOLS"),
    }
}

fn cat() -> ExitCode {
    let mut input = std::io::stdin().lock();
    let mut output = std::io::stdout().lock();
    let mut buf = [0u8; 8192];
    loop {
        match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if output.write_all(&buf[..n]).and_then(|()| output.flush()).is_err() {
                    return ExitCode::from(1);
                }
            }
            Err(e) => {
                eprintln!("exec-probe: reading stdin: {e}");
                return ExitCode::from(1);
            }
        }
    }
    println!("<eof>");
    ExitCode::SUCCESS
}

/// The terminal's size as `<rows>x<cols>`.
fn size() -> String {
    match rustix::termios::tcgetwinsize(std::io::stdout()) {
        Ok(w) => format!("{}x{}", w.ws_row, w.ws_col),
        Err(e) => format!("unknown ({e})"),
    }
}

fn winsize(target: &str) -> ExitCode {
    let mut signals = match Signals::new([SIGWINCH]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("exec-probe: cannot handle SIGWINCH: {e}");
            return ExitCode::from(1);
        }
    };
    let tty = std::io::stdout().is_terminal();
    // A terminal in its default mode turns "\n" into "\r\n"; the tests read lines either way.
    let print = || {
        let size = size();
        println!("tty={tty} size={size}");
        let _ = std::io::stdout().flush();
        size == target
    };
    if print() {
        return ExitCode::SUCCESS;
    }
    for _ in signals.forever() {
        if print() {
            break;
        }
    }
    ExitCode::SUCCESS
}
