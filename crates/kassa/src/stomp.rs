//! A minimal STOMP 1.2 client over TCP: connect (with an optional login), send one message and
//! wait for the broker's receipt, so a delivery counts only once the broker has taken it; and
//! subscribe, for reading a queue back (the tests). No crate was a fit: the maintained ones are
//! asynchronous frameworks of their own, and the protocol kassa needs is four frames.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A frame: its command, headers (decoded) and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub command: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Frame {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// STOMP 1.2 header escaping (not applied to CONNECT and CONNECTED frames).
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            ':' => out.push_str("\\c"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('c') => out.push(':'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

fn encode(command: &str, headers: &[(&str, &str)], body: &[u8], escaped: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + body.len());
    out.extend_from_slice(command.as_bytes());
    out.push(b'\n');
    for (k, v) in headers {
        let v = if escaped { escape(v) } else { (*v).to_owned() };
        out.extend_from_slice(k.as_bytes());
        out.push(b':');
        out.extend_from_slice(v.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(body);
    out.push(0);
    out
}

/// Parses one frame from the start of `buf` (after any heart-beat newlines); `None` while it is
/// incomplete, else the frame and how many bytes it took.
fn parse(buf: &[u8]) -> io::Result<Option<(Frame, usize)>> {
    let start = buf
        .iter()
        .position(|b| *b != b'\n' && *b != b'\r')
        .unwrap_or(buf.len());
    let rest = &buf[start..];
    let Some(head_end) = rest.windows(2).position(|w| w == b"\n\n").map(|p| p + 2) else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&rest[..head_end])
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "a STOMP frame head is not UTF-8"))?;
    let mut lines = head.lines().map(|l| l.trim_end_matches('\r'));
    let command = lines.next().unwrap_or_default().to_owned();
    let escaped = command != "CONNECTED";
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| {
            if escaped {
                (unescape(k), unescape(v))
            } else {
                (k.to_owned(), v.to_owned())
            }
        })
        .collect();
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let body_end = match length {
        Some(n) if rest.len() > head_end + n => head_end + n,
        Some(_) => return Ok(None),
        None => match rest[head_end..].iter().position(|b| *b == 0) {
            Some(p) => head_end + p,
            None => return Ok(None),
        },
    };
    if rest.get(body_end) != Some(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "a STOMP frame does not end in NUL",
        ));
    }
    let frame = Frame {
        command,
        headers,
        body: rest[head_end..body_end].to_vec(),
    };
    Ok(Some((frame, start + body_end + 1)))
}

/// One connection to a broker.
pub struct Connection {
    stream: TcpStream,
    buf: Vec<u8>,
    receipts: u64,
}

fn refused(frame: &Frame) -> io::Error {
    let message = frame.header("message").unwrap_or("no message");
    let detail = String::from_utf8_lossy(&frame.body);
    io::Error::other(format!("the broker answered ERROR: {message} {}", detail.trim()))
}

impl Connection {
    /// Connects and logs in (`CONNECT` with STOMP 1.2, no heart-beats); fails on `ERROR`.
    pub async fn open(host: &str, port: u16, login: Option<(&str, &str)>) -> io::Result<Self> {
        let stream = TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        let mut c = Self {
            stream,
            buf: Vec::new(),
            receipts: 0,
        };
        // `host` names the virtual host: RabbitMQ's default is `/`; ActiveMQ (Amazon MQ) ignores it.
        let vhost = "/";
        let mut headers = vec![("accept-version", "1.2"), ("host", vhost), ("heart-beat", "0,0")];
        if let Some((user, pass)) = login {
            headers.push(("login", user));
            headers.push(("passcode", pass));
        }
        c.stream
            .write_all(&encode("CONNECT", &headers, b"", false))
            .await?;
        let reply = c.next_frame().await?;
        match reply.command.as_str() {
            "CONNECTED" => Ok(c),
            "ERROR" => Err(refused(&reply)),
            other => Err(io::Error::other(format!(
                "the broker answered {other} to CONNECT"
            ))),
        }
    }

    /// The next frame from the broker.
    pub async fn next_frame(&mut self) -> io::Result<Frame> {
        loop {
            if let Some((frame, used)) = parse(&self.buf)? {
                self.buf.drain(..used);
                return Ok(frame);
            }
            let mut chunk = [0u8; 8192];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the broker closed the connection",
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends `body` to `destination` as a persistent JSON message with `headers`, and waits
    /// for the broker's `RECEIPT` (an `ERROR` fails).
    pub async fn send(&mut self, destination: &str, body: &[u8], headers: &[(&str, &str)]) -> io::Result<()> {
        self.receipts += 1;
        let receipt = self.receipts.to_string();
        let length = body.len().to_string();
        let mut all = vec![
            ("destination", destination),
            ("content-type", "application/json"),
            ("content-length", length.as_str()),
            ("persistent", "true"),
            ("receipt", receipt.as_str()),
        ];
        all.extend_from_slice(headers);
        self.stream.write_all(&encode("SEND", &all, body, true)).await?;
        loop {
            let frame = self.next_frame().await?;
            match frame.command.as_str() {
                "RECEIPT" if frame.header("receipt-id") == Some(receipt.as_str()) => return Ok(()),
                "ERROR" => return Err(refused(&frame)),
                _ => {}
            }
        }
    }

    /// Subscribes to `destination` with automatic acknowledgement.
    pub async fn subscribe(&mut self, destination: &str) -> io::Result<()> {
        self.stream
            .write_all(&encode(
                "SUBSCRIBE",
                &[("id", "0"), ("destination", destination), ("ack", "auto")],
                b"",
                true,
            ))
            .await
    }

    /// The next `MESSAGE`, or `None` if none comes within `wait`.
    pub async fn next_message(&mut self, wait: Duration) -> io::Result<Option<Frame>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.next_frame()).await {
                Err(_) => return Ok(None),
                Ok(Err(e)) => return Err(e),
                Ok(Ok(f)) if f.command == "MESSAGE" => return Ok(Some(f)),
                Ok(Ok(f)) if f.command == "ERROR" => return Err(refused(&f)),
                Ok(Ok(_)) => {}
            }
        }
    }

    /// Says goodbye (without waiting for a receipt) and closes.
    pub async fn close(mut self) {
        let _ = self.stream.write_all(&encode("DISCONNECT", &[], b"", true)).await;
        let _ = self.stream.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_with_escaped_headers_and_heartbeats() {
        let bytes = encode(
            "MESSAGE",
            &[("destination", "/queue/a:b"), ("x", "line\nbreak")],
            b"{\"a\":1}",
            true,
        );
        let mut stream = b"\n\r\n".to_vec();
        stream.extend_from_slice(&bytes);
        stream.extend_from_slice(b"RECEIPT\nreceipt-id:7\n\n\0");
        let (frame, used) = parse(&stream).unwrap().unwrap();
        assert_eq!(frame.command, "MESSAGE");
        assert_eq!(frame.header("destination"), Some("/queue/a:b"));
        assert_eq!(frame.header("x"), Some("line\nbreak"));
        assert_eq!(frame.body, b"{\"a\":1}");
        let (receipt, _) = parse(&stream[used..]).unwrap().unwrap();
        assert_eq!(receipt.header("receipt-id"), Some("7"));
        // Incomplete frames wait for more bytes.
        assert!(parse(&bytes[..bytes.len() - 1]).unwrap().is_none());
        assert!(parse(b"SEND\ncontent-length:5\n\nab").unwrap().is_none());
        // A body with a NUL inside, delimited by content-length.
        let (f, _) = parse(b"MESSAGE\ncontent-length:3\n\na\0b\0").unwrap().unwrap();
        assert_eq!(f.body, b"a\0b");
    }
}
