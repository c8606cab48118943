//! `PUT /v2/orders/{id}` (client_credentials only): cancel, mark fulfilled, or edit
//! `order_number`, `external_ref` and `shipping_address`. One `PaymentStore::change_order`
//! transaction applies it with the stock it moves (cancel deallocates, fulfilment decrements).
//!
//! EP documents three bodies: `status: "cancelled"` (+ `external_ref`), `shipping: "fulfilled"`
//! (+ `external_ref`), and the field edits. kassa accepts any one status change together with
//! field edits, refuses `status` and `shipping` together, and names any other field as not
//! updatable instead of ignoring it.

use axum::extract::State;
use axum::response::Response;
use axum::routing::put;
use kassa_core::Validator;
use kassa_core::order_state::Command;
use kassa_core::orders::{MAX_EXTERNAL_REF, OrderAccess};
use kassa_core::payments::{OrderChange, OrderEdit, TransactionDetails};
use kassa_core::time::now_millis;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::auth::Admin;
use crate::envelope::Origin;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, address, data_of};
use crate::route_table::Routes;
use crate::state::AppState;
use crate::views::money::money_formats;
use crate::views::order::{Includes, order_change_emit, order_not_found, order_response};

pub fn router() -> Routes {
    Routes::new().route("/v2/orders/{id}", put(update))
}

const MAX_ORDER_NUMBER: usize = 255;
const UPDATABLE: &[&str] = &[
    "type",
    "id",
    "status",
    "shipping",
    "order_number",
    "external_ref",
    "shipping_address",
];

/// `""` (or only spaces) or `null` clears the field; a string sets it.
fn clearable(v: &mut Validator, data: &Map<String, Value>, name: &str, max: usize) -> Option<Option<String>> {
    let source = format!("data.{name}");
    match data.get(name)? {
        Value::Null => Some(None),
        Value::String(s) if s.trim().is_empty() => Some(None),
        Value::String(s) => v.optional_text(Some(s.clone()), &source, max).map(Some),
        _ => {
            v.push(source, "type", format!("{name} must be a string"));
            None
        }
    }
}

fn parse(body: &Value) -> ApiResult<(Option<Command>, OrderEdit)> {
    let data = data_of(body)?;
    let mut v = Validator::new();
    for key in data.keys().filter(|k| !UPDATABLE.contains(&k.as_str())) {
        v.push(
            format!("data.{key}"),
            "invalid",
            format!(
                "{key} cannot be updated; an order update takes status, shipping, order_number, external_ref or shipping_address"
            ),
        );
    }
    match data.get("type") {
        None => {}
        Some(t) => v.resource_type(t.as_str(), "order"),
    }
    let mut command = None;
    match data.get("status") {
        None => {}
        Some(Value::String(s)) if s == "cancelled" => command = Some(Command::Cancel),
        Some(_) => v.push("data.status", "invalid", "status can only be set to cancelled"),
    }
    match data.get("shipping") {
        None => {}
        Some(Value::String(s)) if s == "fulfilled" => {
            if data.contains_key("status") {
                v.push(
                    "data.shipping",
                    "invalid",
                    "status and shipping cannot be changed in one request",
                );
            }
            command = Some(Command::Fulfil);
        }
        Some(_) => v.push(
            "data.shipping",
            "invalid",
            "shipping can only be set to fulfilled",
        ),
    }
    let edit = OrderEdit {
        order_number: clearable(&mut v, data, "order_number", MAX_ORDER_NUMBER),
        external_ref: clearable(&mut v, data, "external_ref", MAX_EXTERNAL_REF),
        shipping_address: data
            .contains_key("shipping_address")
            .then(|| address(&mut v, data, "shipping_address", true)),
    };
    v.finish()?;
    if command.is_none() && edit.is_empty() {
        return Err(ApiError::bad_request(
            "Nothing to update: send status, shipping, order_number, external_ref or shipping_address",
        )
        .with_source("data"));
    }
    Ok((command, edit))
}

async fn update(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let id = Uuid::parse_str(&id).map_err(|_| order_not_found())?;
    let (command, edit) = parse(&body)?;
    let (_, items) = state.store.order(id).await?.ok_or_else(order_not_found)?;
    let change = OrderChange {
        command,
        details: TransactionDetails::default(),
        edit,
    };
    let (formats, _) = money_formats(&state).await?;
    let emit = order_change_emit(&state.integrations, change.command, &formats);
    let emitted = emit.is_some();
    let changed = state
        .store
        .change_order(id, OrderAccess::ADMIN, change, now_millis(), None, emit)
        .await?
        .ok_or_else(order_not_found)?;
    if emitted {
        state.integrations.committed();
    }
    order_response(&changed.order, &items, &formats, &origin, Includes::default())
}
