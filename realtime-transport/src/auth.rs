//! API keys and where they come from. A key never appears in `Debug` output, logs or errors.

use async_trait::async_trait;
use std::fmt;
use std::sync::Arc;

/// A secret: an OpenAI API key, an Azure key, or an ephemeral client secret.
///
/// `Debug` prints a placeholder and there is no `Display`, so a key cannot reach a log or an
/// error message by accident. [`ApiKey::expose`] is the one way to read it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(Arc<str>);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(Arc::from(key.into()))
    }

    /// The key itself. Only for putting it in a request header.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the key is empty (or only whitespace).
    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

impl From<String> for ApiKey {
    fn from(key: String) -> Self {
        Self::new(key)
    }
}

impl From<&str> for ApiKey {
    fn from(key: &str) -> Self {
        Self::new(key)
    }
}

/// An error from a key provider, as a message (the provider decides what it says).
pub type KeyProviderError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Supplies a key each time a connection is opened: for rotating keys or minting ephemeral
/// client secrets.
#[async_trait]
pub trait KeyProvider: Send + Sync + 'static {
    /// The key to use for the next connection.
    async fn api_key(&self) -> Result<ApiKey, KeyProviderError>;
}

struct SyncProvider<F>(F);

#[async_trait]
impl<F> KeyProvider for SyncProvider<F>
where
    F: Fn() -> Result<ApiKey, KeyProviderError> + Send + Sync + 'static,
{
    async fn api_key(&self) -> Result<ApiKey, KeyProviderError> {
        (self.0)()
    }
}

/// How a connection authenticates.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Auth {
    /// `OPENAI_API_KEY` from the environment, read when connecting. The default.
    #[default]
    FromEnv,
    /// An OpenAI API key, sent as `Authorization: Bearer …`.
    ApiKey(ApiKey),
    /// An ephemeral client secret (`ek_…`), sent as `Authorization: Bearer …`.
    ClientSecret(ApiKey),
    /// An Azure OpenAI key, sent as `api-key: …`.
    AzureApiKey(ApiKey),
    /// `AZURE_OPENAI_API_KEY` from the environment, read when connecting, sent as
    /// `api-key: …`.
    AzureFromEnv,
    /// A provider asked for a key (sent as a bearer token) on every connect.
    Provider(Arc<dyn KeyProvider>),
    /// No authentication header (a local server, or one behind a proxy that adds it).
    None,
}

impl Auth {
    /// An OpenAI API key.
    pub fn api_key(key: impl Into<ApiKey>) -> Self {
        Self::ApiKey(key.into())
    }

    /// A key from a synchronous function, asked on every connect.
    pub fn from_fn<F>(f: F) -> Self
    where
        F: Fn() -> Result<ApiKey, KeyProviderError> + Send + Sync + 'static,
    {
        Self::Provider(Arc::new(SyncProvider(f)))
    }

    /// A key from an async provider, asked on every connect.
    pub fn from_provider(provider: impl KeyProvider) -> Self {
        Self::Provider(Arc::new(provider))
    }

    /// The name of the mode, for logs.
    pub(crate) fn mode(&self) -> &'static str {
        match self {
            Auth::FromEnv => "env",
            Auth::ApiKey(_) => "api_key",
            Auth::ClientSecret(_) => "client_secret",
            Auth::AzureApiKey(_) => "azure_api_key",
            Auth::AzureFromEnv => "azure_env",
            Auth::Provider(_) => "provider",
            Auth::None => "none",
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Auth::{}", self.mode())
    }
}

/// The header a resolved key goes in.
pub(crate) enum AuthHeader {
    Bearer(ApiKey),
    AzureKey(ApiKey),
    None,
}
