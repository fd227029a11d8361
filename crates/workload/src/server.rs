//! The HTTP server: one thread per connection, HTTP/1.1 keep-alive, and the endpoints tests use to steer the
//! workload (health flips, exit codes, CPU burn, memory, log lines).

use std::io::{self, Read};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::http::{self, ParseError, Request, Response};
use crate::json;

/// The file whose existence makes `/health` answer 503.
pub const UNHEALTHY_FILE: &str = "/tmp/unhealthy";

/// How long an idle keep-alive connection is kept.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// What a request asks the process to do after answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Keep serving.
    Continue,
    /// Exit the process with this code.
    Exit(i32),
}

/// Shared state of the server.
#[derive(Debug, Default)]
pub struct State {
    /// Set by `/sick`, cleared by `/recover`.
    sick: AtomicBool,
    /// Memory held by `/alloc`, kept until the process exits.
    held: Mutex<Vec<Vec<u8>>>,
}

/// Accepts connections on `listener` forever, one thread each.
pub fn serve(listener: TcpListener, state: Arc<State>) -> io::Result<()> {
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                eprintln!("accept failed: {e}");
                continue;
            }
        };
        let state = Arc::clone(&state);
        let spawned = std::thread::Builder::new().name("conn".into()).spawn(move || {
            if let Err(e) = handle_connection(stream, &state)
                && !matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
            {
                eprintln!("connection error: {e}");
            }
        });
        if let Err(e) = spawned {
            eprintln!("cannot spawn a connection thread: {e}");
        }
    }
    Ok(())
}

fn handle_connection(mut stream: TcpStream, state: &State) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    stream.set_nodelay(true)?;
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let (request, used) = loop {
            match http::parse_head(&buf) {
                Ok(Some(parsed)) => break parsed,
                Ok(None) => {}
                Err(e) => {
                    let response = match e {
                        ParseError::TooLarge => Response::text(431, "request head too large"),
                        ParseError::Malformed(why) => Response::text(400, why),
                    };
                    return http::write_response(&mut stream, &response, false, false);
                }
            }
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        buf.drain(..used);
        let Ok(body_len) = request.content_length() else {
            return http::write_response(&mut stream, &Response::text(400, "bad content-length"), false, false);
        };
        if request.header("transfer-encoding").is_some() {
            return http::write_response(&mut stream, &Response::text(400, "chunked bodies unsupported"), false, false);
        }
        discard_body(&mut stream, &mut buf, body_len, &mut chunk)?;
        let keep_alive = request.keep_alive();
        let (response, after) = if request.path == "/peer" {
            // Who connected, as this container sees it (whether a source address was translated on the way).
            let peer = stream.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default();
            (Response::text(200, peer), After::Continue)
        } else {
            route(&request, state)
        };
        http::write_response(&mut stream, &response, keep_alive, request.method == "HEAD")?;
        if let After::Exit(code) = after {
            // Let the kernel deliver the answer before the process goes.
            std::thread::sleep(Duration::from_millis(50));
            println!("exiting with code {code} as asked");
            std::process::exit(code);
        }
        if !keep_alive {
            return Ok(());
        }
    }
}

fn discard_body(stream: &mut TcpStream, buf: &mut Vec<u8>, len: usize, chunk: &mut [u8]) -> io::Result<()> {
    let mut remaining = len;
    let from_buf = remaining.min(buf.len());
    buf.drain(..from_buf);
    remaining -= from_buf;
    while remaining > 0 {
        let n = stream.read(chunk)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "body cut short"));
        }
        let used = n.min(remaining);
        remaining -= used;
        buf.extend_from_slice(&chunk[used..n]);
    }
    Ok(())
}

/// Answers one request.
pub fn route(request: &Request, state: &State) -> (Response, After) {
    if request.method != "GET" && request.method != "HEAD" {
        return (Response::text(405, "only GET and HEAD"), After::Continue);
    }
    let response = match request.path.as_str() {
        "/" => Response::json(200, describe_self()),
        "/health" => {
            if state.sick.load(Ordering::SeqCst) || Path::new(UNHEALTHY_FILE).exists() {
                Response::text(503, "unhealthy")
            } else {
                Response::text(200, "ok")
            }
        }
        "/sick" => {
            state.sick.store(true, Ordering::SeqCst);
            Response::text(200, "now unhealthy")
        }
        "/recover" => {
            state.sick.store(false, Ordering::SeqCst);
            Response::text(200, "now healthy")
        }
        "/exit" => {
            return match number::<i32>(request, "code", 0) {
                Ok(code) => (Response::text(200, format!("exiting with code {code}")), After::Exit(code)),
                Err(r) => (r, After::Continue),
            };
        }
        "/burn" if request.param("cpu_ms").is_some() => match number::<u64>(request, "cpu_ms", 100) {
            Ok(ms) => Response::text(200, burn_cpu(Duration::from_millis(ms)).to_string()),
            Err(r) => r,
        },
        "/burn" => match number::<u64>(request, "ms", 100) {
            Ok(ms) => Response::text(200, burn(Duration::from_millis(ms)).to_string()),
            Err(r) => r,
        },
        "/sleep" => match number::<u64>(request, "ms", 100) {
            Ok(ms) => {
                std::thread::sleep(Duration::from_millis(ms));
                Response::text(200, format!("slept {ms} ms"))
            }
            Err(r) => r,
        },
        "/alloc" => match number::<usize>(request, "mb", 1) {
            Ok(mb) => alloc(state, mb),
            Err(r) => r,
        },
        "/stdout" => {
            println!("{}", request.param("line").unwrap_or_default());
            Response::text(200, "ok")
        }
        "/resolve" => {
            // A lookup through the container's resolver configuration (its /etc/resolv.conf), or timed lookups.
            let server = request.param("server").map(|s| s.parse::<std::net::SocketAddr>());
            let repeat = request.param("repeat").map(|n| n.parse::<usize>());
            match (request.param("name"), request.param("type").unwrap_or("A"), server, repeat) {
                (_, _, Some(Err(_)), _) | (_, _, _, Some(Err(_))) => {
                    Response::text(400, "server must be IP:PORT and repeat a number")
                }
                (Some(name), "A", server, Some(Ok(count))) => {
                    let (status, body) = crate::resolve::timed(name, server.and_then(Result::ok), count.min(100_000));
                    Response::text(status, body)
                }
                (Some(name), kind @ ("A" | "SRV"), server, None) => {
                    let kind = if kind == "A" { crate::resolve::Kind::A } else { crate::resolve::Kind::Srv };
                    let (status, body) = crate::resolve::resolve(name, kind, server.and_then(Result::ok));
                    Response::text(status, body)
                }
                _ => Response::text(400, "resolve needs ?name= and type A or SRV (repeat: A only)"),
            }
        }
        "/fetch" => match request.param("url") {
            // An HTTP GET from inside the container (e.g. of the task metadata endpoint), answered as it came.
            Some(url) => match crate::client::get(url, Duration::from_secs(5)) {
                Ok((status, body)) => Response::text(status, body),
                Err(e) => Response::text(502, format!("GET {url}: {e}")),
            },
            None => Response::text(400, "fetch needs ?url="),
        },
        "/stderr" => {
            eprintln!("{}", request.param("line").unwrap_or_default());
            Response::text(200, "ok")
        }
        "/file" => match request.param("path") {
            // A file's contents as seen inside the container (e.g. a file-mode secret).
            Some(path) => match std::fs::read_to_string(path) {
                Ok(text) => Response::text(200, text),
                Err(e) => Response::text(404, format!("read {path}: {e}")),
            },
            None => Response::text(400, "file needs ?path="),
        },
        _ => Response::text(404, format!("no route for {}", request.path)),
    };
    (response, After::Continue)
}

/// Reads the query parameter `name` as a number, `default` when absent.
fn number<T: std::str::FromStr>(request: &Request, name: &str, default: T) -> Result<T, Response> {
    match request.param(name) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| Response::text(400, format!("{name} must be a number, got {v:?}"))),
    }
}

/// `{"env": {...}, "hostname": "...", "pid": N, "args": [...]}`, env sorted by name.
pub fn describe_self() -> String {
    let mut env: Vec<(String, String)> = std::env::vars_os()
        .map(|(k, v)| (k.to_string_lossy().into_owned(), v.to_string_lossy().into_owned()))
        .collect();
    env.sort();
    let args: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    let mut out = String::from("{\"env\":");
    json::push_object(&mut out, env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    out.push_str(",\"hostname\":");
    json::push_string(&mut out, &hostname());
    out.push_str(&format!(",\"pid\":{},\"args\":", std::process::id()));
    json::push_array(&mut out, args.iter().map(String::as_str));
    out.push('}');
    out
}

/// The UTS hostname, read from procfs (no libc call needed).
pub fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".to_string())
}

/// Spins for `duration` and returns how many iterations it did. A timer thread says when the time is up, so the
/// spinning loop reads no clock.
pub fn burn(duration: Duration) -> u64 {
    let done = Arc::new(AtomicBool::new(false));
    let timer = {
        let done = done.clone();
        std::thread::spawn(move || {
            std::thread::sleep(duration);
            done.store(true, Ordering::Release);
        })
    };
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut iterations: u64 = 0;
    loop {
        for _ in 0..1024 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        iterations += 1024;
        std::hint::black_box(x);
        if done.load(Ordering::Acquire) {
            let _ = timer.join();
            return iterations;
        }
    }
}

/// Spins until this thread has used `cpu` of CPU time (however long that takes on a busy host), and returns how
/// many iterations it did: a load that does not shrink when the container gets less than a core.
pub fn burn_cpu(cpu: Duration) -> u64 {
    let used = || {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        Duration::new(u64::try_from(t.tv_sec).unwrap_or(0), u32::try_from(t.tv_nsec).unwrap_or(0))
    };
    let until = used() + cpu;
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut iterations: u64 = 0;
    while used() < until {
        for _ in 0..4096 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        iterations += 4096;
        std::hint::black_box(x);
    }
    iterations
}

fn alloc(state: &State, mb: usize) -> Response {
    let Some(len) = mb.checked_mul(1024 * 1024) else {
        return Response::text(400, "mb too large");
    };
    let mut block = vec![0u8; len];
    // Touch every page so the memory is really resident (and counted by the cgroup).
    for i in (0..len).step_by(4096) {
        block[i] = 1;
    }
    let mut held = state.held.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    held.push(block);
    let total: usize = held.iter().map(Vec::len).sum::<usize>() / (1024 * 1024);
    Response::text(200, format!("allocated {mb} MiB, holding {total} MiB"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(target: &str) -> Request {
        let raw = format!("GET {target} HTTP/1.1\r\n\r\n");
        match http::parse_head(raw.as_bytes()) {
            Ok(Some((r, _))) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn routes_health_flip() {
        let state = State::default();
        assert_eq!(route(&get("/health"), &state).0.status, 200);
        route(&get("/sick"), &state);
        assert_eq!(route(&get("/health"), &state).0.status, 503);
        route(&get("/recover"), &state);
        assert_eq!(route(&get("/health"), &state).0.status, 200);
    }

    #[test]
    fn routes_exit_burn_alloc_and_errors() {
        let state = State::default();
        assert_eq!(route(&get("/exit?code=3"), &state).1, After::Exit(3));
        assert_eq!(route(&get("/exit?code=x"), &state).0.status, 400);
        let (r, _) = route(&get("/burn?ms=5"), &state);
        assert!(r.body.trim().parse::<u64>().unwrap() > 0);
        let (r, _) = route(&get("/alloc?mb=2"), &state);
        assert!(r.body.contains("holding 2 MiB"), "{}", r.body);
        assert_eq!(route(&get("/nope"), &state).0.status, 404);
        assert_eq!(route(&get("/file?path=/proc/self/nonexistent"), &state).0.status, 404);
        assert_eq!(route(&get("/file"), &state).0.status, 400);
        let post = Request { method: "POST".into(), ..get("/") };
        assert_eq!(route(&post, &state).0.status, 405);
    }

    #[test]
    fn describes_itself_as_json() {
        let body = describe_self();
        assert!(body.starts_with("{\"env\":{"));
        assert!(body.contains(&format!("\"pid\":{}", std::process::id())));
        assert!(body.contains("\"args\":[\""));
        assert!(body.ends_with("]}"));
    }
}
