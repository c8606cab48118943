//! `POST /v2/orders/{id}/payments` and `/v2/orders/{id}/transactions[/{tx}[/capture|refund|cancel]]`.
//!
//! Handlers only parse, decide who may act, and render: the rules are `kassa_core::order_state`, and
//! each change is one `PaymentStore::change_order` transaction (statuses, amounts, stock).
//!
//! Who may pay: a client_credentials token; the shopper whose account token or customer token
//! owns the order; and, for a guest order (no account, no customer), any valid token: the order
//! id is the capability, as with a guest's cart. Everyone else gets 404, as if there were no
//! such order. Capture and refund are client_credentials only (the manual-gateway guide: "You
//! need Client Credentials").

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kassa_core::money::MoneyFormat;
use kassa_core::order_state::{Command, PayMethod, PaymentMethod};
use kassa_core::orders::PlacedOrder;
use kassa_core::orders::{IdempotentResponse, OrderAccess};
use kassa_core::payments::{
    ChangedOrder, MANUAL, OrderChange, OrderEdit, PaymentTransaction, TransactionDetails, gateways,
};
use kassa_core::store::RememberResponse;
use kassa_core::time::now_millis;
use kassa_core::{Error, Validator};
use serde_json::{Map, Value};
use uuid::Uuid;

use kassa_core::requester::Requester;

use crate::auth::Admin;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, OptionalJson, data_of, text};
use crate::idempotency::{self, Begin};
use crate::metrics::{self, PaymentResult};
use crate::route_table::Routes;
use crate::state::AppState;
use crate::views::document::DataView;
use crate::views::money::money_formats;
use crate::views::order::{order_change_emit, order_not_found};
use crate::views::transaction::{TransactionView, render_transaction};

pub fn router() -> Routes {
    Routes::new()
        .route("/v2/orders/{id}/payments", post(pay))
        .route("/v2/orders/{id}/transactions", get(list))
        .route("/v2/orders/{id}/transactions/{tx}", get(read))
        .route("/v2/orders/{id}/transactions/{tx}/capture", post(capture))
        .route("/v2/orders/{id}/transactions/{tx}/refund", post(refund))
        .route("/v2/orders/{id}/transactions/{tx}/cancel", post(cancel))
}

/// Longest `custom_reference` or `name` of a payment.
const MAX_TEXT: usize = 255;

fn transaction_not_found() -> ApiError {
    ApiError::not_found("Not Found", "Transaction not found")
}

/// The response to a payment: the transaction it recorded (a payment always records one,
/// `Effect::Record`; without, `data` is `null`).
fn payment_document<'a>(
    changed: &'a ChangedOrder,
    formats: &HashMap<String, MoneyFormat>,
) -> DataView<Option<TransactionView<'a>>> {
    DataView {
        data: changed
            .transaction
            .as_ref()
            .map(|t| render_transaction(t, formats)),
    }
}

/// `{"data": transaction}`, serialized here because it borrows the transaction the handler read.
async fn single(state: &AppState, t: &PaymentTransaction) -> ApiResult<Response> {
    let (formats, _) = money_formats(state).await?;
    Ok(Json(DataView {
        data: render_transaction(t, &formats),
    })
    .into_response())
}

/// The order, if it exists and `allowed` says the caller may act on it; else 404.
async fn load_order(
    state: &AppState,
    id: &str,
    allowed: impl FnOnce(&PlacedOrder) -> bool,
) -> ApiResult<PlacedOrder> {
    let (order, _) = state
        .store
        .order(parse_order_id(id)?)
        .await?
        .ok_or_else(order_not_found)?;
    if !allowed(&order) {
        return Err(order_not_found());
    }
    Ok(order)
}

/// An order id from the path; one that is no UUID names no order (404).
fn parse_order_id(id: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(id).map_err(|_| order_not_found())
}

fn parse_tx(tx: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(tx).map_err(|_| transaction_not_found())
}

/// An optional integer amount (minor units) at `source`.
fn amount(v: &mut Validator, obj: &Map<String, Value>, source: &str) -> Option<i64> {
    match obj.get("amount") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64(),
        Some(_) => {
            v.push(source, "type", "amount must be an integer (minor units)");
            None
        }
    }
}

struct Payment {
    gateway: String,
    method: PaymentMethod,
    amount: Option<i64>,
    custom_reference: Option<String>,
    name: Option<String>,
}

fn parse_payment(body: &Value) -> ApiResult<Payment> {
    let data = data_of(body)?;
    let mut v = Validator::new();
    let gateway = match data.get("gateway") {
        Some(Value::String(g)) if !g.trim().is_empty() => Some(g.clone()),
        None | Some(Value::Null) => {
            v.push("data.gateway", "required", "gateway is required");
            None
        }
        Some(_) => {
            v.push("data.gateway", "type", "gateway must be a non-empty string");
            None
        }
    };
    let method = match data.get("method") {
        Some(Value::String(m)) => PaymentMethod::parse(m).or_else(|| {
            v.push(
                "data.method",
                "enum",
                format!("method must be one of: {}", PaymentMethod::NAMES.join(", ")),
            );
            None
        }),
        None | Some(Value::Null) => {
            v.push("data.method", "required", "method is required");
            None
        }
        Some(_) => {
            v.push("data.method", "type", "method must be a string");
            None
        }
    };
    let amount = amount(&mut v, data, "data.amount");
    let (mut custom_reference, mut name) = (None, None);
    match data.get("paymentmethod_meta") {
        None | Some(Value::Null) => {}
        Some(Value::Object(meta)) => {
            custom_reference = text(
                &mut v,
                meta,
                "custom_reference",
                "data.paymentmethod_meta",
                MAX_TEXT,
            );
            name = text(&mut v, meta, "name", "data.paymentmethod_meta", MAX_TEXT);
        }
        Some(_) => v.push(
            "data.paymentmethod_meta",
            "type",
            "paymentmethod_meta must be an object",
        ),
    }
    v.finish()?;
    match (gateway, method) {
        (Some(gateway), Some(method)) => Ok(Payment {
            gateway,
            method,
            amount,
            custom_reference,
            name,
        }),
        _ => Err(ApiError::bad_request("gateway and method are required")),
    }
}

/// The gateway must be one kassa knows and enabled (all start disabled).
async fn check_gateway(state: &AppState, slug: &str) -> ApiResult<()> {
    let all = gateways(&state.store.gateway_settings().await?);
    match all.iter().find(|g| g.slug == slug) {
        None => Err(Error::field(
            "data.gateway",
            "invalid",
            format!("Unknown gateway {slug}; kassa supports the manual gateway"),
        )
        .into()),
        Some(g) if !g.enabled => Err(Error::field(
            "data.gateway",
            "disabled",
            format!("The {slug} gateway is not enabled"),
        )
        .into()),
        Some(_) => Ok(()),
    }
}

async fn pay(
    State(state): State<AppState>,
    who: Requester,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let scope = who.idempotency_scope();
    let path = format!("/v2/orders/{id}/payments");
    let claim = match idempotency::begin(&state, &headers, scope, "POST", &path, &body).await? {
        Begin::Replay(response) => return Ok(response),
        Begin::Run(claim) => claim,
    };
    let payment = match parse_payment(&body) {
        Ok(payment) => payment,
        Err(e) => {
            if let Some(claim) = claim {
                claim.release(&e).await;
            }
            return Err(e);
        }
    };
    let kind = match payment.method {
        PaymentMethod::Pay(PayMethod::Purchase) | PaymentMethod::Setup(PayMethod::Purchase) => {
            metrics::Payment::Purchase
        }
        PaymentMethod::Pay(PayMethod::Authorize) | PaymentMethod::Setup(PayMethod::Authorize) => {
            metrics::Payment::Authorize
        }
    };
    let outcome = record_payment(&state, &who, &id, payment, claim.as_ref()).await;
    state.metrics.payment(kind, PaymentResult::of(&outcome));
    match (outcome, claim) {
        (Ok(response), claim) => {
            if let Some(claim) = claim {
                claim.completed();
            }
            Ok(response)
        }
        // A refused payment gives its key up before answering, so a retry runs it again and the
        // refusal leaves nothing behind.
        (Err(e), Some(claim)) => {
            claim.release(&e).await;
            Err(e)
        }
        (Err(e), None) => Err(e),
    }
}

/// The payment itself, once the request is parsed: everything that can refuse it.
async fn record_payment(
    state: &AppState,
    who: &Requester,
    id: &str,
    payment: Payment,
    claim: Option<&idempotency::Claim>,
) -> ApiResult<Response> {
    let order_id = parse_order_id(id)?;
    check_gateway(state, &payment.gateway).await?;
    let change = OrderChange {
        command: Some(Command::Pay {
            id: kassa_core::ids::new_id(),
            method: payment.method,
            amount: payment.amount,
        }),
        details: TransactionDetails {
            gateway: payment.gateway,
            custom_reference: payment.custom_reference,
            name: payment.name,
        },
        edit: OrderEdit::default(),
    };
    let (formats, _) = money_formats(state).await?;
    // With an Idempotency-Key, the response is stored in the payment's own transaction: after a
    // crash there is a payment and its replay, or neither.
    let remember: Option<RememberResponse> = claim.map(|c| {
        let template = c.response(StatusCode::OK, String::new());
        let formats = formats.clone();
        Box::new(move |changed: &ChangedOrder| IdempotentResponse {
            body: serde_json::to_string(&payment_document(changed, &formats))
                .expect("a payment document serializes"),
            ..template
        }) as RememberResponse
    });
    let emit = order_change_emit(&state.integrations, change.command, &formats);
    let emitted = emit.is_some();
    let changed = state
        .store
        .change_order(order_id, who.payer(), change, now_millis(), remember, emit)
        .await?
        .ok_or_else(order_not_found)?;
    if emitted {
        state.integrations.committed();
    }
    // The same document as the one remembered above, so a replay sends the same bytes.
    Ok((StatusCode::OK, Json(payment_document(&changed, &formats))).into_response())
}

async fn list(
    State(state): State<AppState>,
    who: Requester,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let order = load_order(&state, &id, |o| who.may_see_order(o)).await?;
    let transactions = state.store.order_transactions(order.id).await?;
    let (formats, _) = money_formats(&state).await?;
    let data: Vec<_> = transactions
        .iter()
        .map(|t| render_transaction(t, &formats))
        .collect();
    Ok(Json(DataView { data }).into_response())
}

async fn read(
    State(state): State<AppState>,
    who: Requester,
    ApiPath((id, tx)): ApiPath<(String, String)>,
) -> ApiResult<Response> {
    let order = load_order(&state, &id, |o| who.may_see_order(o)).await?;
    let tx = parse_tx(&tx)?;
    let transactions = state.store.order_transactions(order.id).await?;
    let t = transactions
        .iter()
        .find(|t| t.id == tx)
        .ok_or_else(transaction_not_found)?;
    single(&state, t).await
}

/// Runs a capture or refund as the admin and answers with the transaction.
async fn transaction_command(state: &AppState, id: &str, command: Command) -> ApiResult<Response> {
    let kind = match command {
        Command::Refund { .. } => metrics::Payment::Refund,
        _ => metrics::Payment::Capture,
    };
    let outcome = run_transaction_command(state, id, command).await;
    state.metrics.payment(kind, PaymentResult::of(&outcome));
    outcome
}

async fn run_transaction_command(state: &AppState, id: &str, command: Command) -> ApiResult<Response> {
    let order_id = parse_order_id(id)?;
    let change = OrderChange {
        command: Some(command),
        details: TransactionDetails::default(),
        edit: OrderEdit::default(),
    };
    let (formats, _) = money_formats(state).await?;
    let emit = order_change_emit(&state.integrations, change.command, &formats);
    let emitted = emit.is_some();
    let changed = state
        .store
        .change_order(order_id, OrderAccess::ADMIN, change, now_millis(), None, emit)
        .await?
        .ok_or_else(order_not_found)?;
    if emitted {
        state.integrations.committed();
    }
    let t = changed.transaction.ok_or_else(transaction_not_found)?;
    single(state, &t).await
}

async fn capture(
    State(state): State<AppState>,
    _: Admin,
    ApiPath((id, tx)): ApiPath<(String, String)>,
    OptionalJson(_body): OptionalJson<Value>,
) -> ApiResult<Response> {
    let tx = parse_tx(&tx)?;
    transaction_command(&state, &id, Command::Capture(tx)).await
}

async fn refund(
    State(state): State<AppState>,
    _: Admin,
    ApiPath((id, tx)): ApiPath<(String, String)>,
    OptionalJson(body): OptionalJson<Value>,
) -> ApiResult<Response> {
    let tx = parse_tx(&tx)?;
    let mut v = Validator::new();
    let amount = match &body {
        None => None,
        Some(body) => amount(&mut v, data_of(body)?, "data.amount"),
    };
    v.finish()?;
    transaction_command(
        &state,
        &id,
        Command::Refund {
            transaction: tx,
            amount,
        },
    )
    .await
}

/// EP: cancelling a transaction "works only for Stripe and PayPal and does not work for manual
/// gateway". The order and transaction must exist (404 otherwise); then it is refused.
async fn cancel(
    State(state): State<AppState>,
    _: Admin,
    ApiPath((id, tx)): ApiPath<(String, String)>,
    OptionalJson(_body): OptionalJson<Value>,
) -> ApiResult<Json<Value>> {
    let order = load_order(&state, &id, |_| true).await?;
    let tx = parse_tx(&tx)?;
    let transactions = state.store.order_transactions(order.id).await?;
    let t = transactions
        .iter()
        .find(|t| t.id == tx)
        .ok_or_else(transaction_not_found)?;
    Err(ApiError::bad_request(format!(
        "Transactions of the {} gateway cannot be cancelled; refund the payment instead",
        if t.gateway == MANUAL {
            "manual"
        } else {
            t.gateway.as_str()
        }
    )))
}
