//! Reading newline-framed messages with a length limit: shared by the daemon's protocol, the
//! MCP server and the MCP gateway (both of its sides). A line over the limit is consumed up to
//! its newline and reported by its length, so one oversized message never stops the reader.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// One line read with a length limit.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    Text(Vec<u8>),
    /// Longer than the limit: skipped up to its newline; its length.
    TooLong(usize),
    Eof,
}

/// Read the next line of at most `max` bytes (newline excluded); a longer one is consumed up
/// to its newline without being kept. A last line without a newline counts as a line. Public
/// for the protocol fuzz target.
pub async fn next_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> std::io::Result<Line> {
    Ok(match next_line_keeping_ends(reader, max, 0).await? {
        Bounded::Text(line) => Line::Text(line),
        Bounded::TooLong { length, .. } => Line::TooLong(length),
        Bounded::Eof => Line::Eof,
    })
}

/// [`next_line`]'s answer, with the first and last `ends` bytes of a line over the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bounded {
    Text(Vec<u8>),
    TooLong {
        length: usize,
        head: Vec<u8>,
        tail: Vec<u8>,
    },
    Eof,
}

/// [`next_line`], keeping the first and last `ends` bytes of a line over the limit (where an
/// MCP gateway finds the id of a response too large to read).
pub async fn next_line_keeping_ends<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max: usize,
    ends: usize,
) -> std::io::Result<Bounded> {
    let mut line = Vec::new();
    let mut length = 0usize;
    let mut seen = false;
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(match (seen, length > max) {
                (false, _) => Bounded::Eof,
                (true, true) => too_long(length, line, tail, ends),
                (true, false) => Bounded::Text(line),
            });
        }
        seen = true;
        let (part, used, done) = match memchr::memchr(b'\n', available) {
            Some(at) => (&available[..at], at + 1, true),
            None => (available, available.len(), false),
        };
        length += part.len();
        if length <= max {
            line.extend_from_slice(part);
        } else if ends > 0 {
            // Over the limit: keep the head (what was read so far, cut) and a rolling tail.
            line.truncate(ends);
            tail.extend_from_slice(part);
            if tail.len() > 2 * ends.max(4096) {
                tail.drain(..tail.len() - ends);
            }
        } else {
            line = Vec::new();
        }
        reader.consume(used);
        if done {
            return Ok(if length > max {
                too_long(length, line, tail, ends)
            } else {
                Bounded::Text(line)
            });
        }
    }
}

fn too_long(length: usize, mut head: Vec<u8>, mut tail: Vec<u8>, ends: usize) -> Bounded {
    head.truncate(ends);
    if tail.len() > ends {
        tail.drain(..tail.len() - ends);
    }
    Bounded::TooLong { length, head, tail }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::BufReader;

    #[tokio::test]
    async fn lines_over_the_limit_are_skipped_and_reading_goes_on() {
        let input: &[u8] = b"short\nthis line is too long\nok\nlast";
        let mut reader = BufReader::with_capacity(4, input);
        assert_eq!(
            next_line(&mut reader, 8).await.unwrap(),
            Line::Text(b"short".to_vec())
        );
        assert_eq!(next_line(&mut reader, 8).await.unwrap(), Line::TooLong(21));
        assert_eq!(
            next_line(&mut reader, 8).await.unwrap(),
            Line::Text(b"ok".to_vec())
        );
        assert_eq!(
            next_line(&mut reader, 8).await.unwrap(),
            Line::Text(b"last".to_vec())
        );
        assert_eq!(next_line(&mut reader, 8).await.unwrap(), Line::Eof);
    }

    #[tokio::test]
    async fn a_line_over_the_limit_keeps_its_ends() {
        let input: &[u8] = b"{\"id\":7,\"result\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}\nnext\n";
        let mut reader = BufReader::with_capacity(8, input);
        let Bounded::TooLong { length, head, tail } =
            next_line_keeping_ends(&mut reader, 16, 8).await.unwrap()
        else {
            panic!("expected a line over the limit")
        };
        assert_eq!(length, 52);
        assert_eq!(head, b"{\"id\":7,");
        assert_eq!(tail, b"xxxxxx\"}");
        assert_eq!(
            next_line_keeping_ends(&mut reader, 16, 8).await.unwrap(),
            Bounded::Text(b"next".to_vec())
        );
    }
}
