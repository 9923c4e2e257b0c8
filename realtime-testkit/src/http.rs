//! Just enough HTTP/1.1 for a fake on loopback: read one request (head and `Content-Length`
//! body) from a socket, write one response, and POST a webhook to a plain `http://` URL.
//! Every read is bounded in size and time.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest request head read.
const MAX_HEAD: usize = 64 * 1024;
/// Largest request or response body read.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// One request as read.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) method: String,
    /// The path without the query.
    pub(crate) path: String,
    pub(crate) query: String,
    /// Lowercase names.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A query parameter (not percent-decoded: ids and model names need none).
    pub(crate) fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// Whether this asks to become a WebSocket.
    pub(crate) fn is_upgrade(&self) -> bool {
        self.header("upgrade")
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
    }
}

/// Reads one request. `None` when the peer sent something that is not HTTP, too much, or
/// closed before finishing.
pub(crate) async fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let (head_len, mut req) = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Request::new(&mut headers);
        match parsed.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let target = parsed.path.unwrap_or("/");
                let (path, query) = target.split_once('?').unwrap_or((target, ""));
                let req = Request {
                    method: parsed.method.unwrap_or("GET").to_owned(),
                    path: path.to_owned(),
                    query: query.to_owned(),
                    headers: parsed
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_ascii_lowercase(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect(),
                    body: Vec::new(),
                };
                break (len, req);
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => continue,
            _ => return None,
        }
    };
    let length: usize = req
        .header("content-length")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    if length > MAX_BODY {
        return None;
    }
    let mut body = buf.split_off(head_len);
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    req.body = body;
    Some(req)
}

fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        _ => "Error",
    }
}

/// Writes a response with a JSON body (or none) and closes the exchange.
pub(crate) async fn write_response(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<()> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if status != 101 {
        out.push_str(&format!(
            "content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
            body.len()
        ));
    }
    out.push_str("\r\n");
    out.push_str(body);
    stream.write_all(out.as_bytes()).await?;
    stream.flush().await
}

/// Why a POST failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PostError {
    /// Only `http://host:port/path` URLs are supported.
    BadUrl(String),
    /// Connecting, writing or reading failed.
    Io(String),
    /// No answer within the time allowed.
    Timeout,
}

impl std::fmt::Display for PostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PostError::BadUrl(u) => write!(
                f,
                "unsupported webhook URL {u:?} (use http://host:port/path)"
            ),
            PostError::Io(e) => write!(f, "webhook delivery failed: {e}"),
            PostError::Timeout => write!(f, "the webhook receiver did not answer in time"),
        }
    }
}

/// POSTs a JSON body to `url` with extra headers; returns the response status and body.
pub(crate) async fn post(
    url: &str,
    headers: &[(String, String)],
    body: &str,
    timeout: Duration,
) -> Result<(u16, String), PostError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| PostError::BadUrl(url.to_owned()))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let exchange = async {
        let mut stream = TcpStream::connect(authority)
            .await
            .map_err(|e| PostError::Io(e.to_string()))?;
        let mut out = format!(
            "POST {path} HTTP/1.1\r\nhost: {authority}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\nuser-agent: realtime-testkit\r\n",
            body.len()
        );
        for (k, v) in headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        out.push_str(body);
        stream
            .write_all(out.as_bytes())
            .await
            .map_err(|e| PostError::Io(e.to_string()))?;
        let mut answer = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = stream
                .read(&mut chunk)
                .await
                .map_err(|e| PostError::Io(e.to_string()))?;
            if n == 0 || answer.len() > MAX_BODY {
                break;
            }
            answer.extend_from_slice(&chunk[..n]);
            let mut h = [httparse::EMPTY_HEADER; 64];
            let mut resp = httparse::Response::new(&mut h);
            if let Ok(httparse::Status::Complete(len)) = resp.parse(&answer) {
                let length = resp
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok());
                if length.is_some_and(|l: usize| answer.len() >= len + l) {
                    break;
                }
            }
        }
        let mut h = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut h);
        match resp.parse(&answer) {
            Ok(httparse::Status::Complete(len)) => Ok((
                resp.code.unwrap_or(0),
                String::from_utf8_lossy(&answer[len..]).into_owned(),
            )),
            _ => Err(PostError::Io("the receiver's answer is not HTTP".into())),
        }
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| PostError::Timeout)?
}
