//! `berth-workload`: the container Berth's tests and benchmarks run.
//!
//! Background: the Docker Engine on a test machine has no images and reaches no registry, so tests build their own
//! image. This binary uses only `std` (plus `signal-hook` for a safe SIGTERM handler), is linked statically and
//! becomes the only file of a `FROM scratch` image (see `berth-testkit`'s `workload_image()`).
//!
//! Design: with no arguments (or `serve`) it is an HTTP/1.1 server on `0.0.0.0:$PORT` (default 8080):
//! - `GET /` the environment, hostname, pid and args as JSON;
//! - `GET /health` 200 `ok`, or 503 after `GET /sick` (until `GET /recover`) or while `/tmp/unhealthy` exists;
//! - `GET /exit?code=N` answers, then exits with N; `GET /burn?ms=N` spins a core for N ms (`?cpu_ms=N`: until
//!   it used N ms of CPU time); `GET /sleep?ms=N`;
//!   `GET /alloc?mb=N` allocates and touches N MiB and keeps it; `GET /stdout?line=...` and `GET /stderr?line=...`
//!   print a line, for log tests; `GET /fetch?url=http://...` GETs the URL from inside the container and answers
//!   with its status and body (for the task metadata endpoint); `GET /file?path=/...` answers a file's contents
//!   (for file-mode secrets); `GET /peer` answers the client's address as the container sees it;
//!   `GET /resolve?name=N&type=A|SRV` looks a name up through the container's `/etc/resolv.conf` (see `resolve`).
//!
//! Signals: SIGTERM (and SIGINT) make it exit promptly with `$SIGTERM_EXIT_CODE` (default 0). With
//! `IGNORE_SIGTERM=1` it installs a handler that only logs, so SIGTERM is ignored whether or not it is PID 1 and
//! `docker stop` has to wait for its timeout and SIGKILL (exit code 137). Without any handler, PID 1 in a container
//! would ignore SIGTERM silently, which is why a handler is always installed.
//!
//! Other modes, for scratch images with no shell: `healthcheck [URL]` (exit 0 on a 200, else 1; default URL
//! `http://127.0.0.1:$PORT/health`), `exit N`, `sleep SECS`, `lines COUNT [PER_SECOND [DELAY_MS]]` for log
//! shipping tests, and `exec-probe` for ECS Exec tests (see `probe`). `STARTUP_DELAY_MS` delays listening, to test
//! start-up ordering.

mod client;
mod http;
mod json;
mod probe;
mod resolve;
mod server;

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

const USAGE: &str = "usage: berth-workload [serve | healthcheck [URL] | exit CODE | sleep SECS | lines COUNT [PER_SECOND [DELAY_MS]] | exec-probe (print CODE WORD... | cat | winsize ROWSxCOLS)]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        [] | ["serve"] => serve(),
        ["healthcheck"] => healthcheck(&format!("http://127.0.0.1:{}/health", port())),
        ["healthcheck", url] => healthcheck(url),
        ["exit", code] => match code.parse::<u8>() {
            Ok(code) => ExitCode::from(code),
            Err(_) => usage_error(&format!("exit code must be 0-255, got {code:?}")),
        },
        ["sleep", secs] => match secs.parse::<f64>().ok().and_then(|s| Duration::try_from_secs_f64(s).ok()) {
            Some(d) => {
                std::thread::sleep(d);
                ExitCode::SUCCESS
            }
            None => usage_error(&format!("seconds must be a non-negative number, got {secs:?}")),
        },
        ["lines", rest @ ..] => lines(rest),
        ["exec-probe", rest @ ..] => probe::run(rest),
        ["-h" | "--help" | "help"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => usage_error("unknown arguments"),
    }
}

/// `lines COUNT [PER_SECOND [DELAY_MS]]`: after DELAY_MS, writes `line 1` to `line COUNT` to stdout (every
/// tenth to stderr), at most PER_SECOND a second (0 or absent: as fast as it can), then `done` and exits 0. For the
/// log shipping tests: each line is numbered, so a test can count what arrived.
#[allow(clippy::disallowed_methods)] // a std-only test container: it paces its writes on the system's clock
fn lines(args: &[&str]) -> ExitCode {
    use std::io::Write;
    let number = |i: usize, what: &str| match args.get(i).map(|a| a.parse::<u64>()) {
        None => Ok(0),
        Some(Ok(n)) => Ok(n),
        Some(Err(_)) => Err(usage_error(&format!("{what} must be a whole number"))),
    };
    let (count, rate, delay) = match (number(0, "COUNT"), number(1, "PER_SECOND"), number(2, "DELAY_MS")) {
        (Ok(c), Ok(r), Ok(d)) if !args.is_empty() && args.len() <= 3 => (c, r, d),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return e,
        _ => return usage_error("lines takes COUNT [PER_SECOND [DELAY_MS]]"),
    };
    std::thread::sleep(Duration::from_millis(delay));
    let started = std::time::Instant::now();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut err = std::io::stderr().lock();
    for i in 1..=count {
        let written = if i % 10 == 0 { writeln!(err, "line {i}") } else { writeln!(out, "line {i}") };
        if written.is_err() {
            return ExitCode::from(1);
        }
        if rate > 0 && i % 100 == 0 {
            let _ = out.flush();
            let due = Duration::from_secs_f64(i as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
    let _ = writeln!(out, "done");
    let _ = out.flush();
    ExitCode::SUCCESS
}

fn usage_error(why: &str) -> ExitCode {
    eprintln!("berth-workload: {why}\n{USAGE}");
    ExitCode::from(2)
}

fn env_flag(name: &str) -> bool {
    matches!(std::env::var(name).as_deref(), Ok("1" | "true" | "yes"))
}

fn port() -> u16 {
    std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(8080)
}

fn serve() -> ExitCode {
    if let Err(e) = install_signal_handlers() {
        eprintln!("berth-workload: cannot install signal handlers: {e}");
        return ExitCode::from(1);
    }
    if let Some(ms) = std::env::var("STARTUP_DELAY_MS").ok().and_then(|v| v.parse::<u64>().ok()) {
        println!("delaying start-up by {ms} ms");
        std::thread::sleep(Duration::from_millis(ms));
    }
    let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port()));
    let listener = match TcpListener::bind(addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("berth-workload: cannot listen on {addr}: {e}");
            return ExitCode::from(1);
        }
    };
    println!("berth-workload listening on {addr} (pid {})", std::process::id());
    match server::serve(listener, Arc::new(server::State::default())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth-workload: server failed: {e}");
            ExitCode::from(1)
        }
    }
}

/// Handles SIGTERM and SIGINT on a dedicated thread (signal-hook's self-pipe iterator).
fn install_signal_handlers() -> std::io::Result<()> {
    let ignore_sigterm = env_flag("IGNORE_SIGTERM");
    let exit_code = std::env::var("SIGTERM_EXIT_CODE").ok().and_then(|v| v.parse::<i32>().ok()).unwrap_or(0);
    let mut signals = Signals::new([SIGTERM, SIGINT])?;
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        for signal in signals.forever() {
            let name = if signal == SIGTERM { "SIGTERM" } else { "SIGINT" };
            if signal == SIGTERM && ignore_sigterm {
                println!("received {name}, ignoring it (IGNORE_SIGTERM=1)");
                continue;
            }
            println!("received {name}, exiting with code {exit_code}");
            std::process::exit(exit_code);
        }
    })?;
    Ok(())
}

fn healthcheck(url: &str) -> ExitCode {
    match client::get(url, Duration::from_secs(5)) {
        Ok((200, _)) => {
            println!("healthy: {url} answered 200");
            ExitCode::SUCCESS
        }
        Ok((status, body)) => {
            println!("unhealthy: {url} answered {status}: {}", body.trim());
            ExitCode::from(1)
        }
        Err(e) => {
            println!("unhealthy: {url}: {e}");
            ExitCode::from(1)
        }
    }
}
