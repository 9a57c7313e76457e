//! The audit log: who changed what, from where, and every sign-in.
//!
//! Every state change writes its [`AuditEntry`] in the same atomic step as
//! the change (the store's write methods take it), so an entry exists
//! exactly when its change took effect. Security events that change no
//! state (sign-ins, failed password checks) are appended on their own.
//! Entries never hold a secret, password or token: only ids, the action, the
//! client's address and the request id.
//!
//! The client's address and the request id come from the [`Origin`] the
//! caller scoped around the operation (the HTTP layer does it for every
//! request; host code may do it for its own calls).

use crate::model::UserId;
use std::net::IpAddr;

use super::{Core, Error, Page, Principal, Resource, Result};
use crate::model::{is_audit_id, AuditAction, AuditActor, AuditEntry, AuditOutcome, AuditQuery};

tokio::task_local! {
    static ORIGIN: Origin;
}

/// Where the current operation comes from: the client's address and the
/// request id. Audit entries written inside [`Origin::scope`] carry them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// The client's address.
    pub ip: Option<IpAddr>,
    /// The request id (`X-Request-Id`).
    pub request_id: Option<String>,
}

impl Origin {
    /// An origin with this address and request id.
    pub fn new(ip: Option<IpAddr>, request_id: Option<String>) -> Self {
        Origin { ip, request_id }
    }

    /// Runs `fut` with this origin: the audit entries it writes carry it.
    pub async fn scope<F: std::future::Future>(self, fut: F) -> F::Output {
        ORIGIN.scope(self, fut).await
    }

    /// The origin of the current task, if one was scoped.
    pub fn current() -> Option<Origin> {
        ORIGIN.try_with(Clone::clone).ok()
    }
}

/// Which entries to read (`GET /audit`).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct AuditFilter {
    /// Only entries whose actor is this user.
    pub actor: Option<UserId>,
    /// Only entries of this action (its name: `project.create`).
    pub action: Option<String>,
    /// At most this many (1-1000; default 100).
    pub limit: Option<usize>,
    /// Only entries older than this entry id (the last of the previous page).
    pub after: Option<String>,
}

/// The default page size of `GET /audit`.
pub const AUDIT_DEFAULT_LIMIT: usize = 100;

/// Reads the audit log ([`Slipway::audit`](crate::Slipway)).
pub struct Audit<'a> {
    pub(crate) core: &'a Core,
}

impl Audit<'_> {
    /// Entries newest first. Admins (and the system principal) see every
    /// entry; other users only those where they are the actor (an `actor`
    /// filter naming someone else answers an empty page). API tokens are
    /// refused.
    pub async fn list(&self, actor: &Principal, filter: AuditFilter) -> Result<Page<AuditEntry>> {
        self.core.refuse_api_token(actor)?;
        let me = if actor.is_system() {
            None
        } else {
            Some(self.core.user_of(actor).await?)
        };
        let limit = filter.limit.unwrap_or(AUDIT_DEFAULT_LIMIT);
        if !(1..=super::MAX_PAGE_LIMIT).contains(&limit) {
            return Err(Error::invalid(
                "limit",
                format!(
                    "limit must be a whole number from 1 to {}",
                    super::MAX_PAGE_LIMIT
                ),
            ));
        }
        let action = match filter.action.as_deref() {
            None => None,
            Some(name) => Some(AuditAction::parse(name).ok_or_else(|| {
                Error::invalid(
                    "action",
                    "action must name an audit action (project.create, ...)",
                )
            })?),
        };
        if let Some(after) = &filter.after {
            if !is_audit_id(after) {
                return Err(Error::invalid(
                    "after",
                    "after must be the id of an audit entry",
                ));
            }
        }
        // An actor that is not an id Slipway issues names no user: an empty
        // page, and the text never reaches the store (on Redis it would be
        // part of a key).
        if filter
            .actor
            .as_deref()
            .is_some_and(|a| !super::is_issued_id(a))
        {
            return Ok(Page {
                items: Vec::new(),
                next_after: None,
            });
        }
        let actor_filter = match &me {
            Some(me) if me.role != crate::model::Role::Admin => {
                if filter.actor.as_ref().is_some_and(|a| *a != me.id) {
                    return Ok(Page {
                        items: Vec::new(),
                        next_after: None,
                    });
                }
                Some(me.id.clone())
            }
            _ => filter.actor,
        };
        // One more than asked, to know whether another page follows.
        let mut items = self
            .core
            .store
            .list_audit(&AuditQuery {
                actor: actor_filter,
                action,
                before: filter.after,
                limit: limit + 1,
            })
            .await
            .map_err(|e| Error::store(Resource::Audit, e))?;
        let next_after = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|e| e.id.clone())
        } else {
            None
        };
        Ok(Page { items, next_after })
    }
}

impl Core {
    /// An entry of `action` done by `actor`, from the current [`Origin`].
    pub(crate) fn audit(&self, actor: &Principal, action: AuditAction) -> AuditEntry {
        let mut entry = AuditEntry::new(action, chrono::Utc::now());
        entry.actor = actor.id().map(|user_id| AuditActor {
            user_id: user_id.clone(),
            token_id: actor.grant().map(|g| g.token_id.clone()),
        });
        if let Some(origin) = Origin::current() {
            entry.ip = origin.ip.map(|ip| ip.to_string());
            entry.request_id = origin.request_id;
        }
        entry
    }

    /// An entry of `action` by an anonymous caller at `client` (the
    /// current [`Origin`]'s address when `None`).
    pub(crate) fn anonymous_audit(
        &self,
        action: AuditAction,
        client: Option<IpAddr>,
    ) -> AuditEntry {
        let mut entry = self.audit(&Principal::system(), action);
        if let Some(ip) = client {
            entry.ip = Some(ip.to_string());
        }
        entry
    }

    /// Appends an entry that records no change (a sign-in). A store failure
    /// is logged, not answered: the caller's operation already happened.
    pub(crate) async fn append_audit(&self, mut entry: AuditEntry, outcome: AuditOutcome) {
        entry.outcome = outcome;
        if let Err(e) = self.store.append_audit(&entry).await {
            tracing::warn!(error = %e, action = %entry.action, "could not write an audit entry");
        }
    }

    /// Deletes the entries older than the configured retention.
    pub(crate) async fn purge_audit(&self) {
        let Ok(keep) = chrono::Duration::from_std(self.config.audit_retention) else {
            return;
        };
        let before = chrono::Utc::now() - keep;
        match self.store.purge_audit(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "audit entries past their retention deleted"),
            Err(e) => tracing::warn!(error = %e, "could not delete old audit entries"),
        }
    }
}

#[cfg(all(test, feature = "memory"))]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::services::{NewAccount, NewProject};
    use crate::{MemoryStore, Slipway};

    fn slipway(retention: Duration) -> Slipway {
        Slipway::builder()
            .secret(b"an instance secret of at least 32 bytes!".to_vec())
            .store(MemoryStore::new())
            .audit_retention(retention)
            .build()
            .unwrap()
    }

    async fn everything(slipway: &Slipway) -> Vec<AuditEntry> {
        slipway
            .audit()
            .list(&Principal::system(), AuditFilter::default())
            .await
            .unwrap()
            .items
    }

    #[tokio::test]
    async fn the_default_query_lists_the_newest_entries() {
        use crate::store::Store as _;
        let store = MemoryStore::new();
        let total = AuditQuery::DEFAULT_LIMIT + 5;
        for _ in 0..total {
            store
                .append_audit(&AuditEntry::new(
                    AuditAction::SigninSuccess,
                    chrono::Utc::now(),
                ))
                .await
                .unwrap();
        }
        let all = store
            .list_audit(&AuditQuery {
                limit: total,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(all.len(), total);
        let listed = store.list_audit(&AuditQuery::default()).await.unwrap();
        assert_eq!(listed, all[..AuditQuery::DEFAULT_LIMIT]);
    }

    #[tokio::test]
    async fn entries_past_their_retention_are_deleted_when_work_starts() {
        let slipway = slipway(Duration::from_secs(24 * 3600));
        let store = slipway.store();
        let old = AuditEntry::new(
            AuditAction::SigninSuccess,
            chrono::Utc::now() - chrono::Duration::days(2),
        );
        let recent = AuditEntry::new(AuditAction::SigninFailure, chrono::Utc::now());
        store.append_audit(&old).await.unwrap();
        store.append_audit(&recent).await.unwrap();
        assert_eq!(everything(&slipway).await.len(), 2);
        slipway.start_webhook_delivery();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let ids: Vec<String> = everything(&slipway)
                .await
                .into_iter()
                .map(|e| e.id)
                .collect();
            if ids == vec![recent.id.clone()] {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "still kept: {ids:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        slipway.shutdown_websockets().await;
    }

    #[tokio::test]
    async fn host_calls_carry_the_origin_they_scope() {
        let slipway = slipway(Duration::from_secs(3600));
        let ada = slipway
            .accounts()
            .find_or_create(NewAccount::new("Ada", "ada@example.com"))
            .await
            .unwrap();
        let origin = Origin::new(Some("192.0.2.1".parse().unwrap()), Some("job-7".into()));
        let project = origin
            .scope(slipway.projects().create(
                &Principal::user(ada.clone()),
                NewProject::new("Blog", "s", "v"),
            ))
            .await
            .unwrap();
        let entries = everything(&slipway).await;
        assert_eq!(entries.len(), 2, "{entries:?}");
        let create = &entries[0];
        assert_eq!(create.action, AuditAction::ProjectCreate);
        assert_eq!(create.actor_id(), Some(ada.id.as_str()));
        assert_eq!(create.ip.as_deref(), Some("192.0.2.1"));
        assert_eq!(create.request_id.as_deref(), Some("job-7"));
        assert_eq!(
            create.target,
            Some(crate::model::AuditTarget::new("project", &project.id))
        );
        // The host's own account creation: no actor, no origin.
        let created = &entries[1];
        assert_eq!(created.action, AuditAction::UserCreate);
        assert_eq!((created.actor.clone(), created.ip.clone()), (None, None));
    }
}
