//! The Lua scripts, each prefixed with the shared helpers of `common.lua`.

use std::sync::LazyLock;

use redis::Script;

macro_rules! script {
    ($file:literal) => {
        LazyLock::new(|| {
            Script::new(concat!(
                include_str!("lua/common.lua"),
                "\n",
                include_str!(concat!("lua/", $file))
            ))
        })
    };
}

pub(crate) static CREATE_USER: LazyLock<Script> = script!("create_user.lua");
pub(crate) static LINK_GITHUB: LazyLock<Script> = script!("link_github.lua");
pub(crate) static DELETE_USER: LazyLock<Script> = script!("delete_user.lua");
pub(crate) static UPDATE_USER: LazyLock<Script> = script!("update_user.lua");
pub(crate) static LIST_USERS: LazyLock<Script> = script!("list_users.lua");
pub(crate) static CREATE_INVITATION: LazyLock<Script> = script!("create_invitation.lua");
pub(crate) static DELETE_INVITATION: LazyLock<Script> = script!("delete_invitation.lua");
pub(crate) static CREATE_API_TOKEN: LazyLock<Script> = script!("create_api_token.lua");
pub(crate) static DELETE_API_TOKEN: LazyLock<Script> = script!("delete_api_token.lua");
pub(crate) static PUT_AUTH: LazyLock<Script> = script!("put_auth.lua");
pub(crate) static DELETE_AUTH: LazyLock<Script> = script!("delete_auth.lua");
pub(crate) static RESEAL_AUTH: LazyLock<Script> = script!("reseal_auth.lua");
pub(crate) static CREATE_PROJECT: LazyLock<Script> = script!("create_project.lua");
pub(crate) static UPDATE_PROJECT: LazyLock<Script> = script!("update_project.lua");
pub(crate) static DELETE_PROJECT: LazyLock<Script> = script!("delete_project.lua");
pub(crate) static READ_PROJECTS: LazyLock<Script> = script!("read_projects.lua");
pub(crate) static CREATE_NETWORK: LazyLock<Script> = script!("create_network.lua");
pub(crate) static UPDATE_NETWORK: LazyLock<Script> = script!("update_network.lua");
pub(crate) static DELETE_NETWORK: LazyLock<Script> = script!("delete_network.lua");
pub(crate) static CREATE_DOMAIN: LazyLock<Script> = script!("create_domain.lua");
pub(crate) static DELETE_DOMAIN: LazyLock<Script> = script!("delete_domain.lua");
pub(crate) static CREATE_WEBHOOK: LazyLock<Script> = script!("create_webhook.lua");
pub(crate) static DELETE_WEBHOOK: LazyLock<Script> = script!("delete_webhook.lua");
pub(crate) static LEASE_WEBHOOK: LazyLock<Script> = script!("lease_webhook.lua");
pub(crate) static SET_WEBHOOK_CURSOR: LazyLock<Script> = script!("set_webhook_cursor.lua");
pub(crate) static RECORD_WEBHOOK_DELIVERY: LazyLock<Script> =
    script!("record_webhook_delivery.lua");
pub(crate) static REPLACE: LazyLock<Script> = script!("replace.lua");
pub(crate) static HIT_COUNTER: LazyLock<Script> = script!("hit_counter.lua");
pub(crate) static SETTLE_COUNTER: LazyLock<Script> = script!("settle_counter.lua");
pub(crate) static PUT_SETTING: LazyLock<Script> = script!("put_setting.lua");
pub(crate) static APPEND_AUDIT: LazyLock<Script> = script!("append_audit.lua");
pub(crate) static LIST_AUDIT: LazyLock<Script> = script!("list_audit.lua");
pub(crate) static PURGE_AUDIT: LazyLock<Script> = script!("purge_audit.lua");
