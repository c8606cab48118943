//! Who is asking: the extractors that read a request's tokens (verified from memory by
//! [`TokenService`], no database round trip) and turn them into [`Caller`], [`Admin`],
//! [`Shopper`], [`CustomerToken`], [`Requester`] and [`ShopperRequest`].

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use kassa_core::catalog_rule::ShopperContext;
use kassa_core::requester::{AccountMember, Requester};
use kassa_core::time::now_millis;
use kassa_core::token::{AccessClaims, AccountClaims, CustomerClaims, Grant};
use uuid::Uuid;

use crate::catalog_view::{CHANNEL_HEADER, CONTEXT_TAG_HEADER, CURRENCY_HEADER};
use crate::error::ApiError;
use crate::error::ApiResult;
use crate::extract::parse_uuid;
use crate::state::AppState;
pub use crate::token_service::{CUSTOMER_TOKEN_TTL, REFRESH_INTERVAL, TokenService};
use crate::views::account::account_not_found;
use crate::views::customer::customer_not_found;

/// Any caller with a valid access token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub claims: AccessClaims,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.claims.grant == Grant::ClientCredentials
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let token = bearer(parts).ok_or_else(ApiError::unauthenticated)?;
        let claims = state
            .tokens
            .verify_access(token)
            .await
            .ok_or_else(ApiError::unauthenticated)?;
        let caller = Caller { claims };
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

/// A caller with a `client_credentials` token; an implicit token gets 403.
#[derive(Debug, Clone)]
pub struct Admin(pub Caller);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if caller.is_admin() {
            Ok(Admin(caller))
        } else {
            Err(ApiError::forbidden(
                "This endpoint requires a client_credentials token",
            ))
        }
    }
}

pub const ACCOUNT_TOKEN_HEADER: &str = "ep-account-management-authentication-token";
pub const CUSTOMER_TOKEN_HEADER: &str = "x-moltin-customer-token";

/// A header's value, with an empty or blank value treated as absent: the classic JS client sends
/// `EP-Account-Management-Authentication-Token: ""` when no token is given.
///
/// The same token sent twice arrives as `t, t`: a storefront that keeps the account token in the
/// classic client's `config.headers` and also passes it to `AddAccountAssociation` (which spells
/// the header in capitals, so `fetch` joins the two). Identical copies count as one; different
/// ones are left as they are, and fail verification.
fn header_value<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    let value = parts
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())?;
    let mut copies = value.split(',').map(str::trim);
    let first = copies.next().unwrap_or(value);
    Some(if copies.all(|c| c == first) { first } else { value })
}

fn both_shopper_tokens() -> ApiError {
    ApiError::bad_request(
        "Send either EP-Account-Management-Authentication-Token or X-Moltin-Customer-Token, not both",
    )
}

/// A caller and, when the request carries one, the account it acts for through
/// `EP-Account-Management-Authentication-Token`. An invalid or expired account token is a 401;
/// sending it together with a customer token is a 400.
#[derive(Debug, Clone)]
pub struct Shopper {
    pub caller: Caller,
    pub account: Option<AccountClaims>,
}

impl FromRequestParts<AppState> for Shopper {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let Some(token) = header_value(parts, ACCOUNT_TOKEN_HEADER) else {
            return Ok(Shopper {
                caller,
                account: None,
            });
        };
        if header_value(parts, CUSTOMER_TOKEN_HEADER).is_some() {
            return Err(both_shopper_tokens());
        }
        let claims = state.tokens.verify_account(token).await.ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "The EP-Account-Management-Authentication-Token is invalid or expired",
            )
        })?;
        Ok(Shopper {
            caller,
            account: Some(claims),
        })
    }
}

impl Shopper {
    /// Resolves the caller's view of one account id: admins see all; a shopper only their own.
    pub(crate) fn visible_account(&self, raw: &str) -> ApiResult<Uuid> {
        let id = parse_uuid(raw, account_not_found)?;
        match self.account_scope()? {
            AccountScope::All => Ok(id),
            AccountScope::Account { account_id, .. } if account_id == id => Ok(id),
            AccountScope::Account { .. } => Err(account_not_found()),
        }
    }

    /// What this caller may read of Account Management: everything (admin), one account as one
    /// member (implicit with an account token), or nothing (403).
    pub fn account_scope(&self) -> Result<AccountScope, ApiError> {
        if self.caller.is_admin() {
            return Ok(AccountScope::All);
        }
        match &self.account {
            Some(claims) => Ok(AccountScope::Account {
                account_id: claims.scope,
                member_id: claims.sub,
            }),
            None => Err(ApiError::forbidden(
                "This endpoint needs a client_credentials token, or an implicit token with an EP-Account-Management-Authentication-Token",
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountScope {
    All,
    Account { account_id: Uuid, member_id: Uuid },
}

/// The shopper's `X-Moltin-Customer-Token`, if one was sent. An absent or blank header is no
/// token; a present but invalid, expired or forged one is 401.
#[derive(Debug, Clone)]
pub struct CustomerToken(pub Option<CustomerClaims>);

impl FromRequestParts<AppState> for CustomerToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(CUSTOMER_TOKEN_HEADER) else {
            return Ok(CustomerToken(None));
        };
        let invalid = || {
            ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "The customer token is invalid or expired",
            )
        };
        let token = value.to_str().map_err(|_| invalid())?.trim();
        if token.is_empty() {
            return Ok(CustomerToken(None));
        }
        if header_value(parts, ACCOUNT_TOKEN_HEADER).is_some() {
            return Err(both_shopper_tokens());
        }
        let claims = state.tokens.verify_customer(token).await.ok_or_else(invalid)?;
        Ok(CustomerToken(Some(claims)))
    }
}

/// Who is asking, for every endpoint a shopper or an admin may call: the access token's client
/// and, from the account or customer token, the account member or customer it acts for. The
/// shopper tokens are checked as [`Shopper`] and [`CustomerToken`] check them (an invalid one is
/// 401, both together 400); the access rules are [`Requester`]'s methods in `kassa-core`.
impl FromRequestParts<AppState> for Requester {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let shopper = Shopper::from_request_parts(parts, state).await?;
        let CustomerToken(customer) = CustomerToken::from_request_parts(parts, state).await?;
        Ok(Requester {
            admin: shopper.caller.is_admin(),
            client: shopper.caller.claims.sub,
            account: shopper.account.map(|a| AccountMember {
                account_id: a.scope,
                member_id: a.sub,
            }),
            customer: customer.map(|c| c.sub),
        })
    }
}

/// A shopper request: who asks (account and customer tokens, `EP-Channel`, `EP-Context-Tag`,
/// now) and the requested `X-MOLTIN-CURRENCY`. Any valid access token will do.
#[derive(Debug, Clone)]
pub struct ShopperRequest {
    pub context: ShopperContext,
    pub currency: Option<String>,
}

impl ShopperRequest {
    /// The catalog context of `who` with the request's `EP-Channel` and `EP-Context-Tag`.
    pub fn context_of(who: &Requester, headers: &HeaderMap) -> ShopperContext {
        ShopperContext {
            account_id: who.account_id().map(|a| a.to_string()),
            customer_id: who.customer.map(|c| c.to_string()),
            channel: trimmed_header(headers, CHANNEL_HEADER),
            tag: trimmed_header(headers, CONTEXT_TAG_HEADER),
            now: now_millis(),
        }
    }
}

/// A header's value, trimmed; absent when missing, blank or not text.
fn trimmed_header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

impl FromRequestParts<AppState> for ShopperRequest {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let who = Requester::from_request_parts(parts, state).await?;
        Ok(ShopperRequest {
            context: ShopperRequest::context_of(&who, &parts.headers),
            currency: trimmed_header(&parts.headers, CURRENCY_HEADER),
        })
    }
}

/// Which customers the caller may see and change.
pub(crate) enum CustomerScope {
    All,
    Own(Uuid),
}

impl CustomerScope {
    pub(crate) fn of(caller: &Caller, token: &CustomerToken) -> ApiResult<Self> {
        if caller.is_admin() {
            return Ok(CustomerScope::All);
        }
        match &token.0 {
            Some(claims) => Ok(CustomerScope::Own(claims.sub)),
            None => Err(ApiError::forbidden(
                "An implicit token needs an X-Moltin-Customer-Token to read or change customers",
            )),
        }
    }

    /// The id from the path, if the caller may address it; 404 otherwise.
    pub(crate) fn target(&self, raw: &str) -> ApiResult<Uuid> {
        let id = parse_uuid(raw, customer_not_found)?;
        match self {
            CustomerScope::Own(own) if *own != id => Err(customer_not_found()),
            _ => Ok(id),
        }
    }
}
