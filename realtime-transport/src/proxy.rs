//! HTTP CONNECT proxies, given explicitly or taken from the environment (`HTTPS_PROXY`,
//! `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`), and the dial every connection and REST call goes
//! through: DNS and TCP to the server or the proxy, then `CONNECT host:port` through it.

use crate::auth::ApiKey;
use crate::error::{Result, TransportError};
use std::fmt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most a proxy's answer to `CONNECT` may take before its end.
const MAX_PROXY_HEAD: usize = 8 << 10;

/// How connections reach the server: directly, or through an HTTP proxy's `CONNECT` tunnel
/// (TLS to the server still runs end to end inside it).
///
/// The default is [`Proxy::FromEnv`], as curl and most HTTP clients do: `HTTPS_PROXY` for
/// `wss://` and `https://`, `HTTP_PROXY` for `ws://` and `http://`, `ALL_PROXY` for both
/// (upper or lower case), except for hosts `NO_PROXY` names. Loopback hosts (`localhost`,
/// `127.0.0.0/8`, `::1`) are always reached directly in this mode.
///
/// Proxy credentials (`http://user:password@host:port`) are sent as `Proxy-Authorization:
/// Basic` and never appear in `Debug` output, logs or errors.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Proxy {
    /// From the environment (see above). The default.
    #[default]
    FromEnv,
    /// Always connect directly, whatever the environment says.
    Direct,
    /// Always through this proxy.
    Http(ProxyUrl),
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FromEnv => f.write_str("FromEnv"),
            Self::Direct => f.write_str("Direct"),
            Self::Http(url) => f.debug_tuple("Http").field(url).finish(),
        }
    }
}

impl Proxy {
    /// Through the HTTP proxy at `url`: `http://[user:password@]host[:port]` (port 80 when
    /// left out; `host:port` alone means `http://host:port`).
    ///
    /// # Errors
    /// The URL is not a plain `http://` proxy URL (`https://` proxies are not supported).
    pub fn http(url: &str) -> Result<Self> {
        ProxyUrl::parse(url)
            .map(Self::Http)
            .map_err(|reason| TransportError::InvalidConfig {
                reason: format!("bad proxy URL: {reason}"),
            })
    }

    /// The proxy to use for `host`, reading the environment through `env` in
    /// [`Proxy::FromEnv`] mode.
    pub(crate) fn choose(
        &self,
        secure: bool,
        host: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<ProxyUrl>> {
        match self {
            Self::Direct => Ok(None),
            Self::Http(url) => Ok(Some(url.clone())),
            Self::FromEnv => {
                if is_loopback(host) {
                    return Ok(None);
                }
                let var = |name: &'static str| {
                    env(name)
                        .or_else(|| env(&name.to_ascii_lowercase()))
                        .filter(|v| !v.trim().is_empty())
                        .map(|v| (name, v))
                };
                let chosen = if secure {
                    var("HTTPS_PROXY")
                } else {
                    var("HTTP_PROXY")
                }
                .or_else(|| var("ALL_PROXY"));
                let Some((name, value)) = chosen else {
                    return Ok(None);
                };
                if let Some(list) = var("NO_PROXY") {
                    if no_proxy_matches(&list.1, host) {
                        return Ok(None);
                    }
                }
                // The value may hold credentials: the error names the variable only.
                ProxyUrl::parse(value.trim()).map(Some).map_err(|reason| {
                    TransportError::InvalidConfig {
                        reason: format!("{name} is not a usable proxy URL: {reason}"),
                    }
                })
            }
        }
    }
}

/// An HTTP proxy: where it is and, if it asks for them, the credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    host: String,
    port: u16,
    /// `Basic base64(user:password)`, kept as a secret.
    authorization: Option<ApiKey>,
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ProxyUrl");
        d.field("host", &self.host).field("port", &self.port);
        if self.authorization.is_some() {
            d.field("credentials", &"[redacted]");
        }
        d.finish()
    }
}

impl ProxyUrl {
    fn parse(url: &str) -> std::result::Result<Self, String> {
        let rest = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) => {
                return Err(format!(
                    "the scheme `{scheme}` is not supported (only http:// proxies)"
                ))
            }
            None => url,
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| "an IPv6 host without its closing `]`".to_owned())?;
            (h, after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err("no host".to_owned());
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| format!("bad port `{p}`"))?,
            None => 80,
        };
        let authorization = userinfo.map(|u| {
            let (user, password) = u.split_once(':').unwrap_or((u, ""));
            let plain = format!("{}:{}", percent_decode(user), percent_decode(password));
            ApiKey::new(format!(
                "Basic {}",
                realtime_protocol::audio::encode_base64(plain.as_bytes())
            ))
        });
        Ok(Self {
            host: host.to_owned(),
            port,
            authorization,
        })
    }

    /// The proxy's host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let v = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(u8::try_from(v).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether `NO_PROXY`'s comma-separated list names `host`: `*` names every host; an entry
/// names the host itself and its subdomains (`example.com` and `.example.com` both name
/// `api.example.com`); ports in entries are ignored.
fn no_proxy_matches(list: &str, host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    list.split(',').map(str::trim).any(|entry| {
        if entry == "*" {
            return true;
        }
        let entry = entry.trim_start_matches('[');
        let entry = match entry.split_once(']') {
            Some((v6, _)) => v6,
            None if entry.matches(':').count() == 1 => entry.split(':').next().unwrap_or(entry),
            None => entry,
        };
        let entry = entry.trim_start_matches('.').to_ascii_lowercase();
        !entry.is_empty()
            && (host == entry
                || host
                    .strip_suffix(entry.as_str())
                    .is_some_and(|prefix| prefix.ends_with('.')))
    })
}

/// DNS and TCP to `host:port`, trying each address in turn.
async fn tcp(host: &str, port: u16) -> Result<TcpStream> {
    let addrs: Vec<_> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|source| TransportError::Dns {
            host: host.to_owned(),
            source,
        })?
        .collect();
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(TransportError::Connect {
        host: host.to_owned(),
        port,
        source: last
            .unwrap_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address")),
    })
}

/// A TCP stream to `host:port`, through the proxy `proxy` chooses for it. The caller bounds
/// it with its connect deadline.
pub(crate) async fn dial(host: &str, port: u16, secure: bool, proxy: &Proxy) -> Result<TcpStream> {
    let env = |name: &str| std::env::var(name).ok();
    match proxy.choose(secure, host, env)? {
        None => tcp(host, port).await,
        Some(via) => {
            tracing::debug!(proxy_host = %via.host, proxy_port = via.port, "connecting through a proxy");
            let mut stream = tcp(&via.host, via.port).await?;
            tunnel(&mut stream, host, port, &via).await?;
            Ok(stream)
        }
    }
}

/// Asks the proxy on `stream` for a tunnel to `host:port` and reads its answer, leaving the
/// stream at the first byte after it.
async fn tunnel(stream: &mut TcpStream, host: &str, port: u16, via: &ProxyUrl) -> Result<()> {
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(auth) = &via.authorization {
        request.push_str("Proxy-Authorization: ");
        request.push_str(auth.expose());
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    let lost = |source: std::io::Error| TransportError::Connect {
        host: via.host.clone(),
        port: via.port,
        source,
    };
    stream.write_all(request.as_bytes()).await.map_err(lost)?;
    // Byte by byte: what follows the answer's head belongs to the tunnel (TLS, WebSocket),
    // so nothing past it may be read here. It happens once per connection.
    let mut head = Vec::with_capacity(256);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_PROXY_HEAD {
            return Err(TransportError::ProxyRefused {
                status: None,
                reason: format!("the proxy's answer is longer than {MAX_PROXY_HEAD} bytes"),
            });
        }
        let byte = stream.read_u8().await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                TransportError::ProxyRefused {
                    status: None,
                    reason: "the proxy closed the connection without answering CONNECT".into(),
                }
            } else {
                lost(e)
            }
        })?;
        head.push(byte);
    }
    let head = String::from_utf8_lossy(&head);
    let status_line = head.lines().next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (version, status) = (parts.next().unwrap_or_default(), parts.next());
    let status = status.and_then(|s| s.parse::<u16>().ok());
    match status {
        Some(200..=299) if version.starts_with("HTTP/1.") => Ok(()),
        _ => Err(TransportError::ProxyRefused {
            status,
            reason: status_line.chars().take(200).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn chosen(proxy: &Proxy, secure: bool, host: &str, vars: &[(&str, &str)]) -> Option<String> {
        proxy
            .choose(secure, host, env(vars))
            .unwrap()
            .map(|p| format!("{}:{}", p.host, p.port))
    }

    /// Secure target?, host, environment, the proxy chosen.
    type Case<'a> = (bool, &'a str, &'a [(&'a str, &'a str)], Option<&'a str>);

    #[test]
    fn the_environment_picks_the_proxy_by_scheme_and_no_proxy() {
        let fe = Proxy::FromEnv;
        let both = [
            ("HTTPS_PROXY", "http://secure:3128"),
            ("http_proxy", "plain:8080"),
        ];
        let cases: &[Case<'_>] = &[
            (true, "api.openai.com", &both, Some("secure:3128")),
            (false, "api.openai.com", &both, Some("plain:8080")),
            (true, "api.openai.com", &[], None),
            (
                true,
                "api.openai.com",
                &[("ALL_PROXY", "all:1")],
                Some("all:1"),
            ),
            (true, "api.openai.com", &[("https_proxy", "  ")], None),
            (true, "127.0.0.1", &both, None),
            (true, "localhost", &both, None),
            (true, "[::1]", &both, None),
            (
                true,
                "api.openai.com",
                &[("HTTPS_PROXY", "p:1"), ("NO_PROXY", "*")],
                None,
            ),
            (
                true,
                "api.openai.com",
                &[("HTTPS_PROXY", "p:1"), ("no_proxy", "x.org, openai.com")],
                None,
            ),
            (
                true,
                "api.openai.com",
                &[("HTTPS_PROXY", "p:1"), ("NO_PROXY", ".openai.com:443")],
                None,
            ),
            (
                true,
                "api.openai.com",
                &[("HTTPS_PROXY", "p:1"), ("NO_PROXY", "penai.com")],
                Some("p:1"),
            ),
            (
                true,
                "10.0.0.7",
                &[("HTTPS_PROXY", "p:1"), ("NO_PROXY", "10.0.0.7")],
                None,
            ),
            (
                true,
                "res.openai.azure.com",
                &[("HTTPS_PROXY", "p")],
                Some("p:80"),
            ),
        ];
        for (secure, host, vars, want) in cases {
            assert_eq!(
                chosen(&fe, *secure, host, vars).as_deref(),
                *want,
                "{host} with {vars:?}"
            );
        }
        assert_eq!(chosen(&Proxy::Direct, true, "api.openai.com", &both), None);
        let explicit = Proxy::http("http://corp:3128").unwrap();
        assert_eq!(
            chosen(&explicit, true, "127.0.0.1", &[]).as_deref(),
            Some("corp:3128")
        );
    }

    #[test]
    fn proxy_urls_parse_and_credentials_stay_secret() {
        let p = Proxy::http("http://us%40er:pa:ss@[::1]:3128/").unwrap();
        let Proxy::Http(url) = &p else {
            panic!("not http")
        };
        assert_eq!((url.host(), url.port()), ("::1", 3128));
        let auth = url.authorization.as_ref().unwrap().expose();
        assert_eq!(
            auth,
            format!(
                "Basic {}",
                realtime_protocol::audio::encode_base64(b"us@er:pa:ss")
            )
        );
        let shown = format!("{p:?}");
        assert!(
            !shown.contains("pa:ss") && !shown.contains(&auth[6..]),
            "{shown}"
        );
        assert!(shown.contains("[redacted]"));
        for bad in [
            "https://corp:3128",
            "socks5://x:1",
            "http://:3128",
            "http://h:port",
        ] {
            let e = Proxy::http(bad).unwrap_err();
            assert!(matches!(e, TransportError::InvalidConfig { .. }), "{bad}");
        }
        // A bad URL from the environment names the variable, never its value.
        let e = Proxy::FromEnv
            .choose(
                true,
                "api.openai.com",
                env(&[("HTTPS_PROXY", "ftp://u:secret@h")]),
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("HTTPS_PROXY") && !e.contains("secret"), "{e}");
    }
}
