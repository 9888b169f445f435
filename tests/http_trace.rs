//! The request log: tower-http's trace layer logs each request once, by its
//! matched route, with status and latency (a real server on port 0).

mod http_common;

use http_common::{Daemon, assert_error};

/// A log sink for one test: everything the subscriber writes, in memory.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

// The only test of this binary: the subscriber is global, set before any
// request runs (a thread's own subscriber can miss a span whose callsite
// another test registered at the same moment).
#[tokio::test]
async fn every_request_is_logged_once_with_its_route_status_and_latency() {
    let log = Captured::default();
    let sink = log.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish(),
    )
    .expect("the only subscriber of this test binary");
    let d = Daemon::local().await;
    let (c, b) = d.get("/api/swarms/ghost-swarm").await;
    assert_error(c, &b, 404, "HIVE_SWARM_NOT_FOUND");
    let (c, _) = d.get("/api/no/such/route").await;
    assert_eq!(c, 404);

    let text = log.text();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("request")).collect();
    let ghost: Vec<&&str> = lines.iter().filter(|l| l.contains("route=/api/swarms/{name}")).collect();
    assert_eq!(ghost.len(), 1, "one line for the request, by its matched route:\n{text}");
    assert!(
        ghost[0].contains("method=GET") && ghost[0].contains("status=404") && ghost[0].contains("latency="),
        "{text}"
    );
    assert!(!text.contains("ghost-swarm"), "the route is logged, not the raw path:\n{text}");
    assert!(lines.iter().any(|l| l.contains("route=-") && l.contains("status=404")), "unmatched: '-':\n{text}");
    d.shutdown().await;
}
