//! `POST /oauth/access_token`: the only unauthenticated endpoint. Form-encoded in, an
//! *unwrapped* token object out (no `data` envelope), exactly as the official clients expect.

use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::routing::post;
use kassa_core::secret;
use kassa_core::token::Grant;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::extract::{has_content_type, read_body, refuse_nul};
use crate::metrics::Login;
use crate::route_table::Routes;
use crate::state::AppState;

pub fn router() -> Routes {
    Routes::new()
        .route("/oauth/access_token", post(access_token))
        .string_status()
}

/// The form fields, read by hand so every problem is an error envelope naming the field.
struct TokenRequest {
    grant: Grant,
    client_id: String,
    client_secret: Option<String>,
}

impl FromRequest<AppState> for TokenRequest {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        if !has_content_type(req.headers(), |m| m == "application/x-www-form-urlencoded") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported Media Type",
                "Expected a body with Content-Type: application/x-www-form-urlencoded",
            ));
        }
        let body = read_body(req, state).await?;
        let (mut grant_type, mut client_id, mut client_secret) = (None, None, None);
        for (key, value) in form_urlencoded::parse(&body) {
            refuse_nul(&value, &key)?;
            let value = Some(value.into_owned()).filter(|v| !v.is_empty());
            match key.as_ref() {
                "grant_type" => grant_type = value,
                "client_id" => client_id = value,
                "client_secret" => client_secret = value,
                _ => {}
            }
        }
        let grant = match grant_type.as_deref() {
            Some("implicit") => Grant::Implicit,
            Some("client_credentials") => Grant::ClientCredentials,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "Unsupported grant_type '{other}': use implicit or client_credentials"
                ))
                .with_source("grant_type"));
            }
            None => {
                return Err(ApiError::bad_request("grant_type is required").with_source("grant_type"));
            }
        };
        let client_id = client_id
            .ok_or_else(|| ApiError::bad_request("client_id is required").with_source("client_id"))?;
        if grant == Grant::ClientCredentials && client_secret.is_none() {
            return Err(
                ApiError::bad_request("client_secret is required for client_credentials")
                    .with_source("client_secret"),
            );
        }
        Ok(Self {
            grant,
            client_id,
            client_secret,
        })
    }
}

fn bad_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        "Invalid client credentials",
    )
}

async fn access_token(State(state): State<AppState>, request: TokenRequest) -> ApiResult<Json<Value>> {
    let key = state
        .store
        .application_key_by_client_id(&request.client_id)
        .await?;
    if let Some(secret) = request
        .client_secret
        .filter(|_| request.grant == Grant::ClientCredentials)
    {
        // Verify even for an unknown client, against a decoy hash, so timing reveals nothing.
        let hash = key
            .as_ref()
            .map_or_else(|| secret::decoy_hash().to_owned(), |k| k.secret_hash.clone());
        let valid = state
            .hash_blocking(move || secret::verify_secret(&secret, &hash))
            .await?;
        state
            .metrics
            .login(Login::ClientCredentials, valid && key.is_some());
        if !valid {
            return Err(bad_credentials());
        }
    }
    let key = key.ok_or_else(bad_credentials)?;
    let (token, expires) = state.tokens.issue_access(request.grant, &key);
    Ok(Json(json!({
        "access_token": token,
        "token_type": "Bearer",
        "identifier": request.grant.as_str(),
        "expires": expires,
        "expires_in": state.tokens.ttl().as_secs(),
    })))
}
