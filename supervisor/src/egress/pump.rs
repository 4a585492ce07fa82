//! Copy bytes both ways between the sandbox's client and the upstream server, counting them,
//! until both sides are done, nothing has moved for the idle timeout, or the total time runs
//! out (the caller's deadline).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Bytes per read: large enough that a bulk download costs few wake-ups (64 KiB gave 64 % of
/// direct throughput on a 2-core host, 256 KiB 92 %); at most 20 connections hold two each.
const CHUNK: usize = 256 << 10;

#[derive(Debug, Default)]
pub struct Counts {
    pub up: AtomicU64,
    pub down: AtomicU64,
    /// Milliseconds since `start` at the last byte moved either way.
    last: AtomicU64,
}

async fn copy_one_way(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    counter: &AtomicU64,
    last: &AtomicU64,
    start: Instant,
) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
        counter.fetch_add(n as u64, Ordering::Relaxed);
        last.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
    // Pass the end-of-stream on, so half-closed protocols finish.
    let _ = to.shutdown().await;
}

/// Splice `client` and `upstream`. The session ends when the upstream side has finished
/// sending (a client that keeps its side open, such as an idle keep-alive connection, must not
/// hold a connection slot), or when nothing has moved for `idle`: then `Some("idle timeout")`.
pub async fn splice(
    client: TcpStream,
    upstream: TcpStream,
    idle: Duration,
    counts: Arc<Counts>,
) -> Option<&'static str> {
    let start = Instant::now();
    let (cr, cw) = client.into_split();
    let (ur, uw) = upstream.into_split();
    let both = async {
        let up = copy_one_way(cr, uw, &counts.up, &counts.last, start);
        let down = copy_one_way(ur, cw, &counts.down, &counts.last, start);
        tokio::pin!(up, down);
        // A client that half-closes first still gets the whole answer.
        tokio::select! {
            () = &mut down => {}
            () = &mut up => down.await,
        }
    };
    let watchdog = async {
        loop {
            let last = Duration::from_millis(counts.last.load(Ordering::Relaxed));
            let quiet_until = start + last + idle;
            if Instant::now() >= quiet_until {
                return;
            }
            tokio::time::sleep_until(quiet_until).await;
        }
    };
    tokio::select! {
        _ = both => None,
        () = watchdog => Some("idle timeout"),
    }
}
