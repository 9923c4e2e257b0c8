//! [`ConnectionBuilder`]: everything about how a connection is opened.

use crate::auth::{ApiKey, Auth, AuthHeader};
use crate::connection::RealtimeConnection;
use crate::error::{Result, TransportError};
use crate::proxy::Proxy;
use realtime_protocol::{Dialect, Protocol};
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

/// OpenAI's Realtime endpoint.
pub const DEFAULT_ENDPOINT: &str = "wss://api.openai.com/v1/realtime";
/// The model of a GA connection unless one is set.
pub const DEFAULT_MODEL: &str = "gpt-realtime";
/// The model of a beta connection unless one is set.
pub const DEFAULT_BETA_MODEL: &str = "gpt-4o-realtime-preview";
/// Deadline for DNS and TCP (and TLS), unless set.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Deadline for the TLS and WebSocket handshakes, unless set.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Deadline for the close handshake, unless set.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest message accepted, unless set: 64 MiB (a `session.updated` with many tools, or a long
/// audio item, can be large).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 << 20;
/// Largest frame accepted, unless set: 16 MiB.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 16 << 20;
/// The socket read buffer, unless set: 8 KiB, several audio deltas per read while keeping
/// thousands of connections cheap (larger messages still arrive whole). Measured against 4 and
/// 16 KiB with the load harness (BENCHMARKS.md): the least CPU per event and the least memory.
pub const DEFAULT_READ_BUFFER: usize = 8 << 10;
/// How often a ping is sent, unless set.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(20);
/// How long to wait for an answer to a ping, unless set.
pub const DEFAULT_PONG_TIMEOUT: Duration = Duration::from_secs(10);
/// Events that may wait to be written when the socket cannot take them at once, unless set.
/// When the queue is full, `send` waits.
pub const DEFAULT_SEND_QUEUE: usize = 256;

/// Which TLS implementation `wss://` uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsBackend {
    /// rustls with the `ring` provider and the Mozilla (webpki) roots. The default.
    #[default]
    Rustls,
    /// The platform's TLS, with the `native-tls` feature.
    #[cfg(feature = "native-tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "native-tls")))]
    Native,
}

/// The Azure OpenAI endpoint variable ([`ConnectionBuilder::azure_from_env`]).
pub const AZURE_ENDPOINT_VAR: &str = "AZURE_OPENAI_ENDPOINT";
/// The Azure OpenAI key variable ([`Auth::AzureFromEnv`]).
pub const AZURE_KEY_VAR: &str = "AZURE_OPENAI_API_KEY";
/// The Azure deployment variable, when none is given.
pub const AZURE_DEPLOYMENT_VAR: &str = "AZURE_OPENAI_DEPLOYMENT";
/// The API version variable of the beta dialect on Azure, when none is given.
pub const AZURE_API_VERSION_VAR: &str = "OPENAI_API_VERSION";

/// Azure OpenAI: the resource, the deployment and (for the beta API) the API version; each
/// `None` is read from the environment when the URL is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Azure {
    pub(crate) resource: Option<String>,
    pub(crate) deployment: Option<String>,
    pub(crate) api_version: Option<String>,
}

impl Azure {
    /// The resource, deployment and API version, the missing ones from `env`.
    fn resolve(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(String, String, Option<String>)> {
        let read = |given: &Option<String>, name: &'static str| match given {
            Some(v) => Ok(v.clone()),
            None => env(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .ok_or(TransportError::MissingEnv { name }),
        };
        Ok((
            read(&self.resource, AZURE_ENDPOINT_VAR)?,
            read(&self.deployment, AZURE_DEPLOYMENT_VAR)?,
            self.api_version
                .clone()
                .or_else(|| env(AZURE_API_VERSION_VAR).filter(|v| !v.trim().is_empty())),
        ))
    }
}

/// Builds and opens a [`RealtimeConnection`]. Cheap to clone: a reconnect reuses it.
///
/// ```no_run
/// use realtime_transport::{Auth, RealtimeConnection};
/// use realtime_protocol::{ga::ClientEvent, Ga};
///
/// # async fn run() -> realtime_transport::Result<()> {
/// let conn = RealtimeConnection::<Ga>::builder()
///     .model("gpt-realtime")
///     .auth(Auth::api_key("sk-..."))
///     .connect()
///     .await?;
/// let (sender, mut events) = conn.split();
/// sender.send(&ClientEvent::user_text("Hello!")).await?;
/// # Ok(()) }
/// ```
pub struct ConnectionBuilder<P> {
    pub(crate) endpoint: String,
    pub(crate) model: Option<String>,
    pub(crate) sip_call_id: Option<String>,
    pub(crate) intent: Option<String>,
    pub(crate) azure: Option<Azure>,
    pub(crate) auth: Auth,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) user_agent: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) handshake_timeout: Duration,
    pub(crate) close_timeout: Duration,
    pub(crate) max_message_size: usize,
    pub(crate) max_frame_size: usize,
    pub(crate) read_buffer: usize,
    pub(crate) ping_interval: Option<Duration>,
    pub(crate) pong_timeout: Duration,
    pub(crate) send_queue: usize,
    pub(crate) tls: TlsBackend,
    pub(crate) root_certificates: Vec<Vec<u8>>,
    pub(crate) proxy: Proxy,
    _protocol: PhantomData<fn() -> P>,
}

impl<P> Clone for ConnectionBuilder<P> {
    fn clone(&self) -> Self {
        Self {
            endpoint: self.endpoint.clone(),
            model: self.model.clone(),
            sip_call_id: self.sip_call_id.clone(),
            intent: self.intent.clone(),
            azure: self.azure.clone(),
            auth: self.auth.clone(),
            headers: self.headers.clone(),
            user_agent: self.user_agent.clone(),
            connect_timeout: self.connect_timeout,
            handshake_timeout: self.handshake_timeout,
            close_timeout: self.close_timeout,
            max_message_size: self.max_message_size,
            max_frame_size: self.max_frame_size,
            read_buffer: self.read_buffer,
            ping_interval: self.ping_interval,
            pong_timeout: self.pong_timeout,
            send_queue: self.send_queue,
            tls: self.tls,
            root_certificates: self.root_certificates.clone(),
            proxy: self.proxy.clone(),
            _protocol: PhantomData,
        }
    }
}

impl<P: Protocol> fmt::Debug for ConnectionBuilder<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("ConnectionBuilder")
            .field("dialect", &P::DIALECT)
            .field("endpoint", &self.endpoint)
            .field("model", &self.model)
            .field("sip_call_id", &self.sip_call_id)
            .field("intent", &self.intent)
            .field("azure", &self.azure)
            .field("auth", &self.auth)
            .field("extra_headers", &header_names)
            .field("connect_timeout", &self.connect_timeout)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("max_message_size", &self.max_message_size)
            .field("ping_interval", &self.ping_interval)
            .field("pong_timeout", &self.pong_timeout)
            .field("tls", &self.tls)
            .field("root_certificates", &self.root_certificates.len())
            .field("proxy", &self.proxy)
            .finish_non_exhaustive()
    }
}

impl<P: Protocol> Default for ConnectionBuilder<P> {
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_ENDPOINT.to_owned(),
            model: None,
            sip_call_id: None,
            intent: None,
            azure: None,
            auth: Auth::default(),
            headers: Vec::new(),
            user_agent: format!("realtime-rs/{} (rust)", env!("CARGO_PKG_VERSION")),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            read_buffer: DEFAULT_READ_BUFFER,
            ping_interval: Some(DEFAULT_PING_INTERVAL),
            pong_timeout: DEFAULT_PONG_TIMEOUT,
            send_queue: DEFAULT_SEND_QUEUE,
            tls: TlsBackend::default(),
            root_certificates: Vec::new(),
            proxy: Proxy::default(),
            _protocol: PhantomData,
        }
    }
}

impl<P: Protocol> ConnectionBuilder<P> {
    /// The WebSocket URL without query, e.g. `wss://api.openai.com/v1/realtime` (the default)
    /// or `ws://127.0.0.1:8765/v1/realtime` for a local server. A query already in it is kept.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = url.into();
        self
    }

    /// The model, sent as `?model=`. Default: [`DEFAULT_MODEL`] (GA) or [`DEFAULT_BETA_MODEL`]
    /// (beta).
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Attach to a SIP call: sends `?call_id=` instead of `?model=`.
    pub fn sip_call_id(mut self, call_id: impl Into<String>) -> Self {
        self.sip_call_id = Some(call_id.into());
        self
    }

    /// The connection's purpose: `transcription` opens a transcription session (sends
    /// `?intent=transcription` instead of `?model=`; the transcription model is set in the
    /// session).
    pub fn intent(mut self, intent: impl Into<String>) -> Self {
        self.intent = Some(intent.into());
        self
    }

    /// Azure OpenAI: `resource` is `https://NAME.openai.azure.com` (or its host), `deployment`
    /// the model deployment. GA connects to `/openai/v1/realtime?model=DEPLOYMENT`; beta to
    /// `/openai/realtime?api-version=VERSION&deployment=DEPLOYMENT` (`api_version` defaults to
    /// `2025-04-01-preview`). Pair it with [`Auth::AzureApiKey`] or a bearer token.
    pub fn azure(
        mut self,
        resource: impl Into<String>,
        deployment: impl Into<String>,
        api_version: Option<&str>,
    ) -> Self {
        self.azure = Some(Azure {
            resource: Some(resource.into()),
            deployment: Some(deployment.into()),
            api_version: api_version.map(str::to_owned),
        });
        self
    }

    /// Azure OpenAI configured from the environment, as Azure's own SDKs do: the resource from
    /// `AZURE_OPENAI_ENDPOINT`, the key from `AZURE_OPENAI_API_KEY` ([`Auth::AzureFromEnv`];
    /// set [`Self::auth`] afterwards for an Entra ID token instead), the deployment given or
    /// from `AZURE_OPENAI_DEPLOYMENT`, and the beta API version given or from
    /// `OPENAI_API_VERSION`. Variables are read when connecting; a missing one is
    /// [`TransportError::MissingEnv`] naming it.
    pub fn azure_from_env(mut self, deployment: Option<&str>, api_version: Option<&str>) -> Self {
        self.azure = Some(Azure {
            resource: None,
            deployment: deployment.map(str::to_owned),
            api_version: api_version.map(str::to_owned),
        });
        self.auth = Auth::AzureFromEnv;
        self
    }

    /// How to authenticate. Default: `OPENAI_API_KEY` from the environment.
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Shorthand for `auth(Auth::api_key(key))`.
    pub fn api_key(self, key: impl Into<ApiKey>) -> Self {
        self.auth(Auth::ApiKey(key.into()))
    }

    /// An extra request header (e.g. `OpenAI-Organization`). Its value is never logged.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The `User-Agent`. Default: `realtime-rs/VERSION (rust)`.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Deadline for DNS and TCP. Default [`DEFAULT_CONNECT_TIMEOUT`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Deadline for the TLS and WebSocket handshakes. Default [`DEFAULT_HANDSHAKE_TIMEOUT`].
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Deadline for the close handshake. Default [`DEFAULT_CLOSE_TIMEOUT`].
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// Largest message accepted. Default [`DEFAULT_MAX_MESSAGE_SIZE`] (the frame limit is
    /// lowered to it when larger).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Largest frame accepted. Default [`DEFAULT_MAX_FRAME_SIZE`].
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// The socket read buffer size. Default [`DEFAULT_READ_BUFFER`].
    pub fn read_buffer(mut self, bytes: usize) -> Self {
        self.read_buffer = bytes.max(1024);
        self
    }

    /// Ping every `interval`, and fail with [`TransportError::KeepAliveTimeout`] when nothing
    /// comes back within `pong_timeout`. `None` turns keep-alive off.
    pub fn keep_alive(mut self, interval: Option<Duration>, pong_timeout: Duration) -> Self {
        self.ping_interval = interval;
        self.pong_timeout = pong_timeout;
        self
    }

    /// Capacity of the send queue. Default [`DEFAULT_SEND_QUEUE`].
    pub fn send_queue(mut self, capacity: usize) -> Self {
        self.send_queue = capacity.max(1);
        self
    }

    /// The TLS implementation. Default rustls.
    pub fn tls(mut self, backend: TlsBackend) -> Self {
        self.tls = backend;
        self
    }

    /// Trusts an extra root certificate (DER), e.g. a TLS-inspecting corporate proxy's or a
    /// test server's, with either TLS backend. Certificates are always verified.
    pub fn add_root_certificate(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.root_certificates.push(der.into());
        self
    }

    /// How to reach the server: directly or through an HTTP proxy. Default
    /// [`Proxy::FromEnv`] (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`).
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = proxy;
        self
    }

    /// Opens the connection over a stream the caller already connected (a custom proxy or
    /// tunnel, an in-memory pipe in tests): no DNS, TCP or proxy; TLS when the URL is
    /// `wss://`, then the WebSocket handshake, under the handshake deadline.
    ///
    /// # Errors
    /// As [`Self::connect`], less the DNS and TCP errors.
    pub async fn connect_over<S>(&self, stream: S) -> Result<RealtimeConnection<P>>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        crate::connection::connect_over(self, stream).await
    }

    /// Opens the connection.
    ///
    /// # Errors
    /// Every fatal [`TransportError`] of opening: configuration, key, DNS, TCP, TLS, a refused
    /// handshake (401: the key was rejected), a timeout.
    pub async fn connect(&self) -> Result<RealtimeConnection<P>> {
        crate::connection::connect(self).await
    }

    /// The URL this builder connects to.
    ///
    /// # Errors
    /// The endpoint is not a `ws://`, `wss://`, `http://` or `https://` URL.
    pub fn url(&self) -> Result<String> {
        self.url_with(|name| std::env::var(name).ok())
    }

    fn url_with(&self, env: impl Fn(&str) -> Option<String>) -> Result<String> {
        let (base, query) = match &self.azure {
            Some(az) => {
                let (resource, deployment, api_version) = az.resolve(env)?;
                let resource = resource.trim_end_matches('/');
                let resource = resource
                    .strip_prefix("https://")
                    .map(|r| format!("wss://{r}"))
                    .or_else(|| {
                        resource
                            .strip_prefix("http://")
                            .map(|r| format!("ws://{r}"))
                    })
                    .unwrap_or_else(|| {
                        if resource.contains("://") {
                            resource.to_owned()
                        } else {
                            format!("wss://{resource}")
                        }
                    });
                match P::DIALECT {
                    Dialect::Beta => (
                        format!("{resource}/openai/realtime"),
                        vec![
                            (
                                "api-version",
                                api_version.unwrap_or_else(|| "2025-04-01-preview".to_owned()),
                            ),
                            ("deployment", deployment),
                        ],
                    ),
                    _ => (
                        format!("{resource}/openai/v1/realtime"),
                        vec![("model", deployment)],
                    ),
                }
            }
            None => {
                let query = match (&self.sip_call_id, &self.intent) {
                    (Some(call), _) => vec![("call_id", call.clone())],
                    (None, Some(intent)) => vec![("intent", intent.clone())],
                    (None, None) => vec![(
                        "model",
                        self.model
                            .clone()
                            .unwrap_or_else(|| default_model(P::DIALECT).to_owned()),
                    )],
                };
                (self.endpoint.clone(), query)
            }
        };
        let mut query = query;
        if self.azure.is_some() {
            if let Some(intent) = &self.intent {
                query.push(("intent", intent.clone()));
            }
        }
        let base = base
            .strip_prefix("https://")
            .map(|r| format!("wss://{r}"))
            .or_else(|| base.strip_prefix("http://").map(|r| format!("ws://{r}")))
            .unwrap_or(base);
        if !(base.starts_with("ws://") || base.starts_with("wss://")) {
            return Err(TransportError::InvalidConfig {
                reason: format!("endpoint `{base}` is not a ws:// or wss:// URL"),
            });
        }
        let mut url = base;
        for (k, v) in query {
            if url.contains(&format!("?{k}=")) || url.contains(&format!("&{k}=")) {
                continue;
            }
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(k);
            url.push('=');
            url.push_str(&percent_encode(&v));
        }
        Ok(url)
    }

    pub(crate) async fn resolve_auth(&self) -> Result<AuthHeader> {
        resolve_auth(&self.auth).await
    }
}

/// The default model of a dialect.
pub fn default_model(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Beta => DEFAULT_BETA_MODEL,
        _ => DEFAULT_MODEL,
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The header the key of `auth` goes in, the key resolved now.
pub(crate) async fn resolve_auth(auth: &Auth) -> Result<AuthHeader> {
    let bearer = |k: ApiKey| {
        if k.is_empty() {
            Err(TransportError::MissingApiKey)
        } else {
            Ok(AuthHeader::Bearer(k))
        }
    };
    match auth {
        Auth::FromEnv => match std::env::var("OPENAI_API_KEY") {
            Ok(k) if !k.trim().is_empty() => Ok(AuthHeader::Bearer(ApiKey::new(k))),
            _ => Err(TransportError::MissingApiKey),
        },
        Auth::ApiKey(k) | Auth::ClientSecret(k) => bearer(k.clone()),
        Auth::AzureApiKey(k) if k.is_empty() => Err(TransportError::MissingApiKey),
        Auth::AzureFromEnv => match std::env::var(AZURE_KEY_VAR) {
            Ok(k) if !k.trim().is_empty() => Ok(AuthHeader::AzureKey(ApiKey::new(k.trim()))),
            _ => Err(TransportError::MissingEnv {
                name: AZURE_KEY_VAR,
            }),
        },
        Auth::AzureApiKey(k) => Ok(AuthHeader::AzureKey(k.clone())),
        Auth::Provider(p) => bearer(p.api_key().await.map_err(TransportError::KeyProvider)?),
        Auth::None => Ok(AuthHeader::None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use realtime_protocol::{Beta, Ga};

    #[test]
    fn urls() {
        let cases: Vec<(String, &str)> = vec![
            (ConnectionBuilder::<Ga>::default().url().unwrap(), "wss://api.openai.com/v1/realtime?model=gpt-realtime"),
            (ConnectionBuilder::<Beta>::default().url().unwrap(), "wss://api.openai.com/v1/realtime?model=gpt-4o-realtime-preview"),
            (
                ConnectionBuilder::<Ga>::default().endpoint("http://127.0.0.1:9/v1/realtime").model("m 1").url().unwrap(),
                "ws://127.0.0.1:9/v1/realtime?model=m%201",
            ),
            (
                ConnectionBuilder::<Ga>::default().endpoint("wss://x/v1/realtime?model=keep").model("other").url().unwrap(),
                "wss://x/v1/realtime?model=keep",
            ),
            (ConnectionBuilder::<Ga>::default().sip_call_id("rtc_123").url().unwrap(), "wss://api.openai.com/v1/realtime?call_id=rtc_123"),
            (ConnectionBuilder::<Ga>::default().intent("transcription").url().unwrap(), "wss://api.openai.com/v1/realtime?intent=transcription"),
            (
                ConnectionBuilder::<Ga>::default().azure("https://res.openai.azure.com", "tx", None).intent("transcription").url().unwrap(),
                "wss://res.openai.azure.com/openai/v1/realtime?model=tx&intent=transcription",
            ),
            (
                ConnectionBuilder::<Ga>::default().azure("https://res.openai.azure.com/", "my-rt", None).url().unwrap(),
                "wss://res.openai.azure.com/openai/v1/realtime?model=my-rt",
            ),
            (
                ConnectionBuilder::<Beta>::default().azure("res.openai.azure.com", "my-rt", Some("2024-10-01-preview")).url().unwrap(),
                "wss://res.openai.azure.com/openai/realtime?api-version=2024-10-01-preview&deployment=my-rt",
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
        assert!(matches!(
            ConnectionBuilder::<Ga>::default().endpoint("ftp://x").url(),
            Err(TransportError::InvalidConfig { .. })
        ));
    }

    #[test]
    fn azure_from_the_environment() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let all = vars(&[
            ("AZURE_OPENAI_ENDPOINT", "https://res.openai.azure.com/"),
            ("AZURE_OPENAI_DEPLOYMENT", "dep-1"),
            ("OPENAI_API_VERSION", "2024-12-17"),
        ]);
        let ga = ConnectionBuilder::<Ga>::default().azure_from_env(None, None);
        assert_eq!(ga.auth.mode(), "azure_env");
        assert_eq!(
            ga.url_with(all).unwrap(),
            "wss://res.openai.azure.com/openai/v1/realtime?model=dep-1"
        );
        assert_eq!(
            ConnectionBuilder::<Ga>::default()
                .azure_from_env(Some("given"), None)
                .url_with(all)
                .unwrap(),
            "wss://res.openai.azure.com/openai/v1/realtime?model=given"
        );
        assert_eq!(
            ConnectionBuilder::<Beta>::default()
                .azure_from_env(None, None)
                .url_with(all)
                .unwrap(),
            "wss://res.openai.azure.com/openai/realtime?api-version=2024-12-17&deployment=dep-1"
        );
        let missing = ConnectionBuilder::<Ga>::default()
            .azure_from_env(Some("d"), None)
            .url_with(vars(&[("AZURE_OPENAI_ENDPOINT", " ")]))
            .unwrap_err();
        assert!(
            matches!(
                missing,
                TransportError::MissingEnv {
                    name: "AZURE_OPENAI_ENDPOINT"
                }
            ),
            "{missing:?}"
        );
        assert_eq!(missing.to_string(), "AZURE_OPENAI_ENDPOINT is not set");
        assert!(!missing.is_retryable());
        let no_deployment = ConnectionBuilder::<Ga>::default()
            .azure_from_env(None, None)
            .url_with(vars(&[("AZURE_OPENAI_ENDPOINT", "res.openai.azure.com")]))
            .unwrap_err();
        assert!(matches!(
            no_deployment,
            TransportError::MissingEnv {
                name: "AZURE_OPENAI_DEPLOYMENT"
            }
        ));
    }
}
