//! Users, invitations, authorizations, domains and settings.

use redis::AsyncCommands;
use slipway_core::error::StoreError;
use slipway_core::model::{
    ApiToken, ApiTokenId, AuditEntry, Authorization, AuthorizationId, Domain, DomainId, Invitation,
    InvitationId, NewEvent, NewUser, Role, RoleGate, Sealed, Timestamp, User, UserId, UserUpdate,
};
use slipway_core::store::StoreResult;

use crate::audit::AuditArgs;
use crate::records::{
    auth_index_field, from_json, to_json, ApiTokenRec, AuthRec, DomainRec, InvitationRec, UserRec,
};
use crate::scripts::*;
use crate::{quota_arg, refused, RedisStore, Reply, MAX_ATTEMPTS};

pub(crate) async fn create_user(
    s: &RedisStore,
    user: NewUser,
    gate: RoleGate,
    audit: &AuditEntry,
) -> StoreResult<User> {
    let audit = AuditArgs::new(audit)?;
    let mut user = user.into_user(Role::Admin);
    let as_admin = to_json(&UserRec::from_user(&user))?;
    user.role = Role::Member;
    let as_member = to_json(&UserRec::from_user(&user))?;
    let gid = user.github_id.map(|g| g.to_string()).unwrap_or_default();
    let (gate, invitation) = match gate {
        RoleGate::FirstUserOnly => ("first_only", String::new()),
        RoleGate::Exactly(role) => (role.as_str(), String::new()),
        RoleGate::Invitation { id, role } => (role.as_str(), id.to_string()),
        _ => ("first_admin", String::new()),
    };
    let reply = s
        .write_audited(
            &CREATE_USER,
            &[
                &user.id,
                &user.email,
                &gid,
                gate,
                &as_admin,
                &as_member,
                &invitation,
            ],
            &audit,
        )
        .await?;
    match reply {
        Reply::Ok(v) => {
            user.role = if v.first().map(String::as_str) == Some("admin") {
                Role::Admin
            } else {
                Role::Member
            };
            Ok(user)
        }
        other => refused(other),
    }
}

async fn user_raw(s: &RedisStore, id: &UserId) -> StoreResult<Option<String>> {
    s.get_raw(&format!("user:{id}")).await
}

pub(crate) async fn get_user(s: &RedisStore, id: &UserId) -> StoreResult<User> {
    match user_raw(s, id).await? {
        Some(raw) => from_json::<UserRec>(&raw)?.into_user(),
        None => Err(StoreError::NotFound),
    }
}

/// The user an index hash names for `field`, if any.
pub(crate) async fn user_by_index(
    s: &RedisStore,
    idx: &str,
    field: &str,
) -> StoreResult<Option<User>> {
    let mut conn = s.conn();
    let key = s.key(&format!("idx:{idx}"));
    let id: Option<String> = s.timed(async { conn.hget(key, field).await }).await?;
    let Some(id) = id.map(UserId::from) else {
        return Ok(None);
    };
    match get_user(s, &id).await {
        Ok(u) => Ok(Some(u)),
        // Deleted between the two reads.
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

pub(crate) async fn link_github(
    s: &RedisStore,
    user_id: &UserId,
    github_id: i64,
    audit: &AuditEntry,
) -> StoreResult<User> {
    let audit = AuditArgs::new(audit)?;
    let gid = github_id.to_string();
    for _ in 0..MAX_ATTEMPTS {
        let Some(raw) = user_raw(s, user_id).await? else {
            return Err(StoreError::NotFound);
        };
        let mut rec: UserRec = from_json(&raw)?;
        rec.github_id = Some(gid.clone());
        let new = to_json(&rec)?;
        match s
            .write_audited(&LINK_GITHUB, &[user_id, &gid, &raw, &new], &audit)
            .await?
        {
            Reply::Ok(_) => return rec.into_user(),
            Reply::Retry => continue,
            other => return refused(other),
        }
    }
    refused(Reply::Retry)
}

pub(crate) async fn update_user(
    s: &RedisStore,
    id: &UserId,
    update: UserUpdate,
    audit: &AuditEntry,
) -> StoreResult<User> {
    let audit = AuditArgs::new(audit)?;
    for _ in 0..MAX_ATTEMPTS {
        let Some(raw) = user_raw(s, id).await? else {
            return Err(StoreError::NotFound);
        };
        let before = from_json::<UserRec>(&raw)?.into_user()?;
        let removes_admin = if update.removes_admin(&before) {
            "1"
        } else {
            "0"
        };
        let mut after = before;
        update.apply(&mut after);
        let new = to_json(&UserRec::from_user(&after))?;
        match s
            .write_audited(
                &UPDATE_USER,
                &[id, &raw, &new, &after.email, removes_admin],
                &audit,
            )
            .await?
        {
            Reply::Ok(_) => return Ok(after),
            Reply::Retry => continue,
            other => return refused(other),
        }
    }
    refused(Reply::Retry)
}

pub(crate) async fn list_users(
    s: &RedisStore,
    after: Option<&UserId>,
    limit: usize,
) -> StoreResult<Vec<User>> {
    let limit = limit.min(i64::MAX as usize).to_string();
    let reply: Vec<String> = s
        .read(&LIST_USERS, &[after.map_or("", UserId::as_str), &limit])
        .await?;
    let mut it = reply.into_iter();
    match it.next().as_deref() {
        Some("ok") => it
            .map(|raw| from_json::<UserRec>(&raw)?.into_user())
            .collect(),
        Some("notfound") => Err(StoreError::NotFound),
        other => Err(StoreError::other(format!(
            "unexpected script answer {other:?}"
        ))),
    }
}

pub(crate) async fn delete_user(
    s: &RedisStore,
    id: &UserId,
    events: Vec<NewEvent>,
    audit: &AuditEntry,
) -> StoreResult<()> {
    if events.iter().any(|e| e.owner_id != *id) {
        return Err(StoreError::Stale);
    }
    let audit = AuditArgs::new(audit)?;
    let count = events.len().to_string();
    let data = events
        .iter()
        .map(|e| to_json(&e.data))
        .collect::<StoreResult<Vec<String>>>()?;
    let mut args: Vec<&str> = vec![id, &count];
    for (e, data) in events.iter().zip(&data) {
        args.extend([e.project_id.as_str(), e.kind.as_str(), data.as_str()]);
    }
    match s.write_audited(&DELETE_USER, &args, &audit).await? {
        Reply::Ok(_) => Ok(()),
        // The user's projects are not the ones core read: nothing written.
        Reply::Retry => Err(StoreError::Stale),
        other => refused(other),
    }
}

// ---- API tokens ------------------------------------------------------------

pub(crate) async fn create_api_token(
    s: &RedisStore,
    token: ApiToken,
    max_kept: usize,
    audit: &AuditEntry,
) -> StoreResult<ApiToken> {
    let audit = AuditArgs::new(audit)?;
    let rec = to_json(&ApiTokenRec::from(&token))?;
    // The script counts the user's tokens and writes in one step.
    let max_kept = quota_arg(max_kept);
    match s
        .write_audited(
            &CREATE_API_TOKEN,
            &[
                &token.user_id,
                &token.id,
                &token.token_hash,
                &rec,
                &max_kept,
            ],
            &audit,
        )
        .await?
    {
        Reply::Ok(_) => Ok(token),
        other => refused(other),
    }
}

pub(crate) async fn list_api_tokens(
    s: &RedisStore,
    user_id: &UserId,
) -> StoreResult<Vec<ApiToken>> {
    s.records_of(&format!("user:{user_id}:apitokens"), "apitoken")
        .await?
        .iter()
        .map(|raw| from_json::<ApiTokenRec>(raw)?.into_api_token())
        .collect()
}

pub(crate) async fn find_api_token(
    s: &RedisStore,
    token_hash: &str,
) -> StoreResult<Option<ApiToken>> {
    let mut conn = s.conn();
    let key = s.key("idx:apitoken");
    let id: Option<String> = s.timed(async { conn.hget(key, token_hash).await }).await?;
    let Some(id) = id else { return Ok(None) };
    let Some(raw) = s.get_raw(&format!("apitoken:{id}")).await? else {
        // Deleted between the two reads.
        return Ok(None);
    };
    let token = from_json::<ApiTokenRec>(&raw)?.into_api_token()?;
    Ok((token.token_hash == token_hash).then_some(token))
}

pub(crate) async fn delete_api_token(
    s: &RedisStore,
    user_id: &UserId,
    id: &ApiTokenId,
    audit: &AuditEntry,
) -> StoreResult<()> {
    let audit = AuditArgs::new(audit)?;
    match s
        .write_audited(&DELETE_API_TOKEN, &[user_id, id], &audit)
        .await?
    {
        Reply::Ok(_) => Ok(()),
        other => refused(other),
    }
}

pub(crate) async fn touch_api_token(
    s: &RedisStore,
    id: &ApiTokenId,
    at: Timestamp,
) -> StoreResult<()> {
    // Compare-and-set of the record: a concurrent change makes us read again.
    let key = format!("apitoken:{id}");
    for _ in 0..MAX_ATTEMPTS {
        let Some(raw) = s.get_raw(&key).await? else {
            return Ok(());
        };
        let mut rec: ApiTokenRec = from_json(&raw)?;
        rec.last_used_at = Some(at);
        let new = to_json(&rec)?;
        match s.write(&REPLACE, &[&key, &raw, &new]).await? {
            Reply::Ok(_) | Reply::NotFound => return Ok(()),
            Reply::Retry => continue,
            other => return refused(other),
        }
    }
    refused(Reply::Retry)
}

// ---- invitations -----------------------------------------------------------

pub(crate) async fn create_invitation(
    s: &RedisStore,
    invitation: Invitation,
    audit: &AuditEntry,
) -> StoreResult<Invitation> {
    let audit = AuditArgs::new(audit)?;
    let rec = to_json(&InvitationRec::from(&invitation))?;
    match s
        .write_audited(
            &CREATE_INVITATION,
            &[
                &invitation.id,
                &invitation.email,
                &invitation.token_hash,
                &rec,
            ],
            &audit,
        )
        .await?
    {
        Reply::Ok(_) => Ok(invitation),
        other => refused(other),
    }
}

pub(crate) async fn list_invitations(s: &RedisStore) -> StoreResult<Vec<Invitation>> {
    s.records_of("invitations", "invitation")
        .await?
        .iter()
        .map(|raw| from_json::<InvitationRec>(raw)?.into_invitation())
        .collect()
}

pub(crate) async fn find_invitation(
    s: &RedisStore,
    token_hash: &str,
) -> StoreResult<Option<Invitation>> {
    let mut conn = s.conn();
    let key = s.key("idx:invtoken");
    let id: Option<String> = s.timed(async { conn.hget(key, token_hash).await }).await?;
    let Some(id) = id else { return Ok(None) };
    let Some(raw) = s.get_raw(&format!("invitation:{id}")).await? else {
        // Deleted between the two reads.
        return Ok(None);
    };
    let invitation = from_json::<InvitationRec>(&raw)?.into_invitation()?;
    Ok((invitation.token_hash == token_hash).then_some(invitation))
}

pub(crate) async fn delete_invitation(
    s: &RedisStore,
    id: &InvitationId,
    audit: &AuditEntry,
) -> StoreResult<()> {
    let audit = AuditArgs::new(audit)?;
    match s.write_audited(&DELETE_INVITATION, &[id], &audit).await? {
        Reply::Ok(_) => Ok(()),
        other => refused(other),
    }
}

// ---- authorizations --------------------------------------------------------

pub(crate) async fn create_authorization(
    s: &RedisStore,
    auth: Authorization,
    max_kept: usize,
    audit: &AuditEntry,
) -> StoreResult<Authorization> {
    let audit = AuditArgs::new(audit)?;
    let rec = to_json(&AuthRec::from_auth(&auth))?;
    let field = auth_index_field(auth.kind, &auth.name);
    // The script counts the user's authorizations and writes in one step.
    let max_kept = quota_arg(max_kept);
    match s
        .write_audited(
            &PUT_AUTH,
            &[&auth.user_id, &auth.id, &field, &rec, "create", &max_kept],
            &audit,
        )
        .await?
    {
        Reply::Ok(_) => Ok(auth),
        other => refused(other),
    }
}

pub(crate) async fn upsert_authorization(
    s: &RedisStore,
    auth: Authorization,
    audit: &AuditEntry,
) -> StoreResult<Authorization> {
    let audit = AuditArgs::new(audit)?;
    let field = auth_index_field(auth.kind, &auth.name);
    let idx = s.key(&format!("user:{}:authidx", auth.user_id));
    for _ in 0..MAX_ATTEMPTS {
        let mut conn = s.conn();
        let existing_id: Option<String> = s.timed(async { conn.hget(&idx, &field).await }).await?;
        // The record to write: the existing one (its id and creation time)
        // with the new secret and info, or `auth` itself.
        let stored = match &existing_id {
            Some(eid) => match s.get_raw(&format!("auth:{eid}")).await? {
                Some(raw) => {
                    let mut old = from_json::<AuthRec>(&raw)?.into_auth()?;
                    old.secret = auth.secret.clone();
                    old.info = auth.info.clone();
                    old
                }
                None => continue,
            },
            None => auth.clone(),
        };
        let rec = to_json(&AuthRec::from_auth(&stored))?;
        let expected = existing_id.as_deref().unwrap_or("");
        match s
            .write_audited(
                &PUT_AUTH,
                &[&auth.user_id, &auth.id, &field, &rec, "upsert", expected],
                &audit,
            )
            .await?
        {
            Reply::Ok(_) => return Ok(stored),
            Reply::Retry => continue,
            other => return refused(other),
        }
    }
    refused(Reply::Retry)
}

pub(crate) async fn list_authorizations(
    s: &RedisStore,
    user_id: &UserId,
) -> StoreResult<Vec<Authorization>> {
    s.records_of(&format!("user:{user_id}:auths"), "auth")
        .await?
        .iter()
        .map(|raw| from_json::<AuthRec>(raw)?.into_auth())
        .filter(|a| a.as_ref().map_or(true, |a| a.user_id == user_id))
        .collect()
}

/// Every user's authorizations, user by user (oldest user first), each
/// user's oldest first.
pub(crate) async fn all_authorizations(s: &RedisStore) -> StoreResult<Vec<Authorization>> {
    let mut conn = s.conn();
    let key = s.key("users");
    let users: Vec<String> = s.timed(async { conn.zrange(key, 0, -1).await }).await?;
    let mut all = Vec::new();
    for user in users.into_iter().map(UserId::from) {
        all.extend(list_authorizations(s, &user).await?);
    }
    Ok(all)
}

pub(crate) async fn reseal_authorization(
    s: &RedisStore,
    user_id: &UserId,
    id: &AuthorizationId,
    old: &Sealed,
    new: Sealed,
    audit: &AuditEntry,
) -> StoreResult<bool> {
    let Some(raw) = s.get_raw(&format!("auth:{id}")).await? else {
        return Ok(false);
    };
    let mut auth = from_json::<AuthRec>(&raw)?.into_auth()?;
    if auth.user_id != user_id || auth.secret != *old {
        return Ok(false);
    }
    auth.secret = new;
    let rec = to_json(&AuthRec::from_auth(&auth))?;
    let audit = AuditArgs::new(audit)?;
    // Compare and set: a record deleted or changed meanwhile is left alone
    // (and no entry is stored).
    match s
        .write_audited(&RESEAL_AUTH, &[id, &raw, &rec], &audit)
        .await?
    {
        Reply::Ok(_) => Ok(true),
        Reply::Retry => Ok(false),
        other => refused(other),
    }
}

pub(crate) async fn get_authorization(
    s: &RedisStore,
    user_id: &UserId,
    id: &AuthorizationId,
) -> StoreResult<Authorization> {
    let raw = s
        .get_raw(&format!("auth:{id}"))
        .await?
        .ok_or(StoreError::NotFound)?;
    let a = from_json::<AuthRec>(&raw)?.into_auth()?;
    if a.user_id != user_id {
        return Err(StoreError::NotFound);
    }
    Ok(a)
}

pub(crate) async fn delete_authorization(
    s: &RedisStore,
    user_id: &UserId,
    id: &AuthorizationId,
    audit: &AuditEntry,
) -> StoreResult<()> {
    let audit = AuditArgs::new(audit)?;
    match s
        .write_audited(&DELETE_AUTH, &[user_id, id], &audit)
        .await?
    {
        Reply::Ok(_) => Ok(()),
        other => refused(other),
    }
}

// ---- domains ---------------------------------------------------------------

pub(crate) async fn create_domain(
    s: &RedisStore,
    domain: Domain,
    audit: &AuditEntry,
) -> StoreResult<Domain> {
    let audit = AuditArgs::new(audit)?;
    let rec = to_json(&DomainRec::from(&domain))?;
    let main = if domain.main { "1" } else { "0" };
    match s
        .write_audited(
            &CREATE_DOMAIN,
            &[&domain.id, &domain.domain, main, &rec],
            &audit,
        )
        .await?
    {
        Reply::Ok(_) => Ok(domain),
        other => refused(other),
    }
}

pub(crate) async fn list_domains(s: &RedisStore) -> StoreResult<Vec<Domain>> {
    s.records_of("domains", "domain")
        .await?
        .iter()
        .map(|raw| Ok(from_json::<DomainRec>(raw)?.into()))
        .collect()
}

pub(crate) async fn get_domain(s: &RedisStore, id: &DomainId) -> StoreResult<Domain> {
    let raw = s
        .get_raw(&format!("domain:{id}"))
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(from_json::<DomainRec>(&raw)?.into())
}

pub(crate) async fn set_domain_linked(
    s: &RedisStore,
    id: &DomainId,
    linked: bool,
    audit: &AuditEntry,
) -> StoreResult<Domain> {
    let audit = AuditArgs::new(audit)?;
    let key = format!("domain:{id}");
    for _ in 0..MAX_ATTEMPTS {
        let raw = s.get_raw(&key).await?.ok_or(StoreError::NotFound)?;
        let mut rec: DomainRec = from_json(&raw)?;
        rec.linked = linked;
        let new = to_json(&rec)?;
        match s
            .write_audited(&REPLACE, &[&key, &raw, &new], &audit)
            .await?
        {
            Reply::Ok(_) => return Ok(rec.into()),
            Reply::Retry => continue,
            other => return refused(other),
        }
    }
    refused(Reply::Retry)
}

pub(crate) async fn delete_domain(
    s: &RedisStore,
    id: &DomainId,
    audit: &AuditEntry,
) -> StoreResult<()> {
    let audit = AuditArgs::new(audit)?;
    match s.write_audited(&DELETE_DOMAIN, &[id], &audit).await? {
        Reply::Ok(_) => Ok(()),
        other => refused(other),
    }
}

// ---- settings --------------------------------------------------------------

pub(crate) async fn get_setting(
    s: &RedisStore,
    key: &str,
) -> StoreResult<Option<serde_json::Value>> {
    let mut conn = s.conn();
    let hash = s.key("settings");
    let raw: Option<String> = s.timed(async { conn.hget(hash, key).await }).await?;
    raw.map(|r| from_json(&r)).transpose()
}

pub(crate) async fn put_setting(
    s: &RedisStore,
    key: &str,
    value: serde_json::Value,
    audit: &AuditEntry,
) -> StoreResult<()> {
    let audit = AuditArgs::new(audit)?;
    let raw = to_json(&value)?;
    match s.write_audited(&PUT_SETTING, &[key, &raw], &audit).await? {
        Reply::Ok(_) => Ok(()),
        other => refused(other),
    }
}
