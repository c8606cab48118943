//! `/v2/account-members`: the people who log in for accounts, and
//! `POST /v2/account-members/tokens`, which turns a username and password into one account
//! management authentication token per account the member belongs to.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use kassa_core::Validator;
use kassa_core::account::{
    Account, Credential, MIN_PASSWORD_LENGTH, Member, Membership, SelfSignup, is_valid_email,
};
use kassa_core::query::{self, FieldKind, FieldSpec, TEXT_OPS};
use kassa_core::secret;
use kassa_core::time::{now_millis, rfc3339};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::{AccountScope, Admin, Caller, Shopper};
use crate::envelope::{self, Origin};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ListQuery, parse_uuid};
use crate::metrics::Login;
use crate::route_table::Routes;
use crate::state::AppState;
use crate::views::account::{render_account, render_member, render_membership};

pub fn router() -> Routes {
    Routes::new()
        .route("/v2/account-members", get(list))
        .route("/v2/account-members/tokens", post(tokens))
        .route("/v2/account-members/{id}", get(read).put(update))
        .route("/v2/account-members/{id}/account-memberships", get(memberships))
        .string_status()
}

const MEMBER_FIELDS: &[FieldSpec] = &[
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
    FieldSpec {
        name: "given_name",
        column: "m.given_name",
        kind: FieldKind::Text,
        ops: TEXT_OPS,
    },
    FieldSpec {
        name: "middle_name",
        column: "m.middle_name",
        kind: FieldKind::Text,
        ops: TEXT_OPS,
    },
    FieldSpec {
        name: "family_name",
        column: "m.family_name",
        kind: FieldKind::Text,
        ops: TEXT_OPS,
    },
];

fn member_not_found() -> ApiError {
    ApiError::not_found("Not Found", "account member not found")
}

/// Admins see every member; a shopper only themselves.
fn visible_member(shopper: &Shopper, raw: &str) -> ApiResult<Uuid> {
    let id = parse_uuid(raw, member_not_found)?;
    match shopper.account_scope()? {
        AccountScope::All => Ok(id),
        AccountScope::Account { member_id, .. } if member_id == id => Ok(id),
        AccountScope::Account { .. } => Err(member_not_found()),
    }
}

async fn list(
    State(state): State<AppState>,
    shopper: Shopper,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let mut conditions = query::conditions(&query.filters, MEMBER_FIELDS)?;
    if let AccountScope::Account { member_id, .. } = shopper.account_scope()? {
        conditions.push(query::Condition {
            column: "m.id",
            op: query::FilterOp::Eq,
            values: vec![query::SqlValue::Text(member_id.to_string())],
        });
    }
    let page = state.store.members(&conditions, query.page).await?;
    let items = page.items.iter().map(|m| render_member(m, &origin)).collect();
    Ok(Json(envelope::collection(
        items, page.total, &query, &origin, &uri,
    )))
}

async fn read(
    State(state): State<AppState>,
    shopper: Shopper,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let id = visible_member(&shopper, &id)?;
    let member = state.store.member(id).await?.ok_or_else(member_not_found)?;
    Ok(Json(envelope::single(render_member(&member, &origin))))
}

#[derive(Deserialize)]
struct MemberBody {
    data: MemberData,
}

#[derive(Deserialize)]
struct MemberData {
    #[serde(rename = "type")]
    kind: Option<String>,
    name: Option<String>,
    email: Option<String>,
}

async fn update(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<MemberBody>,
) -> ApiResult<Json<Value>> {
    let id = parse_uuid(&id, member_not_found)?;
    let mut v = Validator::new();
    v.resource_type(body.data.kind.as_deref(), "account_member");
    let name = v.optional_text(body.data.name, "data.name", 255);
    let email = v.optional_text(body.data.email, "data.email", 254);
    if email.as_deref().is_some_and(|e| !is_valid_email(e)) {
        v.push("data.email", "format", "Does not match format 'email'");
    }
    v.finish()?;
    let mut member = state.store.member(id).await?.ok_or_else(member_not_found)?;
    member.name = name.unwrap_or(member.name);
    member.email = email.unwrap_or(member.email);
    member.updated_at = now_millis();
    let events =
        crate::routes::realms::member_events(&state, crate::routes::realms::MEMBER_UPDATED, &member, &origin);
    let emitted = !events.is_empty();
    if !state.store.update_member(member.clone(), events).await? {
        return Err(member_not_found());
    }
    if emitted {
        state.integrations.committed();
    }
    Ok(Json(envelope::single(render_member(&member, &origin))))
}

fn render_member_membership(m: &Membership, origin: &Origin) -> Value {
    let mut v = render_membership(m, origin);
    v["account_id"] = json!(m.account_id);
    v
}

async fn memberships(
    State(state): State<AppState>,
    shopper: Shopper,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let member_id = visible_member(&shopper, &id)?;
    state
        .store
        .member(member_id)
        .await?
        .ok_or_else(member_not_found)?;
    let page = state.store.member_memberships(member_id, query.page).await?;
    let items = page
        .items
        .iter()
        .map(|(m, _)| render_member_membership(m, &origin))
        .collect();
    let mut body = envelope::collection(items, page.total, &query, &origin, &uri);
    if query.include.iter().any(|i| i == "account") {
        let accounts: Vec<Value> = page
            .items
            .iter()
            .map(|(_, a)| render_account(a, &origin))
            .collect();
        body["included"] = json!({ "accounts": accounts });
    }
    Ok(Json(body))
}

#[derive(Deserialize)]
struct TokenBody {
    data: TokenData,
}

#[derive(Deserialize)]
struct TokenData {
    #[serde(rename = "type")]
    kind: Option<String>,
    authentication_mechanism: Option<String>,
    password_profile_id: Option<String>,
    username: Option<String>,
    password: Option<String>,
    name: Option<String>,
    email: Option<String>,
    given_name: Option<String>,
    middle_name: Option<String>,
    family_name: Option<String>,
}

fn bad_login() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        "The username or password is incorrect",
    )
}

async fn tokens(
    State(state): State<AppState>,
    _: Caller,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
    ApiJson(body): ApiJson<TokenBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let d = body.data;
    let mut v = Validator::new();
    v.resource_type(d.kind.as_deref(), "account_management_authentication_token");
    let mechanism = v.required(
        d.authentication_mechanism.clone(),
        "data.authentication_mechanism",
    );
    v.finish()?;
    let member_id = match mechanism.as_deref() {
        Some("password") => password_login(&state, d).await?,
        Some("self_signup") => self_signup(&state, d).await?,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "The authentication mechanism '{other}' is not supported; use password or self_signup"
            ))
            .with_source("data.authentication_mechanism"));
        }
        None => unreachable!("checked by the validator"),
    };

    let settings = state.store.account_settings().await?;
    let page = state.store.member_memberships(member_id, query.page).await?;
    let data: Vec<Value> = page
        .items
        .iter()
        .map(|(_, account)| {
            let (token, exp) = state
                .tokens
                .issue_account(member_id, account.id, settings.token_timeout_secs);
            json!({
                "type": "account_management_authentication_token",
                "account_id": account.id,
                "account_name": account.name,
                "token": token,
                "expires": rfc3339(exp * 1000),
            })
        })
        .collect();
    let mut body = envelope::collection(data, page.total, &query, &origin, &uri);
    body["meta"]["account_member_id"] = json!(member_id);
    Ok((StatusCode::CREATED, Json(body)))
}

fn parse_profile_id(v: &mut Validator, raw: Option<String>) -> Option<Uuid> {
    let raw = v.required(raw, "data.password_profile_id")?;
    match Uuid::parse_str(&raw) {
        Ok(id) => Some(id),
        Err(_) => {
            v.push(
                "data.password_profile_id",
                "format",
                "password_profile_id must be a UUID",
            );
            None
        }
    }
}

/// Unknown users and wrong passwords are indistinguishable, in body and in time.
async fn password_login(state: &AppState, d: TokenData) -> ApiResult<Uuid> {
    let mut v = Validator::new();
    let profile_id = parse_profile_id(&mut v, d.password_profile_id);
    let username = v.required(d.username, "data.username");
    let password = v.required(d.password, "data.password");
    v.finish()?;
    let (profile_id, username, password) = (
        profile_id.unwrap_or_default(),
        username.unwrap_or_default(),
        password.unwrap_or_default(),
    );
    let credential = state.store.credential_by_username(profile_id, &username).await?;
    let hash = credential
        .as_ref()
        .map_or_else(|| secret::decoy_hash().to_owned(), |c| c.password_hash.clone());
    let valid = state
        .hash_blocking(move || secret::verify_secret(&password, &hash))
        .await?;
    state
        .metrics
        .login(Login::AccountMember, valid && credential.is_some());
    match credential {
        Some(c) if valid => Ok(c.member_id),
        _ => Err(bad_login()),
    }
}

/// Creates the user, its password, and (if the store says so) an account named after them with
/// the membership — all in one transaction.
async fn self_signup(state: &AppState, d: TokenData) -> ApiResult<Uuid> {
    let settings = state.store.account_settings().await?;
    if !settings.enable_self_signup {
        return Err(ApiError::forbidden("Self signup is not enabled for this store"));
    }
    let mut v = Validator::new();
    let profile_id = parse_profile_id(&mut v, d.password_profile_id);
    let username = v.text(d.username, "data.username", 255);
    let password = v.required(d.password, "data.password");
    let name = v.text(d.name, "data.name", 255);
    let email = v.text(d.email, "data.email", 254);
    let given_name = v.optional_text_or_blank(d.given_name, "data.given_name", 255);
    let middle_name = v.optional_text_or_blank(d.middle_name, "data.middle_name", 255);
    let family_name = v.optional_text_or_blank(d.family_name, "data.family_name", 255);
    if email.as_deref().is_some_and(|e| !is_valid_email(e)) {
        v.push("data.email", "format", "Does not match format 'email'");
    }
    if password
        .as_deref()
        .is_some_and(|p| p.chars().count() < MIN_PASSWORD_LENGTH)
    {
        v.push(
            "data.password",
            "min_length",
            format!("password must be at least {MIN_PASSWORD_LENGTH} characters"),
        );
    }
    v.finish()?;
    let profile_id = profile_id.unwrap_or_default();
    let profile = state
        .store
        .password_profile(settings.realm_id, profile_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found("Not Found", "password profile not found")
                .with_source("data.password_profile_id")
        })?;
    let username = username.unwrap_or_default();
    if profile.username_format == "email" && !is_valid_email(username.trim()) {
        return Err(ApiError::from(kassa_core::Error::field(
            "data.username",
            "format",
            "This password profile requires the username to be an email address",
        )));
    }
    let password = password.unwrap_or_default();
    let password_hash = state
        .hash_blocking(move || secret::hash_secret(&password))
        .await?;
    let now = now_millis();
    let member = Member {
        id: kassa_core::ids::new_id(),
        realm_id: settings.realm_id,
        name: name.unwrap_or_default(),
        email: email.unwrap_or_default(),
        given_name,
        middle_name,
        family_name,
        created_at: now,
        updated_at: now,
    };
    let credential = Credential {
        id: kassa_core::ids::new_id(),
        member_id: member.id,
        password_profile_id: profile_id,
        username,
        password_hash,
        created_at: now,
        updated_at: now,
    };
    let account = settings.auto_create_account_for_account_members.then(|| {
        let account = Account {
            id: kassa_core::ids::new_id(),
            name: member.name.clone(),
            legal_name: Some(member.name.clone()),
            registration_id: None,
            external_ref: None,
            parent_id: None,
            created_at: now,
            updated_at: now,
        };
        let membership = Membership {
            id: kassa_core::ids::new_id(),
            account_id: account.id,
            member_id: member.id,
            created_at: now,
            updated_at: now,
        };
        (account, membership)
    });
    let member_id = member.id;
    state
        .store
        .self_signup(SelfSignup {
            member,
            credential,
            account,
        })
        .await?;
    Ok(member_id)
}
