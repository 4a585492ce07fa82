//! A run's output pipes relayed to its client as `stdout` and `stderr` events.

use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use super::daemon::send;
use super::protocol::{Chunk, Event};

/// Read size for a run's output pipes.
const CHUNK: usize = 64 * 1024;

/// Relay one output pipe as `stdout`/`stderr` events. A chunk ends at a UTF-8 character
/// boundary when it can, so text travels as text.
pub async fn pump(
    mut pipe: tokio::net::unix::pipe::Receiver,
    id: &str,
    tx: &mpsc::Sender<Vec<u8>>,
    stderr: bool,
) {
    let mut buf = vec![0u8; CHUNK];
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let n = match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        carry.extend_from_slice(&buf[..n]);
        let keep = incomplete_tail(&carry);
        let now: Vec<u8> = carry.drain(..carry.len() - keep).collect();
        if !now.is_empty() {
            emit(tx, id, &now, stderr).await;
        }
    }
    if !carry.is_empty() {
        emit(tx, id, &carry, stderr).await;
    }
}

async fn emit(tx: &mpsc::Sender<Vec<u8>>, id: &str, bytes: &[u8], stderr: bool) {
    let chunk = Chunk::new(id, bytes);
    let event = if stderr {
        Event::Stderr(chunk)
    } else {
        Event::Stdout(chunk)
    };
    send(tx, &event).await;
}

/// How many trailing bytes are the start of a UTF-8 character cut by the read (kept for the
/// next chunk); 0 when the bytes are not UTF-8 anyway.
fn incomplete_tail(bytes: &[u8]) -> usize {
    match std::str::from_utf8(bytes) {
        Ok(_) => 0,
        Err(e) if e.error_len().is_none() && bytes.len() - e.valid_up_to() < 4 => {
            bytes.len() - e.valid_up_to()
        }
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_characters_wait_for_their_rest() {
        assert_eq!(incomplete_tail("aé".as_bytes()), 0);
        assert_eq!(incomplete_tail(&"aé".as_bytes()[..2]), 1);
        assert_eq!(incomplete_tail(&[0xff, b'a']), 0);
    }
}
