//! The SOCKS5 side of the proxy (RFC 1928): no authentication, the CONNECT command only, and
//! domain names resolved by the supervisor (`socks5h://`). Every read is of a known, bounded size.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::policy::{Denied, Host, parse_host};

pub const VERSION: u8 = 5;
const NO_AUTH: u8 = 0;
const NO_ACCEPTABLE_METHOD: u8 = 0xff;
const CMD_CONNECT: u8 = 1;

/// Reply codes.
pub const SUCCEEDED: u8 = 0;
pub const GENERAL_FAILURE: u8 = 1;
pub const NOT_ALLOWED_BY_RULESET: u8 = 2;
pub const HOST_UNREACHABLE: u8 = 4;
pub const COMMAND_NOT_SUPPORTED: u8 = 7;
pub const ADDRESS_TYPE_NOT_SUPPORTED: u8 = 8;

/// A request that could not be taken: the reply code and the reason for the event log.
#[derive(Debug)]
pub struct Rejected {
    pub code: u8,
    pub denied: Denied,
}

fn rejected(code: u8, why: impl Into<String>) -> Rejected {
    Rejected {
        code,
        denied: Denied::Protocol(why.into()),
    }
}

/// Method negotiation and the request. The first byte (the version) was already read.
/// Generic over the stream so the fuzz targets can drive it from memory.
pub async fn handshake<S>(stream: &mut S) -> Result<(Host, u16), Rejected>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let io = |e: std::io::Error| rejected(GENERAL_FAILURE, format!("socks5 handshake: {e}"));
    let nmethods = stream.read_u8().await.map_err(io)?;
    let mut methods = vec![0u8; usize::from(nmethods)];
    stream.read_exact(&mut methods).await.map_err(io)?;
    if !methods.contains(&NO_AUTH) {
        let _ = stream.write_all(&[VERSION, NO_ACCEPTABLE_METHOD]).await;
        return Err(rejected(
            GENERAL_FAILURE,
            "socks5 client offers no method without authentication",
        ));
    }
    stream.write_all(&[VERSION, NO_AUTH]).await.map_err(io)?;
    let mut head = [0u8; 4];
    stream.read_exact(&mut head).await.map_err(io)?;
    let [version, cmd, _reserved, atyp] = head;
    if version != VERSION {
        return Err(rejected(
            GENERAL_FAILURE,
            "socks5 request with a bad version",
        ));
    }
    if cmd != CMD_CONNECT {
        return Err(rejected(
            COMMAND_NOT_SUPPORTED,
            format!("socks5 command {cmd} is not supported (CONNECT only)"),
        ));
    }
    let host = match atyp {
        1 => {
            let mut a = [0u8; 4];
            stream.read_exact(&mut a).await.map_err(io)?;
            Host::Ip(IpAddr::V4(Ipv4Addr::from(a)))
        }
        3 => {
            let len = stream.read_u8().await.map_err(io)?;
            let mut name = vec![0u8; usize::from(len)];
            stream.read_exact(&mut name).await.map_err(io)?;
            let name = String::from_utf8(name)
                .map_err(|_| rejected(GENERAL_FAILURE, "socks5 domain name is not UTF-8"))?;
            parse_host(&name).map_err(|denied| Rejected {
                code: NOT_ALLOWED_BY_RULESET,
                denied,
            })?
        }
        4 => {
            let mut a = [0u8; 16];
            stream.read_exact(&mut a).await.map_err(io)?;
            Host::Ip(IpAddr::V6(Ipv6Addr::from(a)).to_canonical())
        }
        other => {
            return Err(rejected(
                ADDRESS_TYPE_NOT_SUPPORTED,
                format!("socks5 address type {other} is not supported"),
            ));
        }
    };
    let port = stream.read_u16().await.map_err(io)?;
    Ok((host, port))
}

/// The reply to a CONNECT request (the bound address is not meaningful through this proxy).
pub async fn reply(stream: &mut TcpStream, code: u8) -> std::io::Result<()> {
    stream
        .write_all(&[VERSION, code, 0, 1, 0, 0, 0, 0, 0, 0])
        .await
}

/// The reply code for a failed connection.
pub fn code_for(denied: &Denied) -> u8 {
    match denied {
        d if d.is_refusal() => NOT_ALLOWED_BY_RULESET,
        Denied::Resolve { .. } => HOST_UNREACHABLE,
        _ => GENERAL_FAILURE,
    }
}
