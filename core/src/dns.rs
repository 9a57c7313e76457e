//! Domain ownership checks over DNS.
//!
//! A domain is verified by publishing its challenge as a TXT record at
//! `_slipway-challenge.<domain>`. The lookup goes through a hickory resolver
//! whose nameservers come from [`Config::dns_servers`](crate::Config::dns_servers)
//! (the system's configuration when empty), queried once over UDP with
//! [`Config::dns_timeout`](crate::Config::dns_timeout). A resolver is built per
//! check, so no answer is ever served from an earlier check's cache.

use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::{ResolveError, ResolveErrorKind, TokioResolver};

use async_trait::async_trait;

use crate::config::Config;

/// The label prefix of the challenge record.
pub(crate) const CHALLENGE_PREFIX: &str = "_slipway-challenge";

/// The name of the TXT record that must hold a domain's challenge.
pub(crate) fn challenge_name(domain: &str) -> String {
    format!("{CHALLENGE_PREFIX}.{domain}")
}

/// What a lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// TXT records exist; each is its character-strings joined.
    Found(Vec<String>),
    /// The name does not exist or has no TXT record.
    Missing,
}

/// Why a lookup failed (NXDOMAIN and "no TXT record" are not failures but
/// [`Lookup::Missing`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DnsError {
    /// No answer in time.
    #[error("{0}")]
    Timeout(String),
    /// Any other resolver failure (SERVFAIL, refused, unreachable).
    #[error("{0}")]
    Failed(String),
}

/// Looks up TXT records for domain verification. The default is
/// [`HickoryResolver`]; hosts and tests may plug in their own through
/// [`SlipwayBuilder::dns_resolver`](crate::SlipwayBuilder::dns_resolver).
#[async_trait]
pub trait DnsResolver: Send + Sync + 'static {
    /// The TXT records at `name` (a fully qualified name, no trailing dot),
    /// each one's character-strings joined.
    async fn lookup_txt(&self, name: &str) -> Result<Lookup, DnsError>;
}

/// The real resolver: hickory, with the nameservers of
/// [`Config::dns_servers`](crate::Config::dns_servers) (the system's when
/// empty), one UDP attempt bounded by [`Config::dns_timeout`](crate::Config::dns_timeout),
/// and a fresh resolver per lookup so no answer comes from a cache.
#[derive(Debug, Clone)]
pub struct HickoryResolver {
    servers: Vec<std::net::SocketAddr>,
    timeout: Duration,
}

impl HickoryResolver {
    /// A resolver for `config`'s DNS settings.
    pub fn new(config: &Config) -> Self {
        HickoryResolver {
            servers: config.dns_servers.clone(),
            timeout: config.dns_timeout,
        }
    }
}

#[async_trait]
impl DnsResolver for HickoryResolver {
    async fn lookup_txt(&self, name: &str) -> Result<Lookup, DnsError> {
        lookup_txt(&self.servers, self.timeout, name).await
    }
}

fn resolver(
    servers: &[std::net::SocketAddr],
    timeout: Duration,
) -> Result<TokioResolver, DnsError> {
    let provider = TokioConnectionProvider::default();
    let mut builder = if servers.is_empty() {
        TokioResolver::builder(provider).map_err(|e| {
            DnsError::Failed(format!(
                "DNS is not available: the system resolver configuration could not be read ({e})"
            ))
        })?
    } else {
        let mut rc = ResolverConfig::new();
        for addr in servers {
            let mut ns = NameServerConfig::new(*addr, Protocol::Udp);
            ns.trust_negative_responses = true;
            rc.add_name_server(ns);
        }
        TokioResolver::builder_with_config(rc, provider)
    };
    let opts: &mut ResolverOpts = builder.options_mut();
    opts.timeout = timeout;
    opts.attempts = 1;
    opts.ndots = 0;
    opts.try_tcp_on_error = false;
    opts.use_hosts_file = hickory_resolver::config::ResolveHosts::Never;
    Ok(builder.build())
}

/// Looks up the TXT records at `name` (a fully qualified name, no trailing dot).
///
/// [`DnsError::Timeout`] when the resolver gets no answer in time,
/// [`DnsError::Failed`] for any other resolver failure (SERVFAIL, refused,
/// unreachable); NXDOMAIN and "no TXT record" are [`Lookup::Missing`].
async fn lookup_txt(
    servers: &[std::net::SocketAddr],
    timeout: Duration,
    name: &str,
) -> Result<Lookup, DnsError> {
    let resolver = resolver(servers, timeout)?;
    let fqdn = format!("{name}.");
    // The resolver enforces the timeout itself; this outer bound only guards
    // against a resolver that never returns.
    let bound = timeout * 2 + Duration::from_secs(1);
    let result = match tokio::time::timeout(bound, resolver.txt_lookup(fqdn)).await {
        Ok(r) => r,
        Err(_) => return Err(timeout_error(name)),
    };
    match result {
        Ok(lookup) => {
            let values = lookup
                .iter()
                .map(|txt| {
                    txt.txt_data()
                        .iter()
                        .map(|part| String::from_utf8_lossy(part).into_owned())
                        .collect::<String>()
                })
                .collect::<Vec<_>>();
            if values.is_empty() {
                Ok(Lookup::Missing)
            } else {
                Ok(Lookup::Found(values))
            }
        }
        Err(e) if is_missing(&e) => Ok(Lookup::Missing),
        Err(e) if is_timeout(&e) => Err(timeout_error(name)),
        Err(e) => {
            tracing::warn!(error = %e, name, "DNS lookup failed");
            Err(DnsError::Failed(format!(
                "The DNS lookup of {name} failed; check the DNS servers and try again"
            )))
        }
    }
}

/// NXDOMAIN, or a NOERROR answer without TXT records. (hickory reports
/// SERVFAIL and REFUSED as "no records" too; those are failures.)
fn is_missing(e: &ResolveError) -> bool {
    match e.kind() {
        ResolveErrorKind::Proto(p) => match p.kind() {
            ProtoErrorKind::NoRecordsFound { response_code, .. } => {
                matches!(
                    *response_code,
                    ResponseCode::NXDomain | ResponseCode::NoError
                )
            }
            _ => false,
        },
        _ => false,
    }
}

fn is_timeout(e: &ResolveError) -> bool {
    match e.kind() {
        ResolveErrorKind::Proto(p) => matches!(p.kind(), ProtoErrorKind::Timeout),
        _ => false,
    }
}

fn timeout_error(name: &str) -> DnsError {
    DnsError::Timeout(format!(
        "The DNS servers did not answer the lookup of {name} in time; try again later"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_record_name() {
        assert_eq!(
            challenge_name("example.com"),
            "_slipway-challenge.example.com"
        );
    }
}
