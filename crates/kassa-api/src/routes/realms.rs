//! The store's account authentication: `/v2/settings/account-authentication`, the realm it names
//! (`/v2/authentication-realms`), and under the realm its password profiles, users
//! (`user-authentication-info`, one record with the account member) and their passwords.
//!
//! Any token reads the settings, the realms and their (so far no) OpenID Connect profiles: a
//! storefront's login page does, with an implicit token. Everything else is an admin's, except
//! that a member may read and update their own user and password records with their account
//! token while `account_member_self_management` is `update_only`.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::get;
use kassa_core::Validator;
use kassa_core::account::{
    AccountSettings, Credential, DUPLICATE_EMAIL_POLICIES, MAX_ACCOUNT_TOKEN_TIMEOUT_SECS,
    MIN_PASSWORD_LENGTH, Member, PasswordProfile, Realm, SELF_MANAGEMENT_MODES, USERNAME_FORMATS,
    is_valid_email,
};
use kassa_core::integrations::{Event, EventKind, deleted_payload};
use kassa_core::query::{self, FieldKind, FieldSpec, TEXT_OPS};
use kassa_core::secret;
use kassa_core::time::{now_millis, rfc3339};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::{AccountScope, Admin, Caller, Shopper};
use crate::envelope::{self, Origin};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ListQuery, nullable, parse_uuid};
use crate::route_table::Routes;
use crate::state::AppState;

pub fn router() -> Routes {
    const REALM: &str = "/v2/authentication-realms/{realm}";
    Routes::new()
        .route("/v2/settings/account-authentication", get(read_settings).put(update_settings))
        .route("/v2/authentication-realms", get(list_realms))
        .route(REALM, get(read_realm).put(update_realm))
        .route(&format!("{REALM}/oidc-profiles"), get(list_oidc_profiles).post(create_oidc_profile))
        .route(
            &format!("{REALM}/oidc-profiles/{{id}}"),
            get(read_oidc_profile).put(change_oidc_profile).delete(change_oidc_profile),
        )
        .route(&format!("{REALM}/password-profiles"), get(list_profiles).post(create_profile))
        .route(&format!("{REALM}/password-profiles/{{id}}"), get(read_profile).put(update_profile).delete(remove_profile))
        .route(&format!("{REALM}/user-authentication-info"), get(list_users).post(create_user))
        .route(&format!("{REALM}/user-authentication-info/{{id}}"), get(read_user).put(update_user).delete(remove_user))
        .route(
            &format!("{REALM}/user-authentication-info/{{id}}/user-authentication-password-profile-info"),
            get(list_passwords).post(create_password),
        )
        .route(
            &format!("{REALM}/user-authentication-info/{{id}}/user-authentication-password-profile-info/{{credential}}"),
            get(read_password).put(update_password).delete(remove_password),
        )
        .string_status()
}

fn not_found(what: &str) -> ApiError {
    ApiError::not_found("Not Found", format!("{what} not found"))
}

fn timestamps_meta(created_at: i64, updated_at: i64) -> Value {
    json!({ "created_at": rfc3339(created_at), "updated_at": rfc3339(updated_at) })
}

// ---- settings ----------------------------------------------------------------------------

fn render_settings(s: &AccountSettings, origin: &Origin) -> Value {
    json!({
        "data": {
            "id": s.id,
            "type": "account_authentication_settings",
            "enable_self_signup": s.enable_self_signup,
            "auto_create_account_for_account_members": s.auto_create_account_for_account_members,
            "account_member_self_management": s.account_member_self_management,
            "account_management_authentication_token_timeout_secs": s.token_timeout_secs,
            "relationships": {
                "authentication_realm": {
                    "data": {
                        "id": s.realm_id,
                        "type": "authentication_realm",
                        "links": { "self": origin.url(&format!("/v2/authentication-realms/{}", s.realm_id)) },
                    }
                }
            },
            "meta": { "client_id": "account-management" },
        },
        "links": { "self": origin.url("/v2/settings/account-authentication") },
    })
}

async fn read_settings(State(state): State<AppState>, _: Caller, origin: Origin) -> ApiResult<Json<Value>> {
    Ok(Json(render_settings(
        &state.store.account_settings().await?,
        &origin,
    )))
}

#[derive(Deserialize)]
struct SettingsBody {
    data: SettingsData,
}

#[derive(Deserialize)]
struct SettingsData {
    #[serde(rename = "type")]
    kind: Option<String>,
    enable_self_signup: Option<bool>,
    auto_create_account_for_account_members: Option<bool>,
    account_member_self_management: Option<String>,
    account_management_authentication_token_timeout_secs: Option<i64>,
}

async fn update_settings(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiJson(body): ApiJson<SettingsBody>,
) -> ApiResult<Json<Value>> {
    let d = body.data;
    let mut v = Validator::new();
    v.resource_type(d.kind.as_deref(), "account_authentication_settings");
    if let Some(mode) = &d.account_member_self_management
        && !SELF_MANAGEMENT_MODES.contains(&mode.as_str())
    {
        v.push(
            "data.account_member_self_management",
            "enum",
            "must be one of: disabled, update_only",
        );
    }
    // Elastic Path documents no bounds; storefronts test their idle timeout with a few seconds.
    if let Some(secs) = d.account_management_authentication_token_timeout_secs
        && !(1..=MAX_ACCOUNT_TOKEN_TIMEOUT_SECS).contains(&secs)
    {
        v.push(
            "data.account_management_authentication_token_timeout_secs",
            "range",
            format!("must be a whole number of seconds from 1 to {MAX_ACCOUNT_TOKEN_TIMEOUT_SECS} (a year)"),
        );
    }
    v.finish()?;
    let mut s = state.store.account_settings().await?;
    s.enable_self_signup = d.enable_self_signup.unwrap_or(s.enable_self_signup);
    s.auto_create_account_for_account_members = d
        .auto_create_account_for_account_members
        .unwrap_or(s.auto_create_account_for_account_members);
    s.account_member_self_management = d
        .account_member_self_management
        .unwrap_or(s.account_member_self_management);
    s.token_timeout_secs = d
        .account_management_authentication_token_timeout_secs
        .unwrap_or(s.token_timeout_secs);
    state.store.update_account_settings(s.clone()).await?;
    Ok(Json(render_settings(&s, &origin)))
}

// ---- realms ------------------------------------------------------------------------------

fn render_realm(r: &Realm, origin: &Origin) -> Value {
    json!({
        "id": r.id,
        "type": "authentication-realm",
        "name": r.name,
        "duplicate_email_policy": r.duplicate_email_policy,
        "redirect_uris": r.redirect_uris,
        "relationships": { "origin": { "data": { "id": r.origin_id, "type": r.origin_type } } },
        "meta": timestamps_meta(r.created_at, r.updated_at),
        "links": { "self": origin.url(&format!("/v2/authentication-realms/{}", r.id)) },
    })
}

async fn list_realms(
    State(state): State<AppState>,
    _: Caller,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let realms = state.store.realms().await?;
    let total = realms.len() as u64;
    let items = realms
        .iter()
        .skip(query.page.offset as usize)
        .take(query.page.limit as usize)
        .map(|r| render_realm(r, &origin))
        .collect();
    Ok(Json(envelope::collection(items, total, &query, &origin, &uri)))
}

async fn realm_or_404(state: &AppState, raw: &str) -> ApiResult<Realm> {
    let id = parse_uuid(raw, || not_found("authentication realm"))?;
    state
        .store
        .realm(id)
        .await?
        .ok_or_else(|| not_found("authentication realm"))
}

async fn read_realm(
    State(state): State<AppState>,
    _: Caller,
    origin: Origin,
    ApiPath(realm): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let realm = realm_or_404(&state, &realm).await?;
    Ok(Json(envelope::single(render_realm(&realm, &origin))))
}

#[derive(Deserialize)]
struct RealmBody {
    data: RealmData,
}

#[derive(Deserialize)]
struct RealmData {
    #[serde(rename = "type")]
    kind: Option<String>,
    name: Option<String>,
    duplicate_email_policy: Option<String>,
    redirect_uris: Option<Vec<String>>,
}

async fn update_realm(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(realm): ApiPath<String>,
    ApiJson(body): ApiJson<RealmBody>,
) -> ApiResult<Json<Value>> {
    let mut realm = realm_or_404(&state, &realm).await?;
    let d = body.data;
    let mut v = Validator::new();
    v.resource_type(d.kind.as_deref(), "authentication-realm");
    let name = v.optional_text(d.name, "data.name", 255);
    if let Some(policy) = &d.duplicate_email_policy
        && !DUPLICATE_EMAIL_POLICIES.contains(&policy.as_str())
    {
        v.push(
            "data.duplicate_email_policy",
            "enum",
            "must be one of: allowed, disallowed, api_only",
        );
    }
    v.finish()?;
    realm.name = name.unwrap_or(realm.name);
    realm.duplicate_email_policy = d.duplicate_email_policy.unwrap_or(realm.duplicate_email_policy);
    realm.redirect_uris = d.redirect_uris.unwrap_or(realm.redirect_uris);
    realm.updated_at = now_millis();
    state.store.update_realm(realm.clone()).await?;
    Ok(Json(envelope::single(render_realm(&realm, &origin))))
}

// ---- OpenID Connect profiles -------------------------------------------------------------

/// A realm's OpenID Connect profiles: kassa has no OIDC yet, so none. A storefront's login page
/// lists them for its single sign-on buttons, and shows none.
async fn list_oidc_profiles(
    State(state): State<AppState>,
    _: Caller,
    origin: Origin,
    ApiPath(realm): ApiPath<String>,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    realm_or_404(&state, &realm).await?;
    Ok(Json(envelope::collection(
        Vec::<Value>::new(),
        0,
        &query,
        &origin,
        &uri,
    )))
}

async fn read_oidc_profile(_: Caller) -> ApiError {
    not_found("OIDC profile")
}

/// Creating a profile is an admin's (403 for an implicit token), and not supported yet.
async fn create_oidc_profile(_: Admin) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "Not Supported",
        "OpenID Connect profiles are not supported by this server yet",
    )
}

/// There are no profiles to update or delete.
async fn change_oidc_profile(_: Admin) -> ApiError {
    not_found("OIDC profile")
}

// ---- password profiles -------------------------------------------------------------------

fn render_profile(p: &PasswordProfile, origin: &Origin) -> Value {
    json!({
        "id": p.id,
        "type": "password_profile",
        "name": p.name,
        "username_format": p.username_format,
        "enable_one_time_password_token": p.enable_one_time_password_token,
        "meta": timestamps_meta(p.created_at, p.updated_at),
        "links": { "self": origin.url(&format!("/v2/authentication-realms/{}/password-profiles/{}", p.realm_id, p.id)) },
    })
}

#[derive(Deserialize)]
struct ProfileBody {
    data: ProfileData,
}

#[derive(Deserialize)]
struct ProfileData {
    #[serde(rename = "type")]
    kind: Option<String>,
    name: Option<String>,
    username_format: Option<String>,
    enable_one_time_password_token: Option<bool>,
}

fn check_username_format(v: &mut Validator, format: Option<&str>) {
    if let Some(f) = format
        && !USERNAME_FORMATS.contains(&f)
    {
        v.push("data.username_format", "enum", "must be one of: email, any");
    }
}

async fn create_profile(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(realm): ApiPath<String>,
    ApiJson(body): ApiJson<ProfileBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let realm = realm_or_404(&state, &realm).await?;
    let d = body.data;
    let mut v = Validator::new();
    v.resource_type(d.kind.as_deref(), "password_profile");
    let name = v.text(d.name, "data.name", 255);
    check_username_format(&mut v, d.username_format.as_deref());
    v.finish()?;
    let now = now_millis();
    let profile = PasswordProfile {
        id: kassa_core::ids::new_id(),
        realm_id: realm.id,
        name: name.unwrap_or_default(),
        username_format: d.username_format.unwrap_or_else(|| "any".into()),
        enable_one_time_password_token: d.enable_one_time_password_token.unwrap_or(false),
        created_at: now,
        updated_at: now,
    };
    state.store.create_password_profile(profile.clone()).await?;
    Ok((
        StatusCode::CREATED,
        Json(envelope::single(render_profile(&profile, &origin))),
    ))
}

async fn list_profiles(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(realm): ApiPath<String>,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let realm = realm_or_404(&state, &realm).await?;
    let page = state.store.password_profiles(realm.id, query.page).await?;
    let items = page.items.iter().map(|p| render_profile(p, &origin)).collect();
    Ok(Json(envelope::collection(
        items, page.total, &query, &origin, &uri,
    )))
}

async fn profile_or_404(state: &AppState, realm: &str, id: &str) -> ApiResult<PasswordProfile> {
    let realm = parse_uuid(realm, || not_found("authentication realm"))?;
    let id = parse_uuid(id, || not_found("password profile"))?;
    state
        .store
        .password_profile(realm, id)
        .await?
        .ok_or_else(|| not_found("password profile"))
}

async fn read_profile(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath((realm, id)): ApiPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    let profile = profile_or_404(&state, &realm, &id).await?;
    Ok(Json(envelope::single(render_profile(&profile, &origin))))
}

async fn update_profile(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath((realm, id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<ProfileBody>,
) -> ApiResult<Json<Value>> {
    let mut profile = profile_or_404(&state, &realm, &id).await?;
    let d = body.data;
    let mut v = Validator::new();
    v.resource_type(d.kind.as_deref(), "password_profile");
    let name = v.optional_text(d.name, "data.name", 255);
    check_username_format(&mut v, d.username_format.as_deref());
    v.finish()?;
    profile.name = name.unwrap_or(profile.name);
    profile.username_format = d.username_format.unwrap_or(profile.username_format);
    profile.enable_one_time_password_token = d
        .enable_one_time_password_token
        .unwrap_or(profile.enable_one_time_password_token);
    profile.updated_at = now_millis();
    state.store.update_password_profile(profile.clone()).await?;
    Ok(Json(envelope::single(render_profile(&profile, &origin))))
}

async fn remove_profile(
    State(state): State<AppState>,
    _: Admin,
    ApiPath((realm, id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let profile = profile_or_404(&state, &realm, &id).await?;
    state
        .store
        .delete_password_profile(profile.realm_id, profile.id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- users (user-authentication-info = account members) ----------------------------------

/// Who may read and change a user's own records (the user and their passwords): an admin any
/// user's; a member, with their account token, only their own, and only while
/// `account_member_self_management` is `update_only` (403 while `disabled`; another member's id
/// is 404, like an unknown one).
async fn self_service(state: &AppState, shopper: &Shopper, raw_id: &str) -> ApiResult<()> {
    let AccountScope::Account { member_id, .. } = shopper.account_scope()? else {
        return Ok(());
    };
    if !state.store.account_settings().await?.members_manage_themselves() {
        return Err(ApiError::forbidden(
            "Account members may not manage their own details: account_member_self_management is disabled",
        ));
    }
    let id = parse_uuid(raw_id, || not_found("user authentication info"))?;
    if id != member_id {
        return Err(not_found("user authentication info"));
    }
    Ok(())
}

/// The events of a change of a member, who is both an account member (`/v2/account-members`)
/// and a user authentication info of the account realm: `account-member.*` with the account
/// member and `user-authentication-info.*` with the user, each as its API renders it (a
/// deletion: only the type and id). Rendered only for the kinds something observes.
pub(crate) fn member_events(
    state: &AppState,
    kinds: (EventKind, EventKind),
    m: &Member,
    origin: &Origin,
) -> Vec<Event> {
    let deleted = kinds.0 == EventKind::AccountMemberDeleted;
    let mut events = state.integrations.events(kinds.0, || {
        if deleted {
            deleted_payload("account_member", m.id)
        } else {
            envelope::single(crate::views::account::render_member(m, origin)).to_string()
        }
    });
    events.extend(state.integrations.events(kinds.1, || {
        if deleted {
            deleted_payload("user_authentication_info", m.id)
        } else {
            envelope::single(render_user(m, origin)).to_string()
        }
    }));
    events
}

pub(crate) const MEMBER_CREATED: (EventKind, EventKind) = (
    EventKind::AccountMemberCreated,
    EventKind::UserAuthenticationInfoCreated,
);
pub(crate) const MEMBER_UPDATED: (EventKind, EventKind) = (
    EventKind::AccountMemberUpdated,
    EventKind::UserAuthenticationInfoUpdated,
);
pub(crate) const MEMBER_DELETED: (EventKind, EventKind) = (
    EventKind::AccountMemberDeleted,
    EventKind::UserAuthenticationInfoDeleted,
);

fn render_user(m: &Member, origin: &Origin) -> Value {
    let mut meta = timestamps_meta(m.created_at, m.updated_at);
    meta["creation_status"] = json!("COMPLETE");
    json!({
        "id": m.id,
        "type": "user_authentication_info",
        "name": m.name,
        "email": m.email,
        "given_name": m.given_name,
        "middle_name": m.middle_name,
        "family_name": m.family_name,
        "meta": meta,
        "links": { "self": origin.url(&format!("/v2/authentication-realms/{}/user-authentication-info/{}", m.realm_id, m.id)) },
    })
}

#[derive(Deserialize)]
struct UserBody {
    data: UserData,
}

#[derive(Deserialize)]
struct UserData {
    #[serde(rename = "type")]
    kind: Option<String>,
    name: Option<String>,
    email: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    given_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    middle_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    family_name: Option<Option<String>>,
}

/// Validates the optional name parts; `Some(None)` clears one.
fn name_parts(v: &mut Validator, d: &mut UserData) -> [Option<Option<String>>; 3] {
    [
        ("data.given_name", d.given_name.take()),
        ("data.middle_name", d.middle_name.take()),
        ("data.family_name", d.family_name.take()),
    ]
    .map(|(field, value)| {
        value.map(|inner| inner.and_then(|t| v.optional_text_or_blank(Some(t), field, 255)))
    })
}

fn check_email(v: &mut Validator, email: Option<&str>) {
    if email.is_some_and(|e| !is_valid_email(e)) {
        v.push("data.email", "format", "Does not match format 'email'");
    }
}

async fn create_user(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(realm): ApiPath<String>,
    ApiJson(mut body): ApiJson<UserBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let realm = realm_or_404(&state, &realm).await?;
    let mut v = Validator::new();
    v.resource_type(body.data.kind.as_deref(), "user_authentication_info");
    let name = v.text(body.data.name.take(), "data.name", 255);
    let email = v.text(body.data.email.take(), "data.email", 254);
    check_email(&mut v, email.as_deref());
    let [given, middle, family] = name_parts(&mut v, &mut body.data);
    v.finish()?;
    let now = now_millis();
    let member = Member {
        id: kassa_core::ids::new_id(),
        realm_id: realm.id,
        name: name.unwrap_or_default(),
        email: email.unwrap_or_default(),
        given_name: given.flatten(),
        middle_name: middle.flatten(),
        family_name: family.flatten(),
        created_at: now,
        updated_at: now,
    };
    let events = member_events(&state, MEMBER_CREATED, &member, &origin);
    let emitted = !events.is_empty();
    state.store.create_member(member.clone(), events).await?;
    if emitted {
        state.integrations.committed();
    }
    Ok((
        StatusCode::CREATED,
        Json(envelope::single(render_user(&member, &origin))),
    ))
}

const USER_FIELDS: &[FieldSpec] = &[
    FieldSpec {
        name: "email",
        column: "m.email",
        kind: FieldKind::Text,
        ops: TEXT_OPS,
    },
    FieldSpec {
        name: "name",
        column: "m.name",
        kind: FieldKind::Text,
        ops: TEXT_OPS,
    },
];

async fn list_users(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(realm): ApiPath<String>,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let realm = realm_or_404(&state, &realm).await?;
    let mut conditions = query::conditions(&query.filters, USER_FIELDS)?;
    conditions.push(query::Condition {
        column: "m.realm_id",
        op: query::FilterOp::Eq,
        values: vec![query::SqlValue::Text(realm.id.to_string())],
    });
    let page = state.store.members(&conditions, query.page).await?;
    let items = page.items.iter().map(|m| render_user(m, &origin)).collect();
    Ok(Json(envelope::collection(
        items, page.total, &query, &origin, &uri,
    )))
}

async fn user_or_404(state: &AppState, realm: &str, id: &str) -> ApiResult<Member> {
    let realm = parse_uuid(realm, || not_found("authentication realm"))?;
    let id = parse_uuid(id, || not_found("user authentication info"))?;
    state
        .store
        .member(id)
        .await?
        .filter(|m| m.realm_id == realm)
        .ok_or_else(|| not_found("user authentication info"))
}

async fn read_user(
    State(state): State<AppState>,
    shopper: Shopper,
    origin: Origin,
    ApiPath((realm, id)): ApiPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    self_service(&state, &shopper, &id).await?;
    let member = user_or_404(&state, &realm, &id).await?;
    Ok(Json(envelope::single(render_user(&member, &origin))))
}

async fn update_user(
    State(state): State<AppState>,
    shopper: Shopper,
    origin: Origin,
    ApiPath((realm, id)): ApiPath<(String, String)>,
    ApiJson(mut body): ApiJson<UserBody>,
) -> ApiResult<Json<Value>> {
    self_service(&state, &shopper, &id).await?;
    let mut member = user_or_404(&state, &realm, &id).await?;
    let mut v = Validator::new();
    v.resource_type(body.data.kind.as_deref(), "user_authentication_info");
    let name = v.optional_text(body.data.name.take(), "data.name", 255);
    let email = v.optional_text(body.data.email.take(), "data.email", 254);
    check_email(&mut v, email.as_deref());
    let [given, middle, family] = name_parts(&mut v, &mut body.data);
    v.finish()?;
    member.name = name.unwrap_or(member.name);
    member.email = email.unwrap_or(member.email);
    if let Some(given) = given {
        member.given_name = given;
    }
    if let Some(middle) = middle {
        member.middle_name = middle;
    }
    if let Some(family) = family {
        member.family_name = family;
    }
    member.updated_at = now_millis();
    let events = member_events(&state, MEMBER_UPDATED, &member, &origin);
    let emitted = !events.is_empty();
    if state.store.update_member(member.clone(), events).await? && emitted {
        state.integrations.committed();
    }
    Ok(Json(envelope::single(render_user(&member, &origin))))
}

async fn remove_user(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath((realm, id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let member = user_or_404(&state, &realm, &id).await?;
    let events = member_events(&state, MEMBER_DELETED, &member, &origin);
    let emitted = !events.is_empty();
    if state.store.delete_member(member.id, events).await? && emitted {
        state.integrations.committed();
    }
    Ok(StatusCode::NO_CONTENT)
}

// ---- passwords (user-authentication-password-profile-info) -------------------------------

fn render_password(c: &Credential, realm_id: Uuid, origin: &Origin) -> Value {
    json!({
        "id": c.id,
        "type": "user_authentication_password_profile_info",
        "username": c.username,
        "password_profile_id": c.password_profile_id,
        "meta": timestamps_meta(c.created_at, c.updated_at),
        "links": { "self": origin.url(&format!(
            "/v2/authentication-realms/{realm_id}/user-authentication-info/{}/user-authentication-password-profile-info/{}",
            c.member_id, c.id
        )) },
    })
}

#[derive(Deserialize)]
struct PasswordBody {
    data: PasswordData,
}

#[derive(Deserialize)]
struct PasswordData {
    #[serde(rename = "type")]
    kind: Option<String>,
    username: Option<String>,
    password_profile_id: Option<String>,
    password: Option<String>,
}

fn check_password(v: &mut Validator, password: Option<&str>) {
    if password.is_some_and(|p| p.chars().count() < MIN_PASSWORD_LENGTH) {
        v.push(
            "data.password",
            "min_length",
            format!("password must be at least {MIN_PASSWORD_LENGTH} characters"),
        );
    }
}

async fn create_password(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath((realm, id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<PasswordBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let member = user_or_404(&state, &realm, &id).await?;
    let d = body.data;
    let mut v = Validator::new();
    v.resource_type(d.kind.as_deref(), "user_authentication_password_profile_info");
    let username = v.text(d.username, "data.username", 255);
    let password = v.required(d.password, "data.password");
    check_password(&mut v, password.as_deref());
    let profile_id = v
        .required(d.password_profile_id, "data.password_profile_id")
        .and_then(|raw| {
            Uuid::parse_str(&raw)
                .map_err(|_| {
                    v.push(
                        "data.password_profile_id",
                        "format",
                        "password_profile_id must be a UUID",
                    )
                })
                .ok()
        });
    v.finish()?;
    let profile = state
        .store
        .password_profile(member.realm_id, profile_id.unwrap_or_default())
        .await?
        .ok_or_else(|| not_found("password profile").with_source("data.password_profile_id"))?;
    let username = username.unwrap_or_default();
    if profile.username_format == "email" && !is_valid_email(username.trim()) {
        return Err(kassa_core::Error::field(
            "data.username",
            "format",
            "This password profile requires the username to be an email address",
        )
        .into());
    }
    let password = password.unwrap_or_default();
    let password_hash = state
        .hash_blocking(move || secret::hash_secret(&password))
        .await?;
    let now = now_millis();
    let credential = Credential {
        id: kassa_core::ids::new_id(),
        member_id: member.id,
        password_profile_id: profile.id,
        username,
        password_hash,
        created_at: now,
        updated_at: now,
    };
    state.store.create_credential(credential.clone()).await?;
    Ok((
        StatusCode::CREATED,
        Json(envelope::single(render_password(
            &credential,
            member.realm_id,
            &origin,
        ))),
    ))
}

async fn list_passwords(
    State(state): State<AppState>,
    shopper: Shopper,
    origin: Origin,
    ApiPath((realm, id)): ApiPath<(String, String)>,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    self_service(&state, &shopper, &id).await?;
    let member = user_or_404(&state, &realm, &id).await?;
    let all = state.store.credentials(member.id).await?;
    let total = all.len() as u64;
    let items = all
        .iter()
        .skip(query.page.offset as usize)
        .take(query.page.limit as usize)
        .map(|c| render_password(c, member.realm_id, &origin))
        .collect();
    Ok(Json(envelope::collection(items, total, &query, &origin, &uri)))
}

async fn password_or_404(
    state: &AppState,
    realm: &str,
    id: &str,
    credential: &str,
) -> ApiResult<(Member, Credential)> {
    let member = user_or_404(state, realm, id).await?;
    let credential_id = parse_uuid(credential, || not_found("password profile info"))?;
    let credential = state
        .store
        .credential(member.id, credential_id)
        .await?
        .ok_or_else(|| not_found("password profile info"))?;
    Ok((member, credential))
}

async fn read_password(
    State(state): State<AppState>,
    shopper: Shopper,
    origin: Origin,
    ApiPath((realm, id, credential)): ApiPath<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    self_service(&state, &shopper, &id).await?;
    let (member, credential) = password_or_404(&state, &realm, &id, &credential).await?;
    Ok(Json(envelope::single(render_password(
        &credential,
        member.realm_id,
        &origin,
    ))))
}

async fn update_password(
    State(state): State<AppState>,
    shopper: Shopper,
    origin: Origin,
    ApiPath((realm, id, credential)): ApiPath<(String, String, String)>,
    ApiJson(body): ApiJson<PasswordBody>,
) -> ApiResult<Json<Value>> {
    self_service(&state, &shopper, &id).await?;
    let (member, mut credential) = password_or_404(&state, &realm, &id, &credential).await?;
    let d = body.data;
    let mut v = Validator::new();
    v.resource_type(d.kind.as_deref(), "user_authentication_password_profile_info");
    let username = v.optional_text(d.username, "data.username", 255);
    check_password(&mut v, d.password.as_deref());
    v.finish()?;
    if let Some(username) = username {
        // The same rule as on create: an email-only profile takes only email-shaped usernames.
        let profile = state
            .store
            .password_profile(member.realm_id, credential.password_profile_id)
            .await?
            .ok_or_else(|| not_found("password profile"))?;
        if profile.username_format == "email" && !is_valid_email(username.trim()) {
            return Err(kassa_core::Error::field(
                "data.username",
                "format",
                "This password profile requires the username to be an email address",
            )
            .into());
        }
        credential.username = username;
    }
    if let Some(password) = d.password {
        credential.password_hash = state
            .hash_blocking(move || secret::hash_secret(&password))
            .await?;
    }
    credential.updated_at = now_millis();
    state.store.update_credential(credential.clone()).await?;
    Ok(Json(envelope::single(render_password(
        &credential,
        member.realm_id,
        &origin,
    ))))
}

async fn remove_password(
    State(state): State<AppState>,
    _: Admin,
    ApiPath((realm, id, credential)): ApiPath<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let (member, credential) = password_or_404(&state, &realm, &id, &credential).await?;
    state.store.delete_credential(member.id, credential.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
