//! The few REST calls the Realtime API has beside its WebSocket (ephemeral client secrets, SIP
//! call control), over the same TLS and auth as the connection: one HTTP/1.1 POST per call,
//! JSON in and out, bounded in size and time. Non-2xx answers become
//! [`TransportError::Rejected`] with OpenAI's error message and code.

use crate::auth::{Auth, AuthHeader};
use crate::config::resolve_auth;
use crate::error::{Result, TransportError};
use crate::proxy::Proxy;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest answer read.
const MAX_ANSWER: usize = 4 * 1024 * 1024;

/// A client of the Realtime REST endpoints. Cheap to clone.
#[derive(Clone, Debug)]
pub struct RestClient {
    base: String,
    auth: Auth,
    roots: Vec<Vec<u8>>,
    timeout: Duration,
    user_agent: String,
    proxy: Proxy,
}

impl Default for RestClient {
    fn default() -> Self {
        Self::new()
    }
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RestResponse {
    /// The HTTP status (2xx).
    pub status: u16,
    /// The body (JSON, or empty).
    pub body: String,
}

impl RestClient {
    /// `https://api.openai.com/v1`, the key from `OPENAI_API_KEY`, a 30 s timeout.
    pub fn new() -> Self {
        Self {
            base: "https://api.openai.com/v1".to_owned(),
            auth: Auth::FromEnv,
            roots: Vec::new(),
            timeout: Duration::from_secs(30),
            user_agent: format!("realtime-rs/{}", env!("CARGO_PKG_VERSION")),
            proxy: Proxy::default(),
        }
    }

    /// The API base URL, e.g. `https://api.openai.com/v1` or a local fake's `http://…/v1`.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base = url.into().trim_end_matches('/').to_owned();
        self
    }

    /// How requests authenticate (an API key; ephemeral keys are refused by these endpoints).
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Trusts an extra root certificate (DER).
    pub fn add_root_certificate(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.roots.push(der.into());
        self
    }

    /// How to reach the server (see [`Proxy`]). Default [`Proxy::FromEnv`].
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = proxy;
        self
    }

    /// The `User-Agent`. Default `realtime-rs/VERSION`.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// The deadline of one request, connect to last byte. Default 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// POSTs `body` (or nothing) as JSON to `path` (under the base URL, e.g.
    /// `/realtime/client_secrets`).
    ///
    /// # Errors
    /// The key is missing, the server could not be reached or took too long, TLS failed, or
    /// the server answered with a non-2xx status ([`TransportError::Rejected`]).
    pub async fn post_json(
        &self,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<RestResponse> {
        let url = format!("{}{path}", self.base);
        let target = Target::parse(&url)?;
        let auth = resolve_auth(&self.auth).await?;
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut request = format!(
            "POST {} HTTP/1.1\r\nhost: {}\r\nuser-agent: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
            target.path,
            target.host_header(),
            self.user_agent,
            body.len()
        );
        match &auth {
            AuthHeader::Bearer(k) => {
                request.push_str(&format!("authorization: Bearer {}\r\n", k.expose()))
            }
            AuthHeader::AzureKey(k) => request.push_str(&format!("api-key: {}\r\n", k.expose())),
            AuthHeader::None => {}
        }
        request.push_str("\r\n");
        request.push_str(&body);
        let exchange =
            async {
                let tcp =
                    crate::proxy::dial(&target.host, target.port, target.tls, &self.proxy).await?;
                if target.tls {
                    let config = crate::tls::client_config(&self.roots)?;
                    let name = rustls::pki_types::ServerName::try_from(target.host.clone())
                        .map_err(|e| TransportError::InvalidConfig {
                            reason: format!("bad host name {:?}: {e}", target.host),
                        })?;
                    let tls = tokio_rustls::TlsConnector::from(config)
                        .connect(name, tcp)
                        .await
                        .map_err(|e| TransportError::Tls {
                            host: target.host.clone(),
                            source: tokio_tungstenite::tungstenite::Error::Io(e),
                        })?;
                    exchange(tls, request.as_bytes(), &target.host).await
                } else {
                    exchange(tcp, request.as_bytes(), &target.host).await
                }
            };
        let (status, body) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| TransportError::Timeout {
                stage: "waiting for a REST answer",
                after: self.timeout,
            })??;
        if !(200..300).contains(&status) {
            let json: Option<serde_json::Value> = serde_json::from_str(&body).ok();
            let field = |k: &str| {
                json.as_ref()
                    .and_then(|v| v.pointer(&format!("/error/{k}")))
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            };
            return Err(TransportError::Rejected {
                status,
                message: field("message"),
                code: field("code"),
            });
        }
        Ok(RestResponse { status, body })
    }
}

struct Target {
    tls: bool,
    host: String,
    port: u16,
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Self> {
        let bad = || TransportError::InvalidConfig {
            reason: format!("bad REST URL {url:?}"),
        };
        let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(bad());
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
                (h.to_owned(), p.parse().map_err(|_| bad())?)
            }
            _ => (authority.to_owned(), if tls { 443 } else { 80 }),
        };
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            tls,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            path: path.to_owned(),
        })
    }

    fn host_header(&self) -> String {
        let default = if self.tls { 443 } else { 80 };
        if self.port == default {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Writes the request and reads the whole answer: its status and body (de-chunked).
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    request: &[u8],
    host: &str,
) -> Result<(u16, String)> {
    let io = |e: std::io::Error| TransportError::Connect {
        host: host.to_owned(),
        port: 0,
        source: e,
    };
    s.write_all(request).await.map_err(io)?;
    s.flush().await.map_err(io)?;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = match s.read(&mut chunk).await {
            Ok(n) => n,
            // Some servers end TLS without close_notify once the body is sent.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(io(e)),
        };
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&chunk[..n]);
        if answer.len() > MAX_ANSWER {
            return Err(io(std::io::Error::other("the answer is too large")));
        }
        if complete(&answer) {
            break;
        }
    }
    parse_answer(&answer).ok_or_else(|| io(std::io::Error::other("the answer is not HTTP")))
}

fn head_end(answer: &[u8]) -> Option<usize> {
    answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// Whether the whole answer is in (by length or the last chunk), so a server that keeps the
/// socket open does not make us wait for the deadline.
fn complete(answer: &[u8]) -> bool {
    let Some(end) = head_end(answer) else {
        return false;
    };
    let head = String::from_utf8_lossy(&answer[..end]);
    if let Some(len) = header(&head, "content-length").and_then(|v| v.parse::<usize>().ok()) {
        return answer.len() >= end + len;
    }
    if header(&head, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        return answer[end..].ends_with(b"0\r\n\r\n");
    }
    false
}

fn parse_answer(answer: &[u8]) -> Option<(u16, String)> {
    let end = head_end(answer)?;
    let head = String::from_utf8_lossy(&answer[..end]).into_owned();
    let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
    let raw = &answer[end..];
    let body =
        if header(&head, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            dechunk(raw)?
        } else {
            match header(&head, "content-length").and_then(|v| v.parse::<usize>().ok()) {
                Some(len) => raw.get(..len)?.to_vec(),
                None => raw.to_vec(),
            }
        };
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&raw[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(raw.get(..size)?);
        raw = raw.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        let t = Target::parse("https://api.openai.com/v1/realtime/calls/x/accept").unwrap();
        assert_eq!(
            (t.tls, t.host.as_str(), t.port, t.path.as_str()),
            (true, "api.openai.com", 443, "/v1/realtime/calls/x/accept")
        );
        let t = Target::parse("http://127.0.0.1:8765/v1/realtime/client_secrets").unwrap();
        assert_eq!((t.tls, t.host.as_str(), t.port), (false, "127.0.0.1", 8765));
        assert_eq!(t.host_header(), "127.0.0.1:8765");
        assert!(Target::parse("ftp://x").is_err());
        assert!(Target::parse("https://:1/x").is_err());
    }

    #[test]
    fn answers_parse_by_length_and_by_chunks() {
        let plain = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        assert!(complete(plain));
        assert_eq!(parse_answer(plain), Some((200, "{}".to_owned())));
        let chunked = b"HTTP/1.1 400 Bad Request\r\ntransfer-encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n";
        assert!(complete(chunked));
        assert_eq!(parse_answer(chunked), Some((400, "{\"a\":1}".to_owned())));
        assert!(!complete(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n{}"));
        assert_eq!(parse_answer(b"garbage"), None);
    }
}
