//! The `serve` protocol (supervisor/src/server/protocol.rs and the daemon's line reader): the
//! first byte picks the buffer size of the reader; the rest is a client's byte stream, split
//! into lines with a small line limit exactly as the daemon splits a connection, and each line
//! goes through `protocol::parse`.
//!
//! Asserts: no panic; the lines the reader returns are the input's `\n`-separated pieces, each
//! either whole (at most the limit) or reported too long with its exact length; a parsed
//! request serialises and parses back to itself; every error becomes an `error` event that is
//! one JSON line naming its code, with a one-line message.

#![no_main]

use libfuzzer_sys::fuzz_target;
use missy_supervisor::server::lines::{Line, next_line};
use missy_supervisor::server::protocol::{self, Event};

const LIMIT: usize = 256;

fn check_line(line: &[u8]) {
    match protocol::parse(line) {
        Ok(request) => {
            let again = serde_json::to_vec(&request).expect("a request serialises");
            let back = protocol::parse(&again).expect("a serialised request parses");
            assert_eq!(back, request);
        }
        Err(e) => {
            assert!(!e.message.contains('\n'), "multi-line message: {:?}", e.message);
            let encoded = protocol::encode(&e.event());
            assert_eq!(encoded.iter().filter(|b| **b == b'\n').count(), 1);
            assert_eq!(encoded.last(), Some(&b'\n'));
            let value: serde_json::Value = serde_json::from_slice(&encoded).expect("JSON");
            assert_eq!(value["type"], "error");
            assert!(value["code"].is_string());
            let _: Event = serde_json::from_slice(&encoded).expect("an event");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, stream)) = data.split_first() else {
        return;
    };
    let capacity = usize::from(first % 64) + 1;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut reader = tokio::io::BufReader::with_capacity(capacity, stream);
    let mut expected: Vec<&[u8]> = stream.split(|b| *b == b'\n').collect();
    // A trailing newline ends the last line; it does not start an empty one.
    if expected.last().is_some_and(|l| l.is_empty()) {
        expected.pop();
    }
    for want in expected {
        let got = runtime
            .block_on(next_line(&mut reader, LIMIT))
            .expect("reading memory cannot fail");
        match got {
            Line::Text(line) => {
                assert_eq!(line, want);
                check_line(&line);
            }
            Line::TooLong(n) => {
                assert!(want.len() > LIMIT);
                assert_eq!(n, want.len());
            }
            Line::Eof => panic!("end of stream before every line was read"),
        }
    }
    assert_eq!(runtime.block_on(next_line(&mut reader, LIMIT)).unwrap(), Line::Eof);
});
