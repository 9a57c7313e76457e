//! Registered domains: instance-wide; admins write them, every signed-in
//! user reads them. A domain becomes `linked` only through verification: its
//! challenge must be published as a TXT record at
//! `_slipway-challenge.<domain>`. Linking is sticky: a later check that does
//! not find the record leaves a linked domain linked (ownership was proven
//! once; networks depend on it).

use super::page::{Page, PageRequest};
use super::{issued, new_id, validate, Core, Error, Principal, Resource, Result, Upstream};
use crate::dns::{DnsError, Lookup};
use crate::model::DomainId;
use crate::model::{AuditAction, Domain, Scope};

/// A domain to register.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewDomain {
    /// The domain name (lowercased, trailing dot removed).
    pub domain: String,
    /// The TXT challenge (1-255 visible ASCII characters); `None` draws 32
    /// random characters from the OS CSPRNG.
    pub challenge: Option<String>,
    /// Whether it is the instance's main domain (at most one).
    pub main: bool,
    /// Must not be `Some(true)`: only verification links a domain.
    pub linked: Option<bool>,
}

impl NewDomain {
    /// A domain with a random challenge.
    pub fn new(domain: impl Into<String>, main: bool) -> Self {
        NewDomain {
            domain: domain.into(),
            challenge: None,
            main,
            linked: None,
        }
    }
}

/// What a verification found.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DomainVerification {
    /// The domain after the check.
    pub domain: Domain,
    /// Whether the TXT record held the challenge.
    pub found: bool,
}

fn check_challenge(c: &str) -> Result<()> {
    if !(1..=255).contains(&c.len()) || !c.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::invalid(
            "challenge",
            "challenge must be 1-255 visible ASCII characters without spaces \
             (omit it to get a random one)",
        ));
    }
    Ok(())
}

/// The name of the TXT record that must hold a domain's challenge.
pub fn challenge_name(domain: &str) -> String {
    crate::dns::challenge_name(domain)
}

/// The registered-domain operations; see [`Slipway::domains`](crate::Slipway::domains).
pub struct Domains<'a> {
    pub(crate) core: &'a Core,
}

impl Domains<'_> {
    /// Registers a domain (admin).
    pub async fn create(&self, actor: &Principal, input: NewDomain) -> Result<Domain> {
        self.core.require_scope(actor, Scope::DomainsWrite)?;
        self.core.require_admin(actor).await?;
        let name = validate::domain_name("domain", &input.domain)?;
        if input.linked == Some(true) {
            return Err(Error::invalid(
                "linked",
                "linked cannot be true on creation: a domain becomes linked only through \
                 POST /domains/{id}/verify",
            ));
        }
        let challenge = match input.challenge {
            Some(c) => {
                check_challenge(&c)?;
                c
            }
            None => crate::crypto::random_token(32),
        };
        let domain = Domain {
            id: new_id(),
            domain: name,
            challenge,
            main: input.main,
            linked: false,
            created_at: chrono::Utc::now(),
        };
        let audit = self
            .core
            .audit(actor, AuditAction::DomainCreate)
            .target("domain", &domain.id);
        self.core
            .store
            .create_domain(domain, &audit)
            .await
            .map_err(|e| Error::store(Resource::Domain, e))
    }

    /// Every registered domain, oldest first (any signed-in principal).
    pub async fn list(&self, actor: &Principal) -> Result<Vec<Domain>> {
        self.core.require_scope(actor, Scope::DomainsRead)?;
        self.core.require_signed_in(actor).await?;
        self.core
            .store
            .list_domains()
            .await
            .map_err(|e| Error::store(Resource::Domain, e))
    }

    /// One page of the registered domains, oldest first ([`PageRequest`]).
    pub async fn list_page(&self, actor: &Principal, page: &PageRequest) -> Result<Page<Domain>> {
        page.apply(self.list(actor).await?, |d| d.id.as_str())
    }

    /// One registered domain (any signed-in principal).
    pub async fn get(&self, actor: &Principal, id: &DomainId) -> Result<Domain> {
        self.core.require_scope(actor, Scope::DomainsRead)?;
        self.core.require_signed_in(actor).await?;
        let id = issued(id, Resource::Domain)?;
        self.core
            .store
            .get_domain(id)
            .await
            .map_err(|e| Error::store(Resource::Domain, e))
    }

    /// Deletes a domain (admin); [`Error::InUse`] while network connections
    /// use it.
    pub async fn delete(&self, actor: &Principal, id: &DomainId) -> Result<()> {
        self.core.require_scope(actor, Scope::DomainsWrite)?;
        self.core.require_admin(actor).await?;
        let id = issued(id, Resource::Domain)?;
        let audit = self
            .core
            .audit(actor, AuditAction::DomainDelete)
            .target("domain", id);
        self.core
            .store
            .delete_domain(id, &audit)
            .await
            .map_err(|e| Error::store(Resource::Domain, e))
    }

    /// Looks the challenge record up and links the domain when it holds the
    /// challenge (admin).
    pub async fn verify(&self, actor: &Principal, id: &DomainId) -> Result<DomainVerification> {
        self.core.require_scope(actor, Scope::DomainsWrite)?;
        self.core.require_admin(actor).await?;
        let id = issued(id, Resource::Domain)?;
        let store = &self.core.store;
        let domain = store
            .get_domain(id)
            .await
            .map_err(|e| Error::store(Resource::Domain, e))?;
        let name = challenge_name(&domain.domain);
        let found = match self.core.dns.lookup_txt(&name).await {
            Ok(Lookup::Found(values)) => values.iter().any(|v| v.trim() == domain.challenge),
            Ok(Lookup::Missing) => false,
            Err(DnsError::Timeout(message)) => {
                return Err(Error::upstream_timeout(Upstream::Dns, message))
            }
            Err(DnsError::Failed(message)) => return Err(Error::upstream(Upstream::Dns, message)),
        };
        let domain = if found && !domain.linked {
            let audit = self
                .core
                .audit(actor, AuditAction::DomainVerify)
                .target("domain", id);
            store
                .set_domain_linked(id, true, &audit)
                .await
                .map_err(|e| Error::store(Resource::Domain, e))?
        } else {
            domain
        };
        tracing::info!(domain = %domain.domain, found, linked = domain.linked, "domain verified");
        Ok(DomainVerification { domain, found })
    }
}
