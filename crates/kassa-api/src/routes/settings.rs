//! `/v2/settings` and `/v2/settings/cart`: the store-wide settings, admin only. Errors carry a
//! string `status`, like Elastic Path's settings services.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use kassa_core::Validator;
use kassa_core::address::MAX_SHOPPER_ADDRESS_LIMIT;
use kassa_core::cart_totals::CalculationMethod;
use kassa_core::carts::MAX_CART_EXPIRY_DAYS;
use kassa_core::integrations::EventKind;
use kassa_core::settings::{
    CURRENCY_LIMIT, FILTER_LIMIT, MAX_PAGE_LENGTH, PAGE_OFFSET_LIMIT, ReserveAt, StoreSettings,
    TAX_ITEM_LIMIT,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Admin;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::route_table::Routes;
use crate::state::AppState;

pub fn router() -> Routes {
    Routes::new()
        .route("/v2/settings", get(read).put(update))
        .route("/v2/settings/cart", get(read_cart).put(update_cart))
        .string_status()
}

fn render(s: &StoreSettings) -> Value {
    json!({
        "data": {
            "type": "settings",
            "page_length": s.page_length,
            "calculation_method": s.calculation_method.as_str(),
            "currency_limit": CURRENCY_LIMIT,
            "tax_item_limit": TAX_ITEM_LIMIT,
            "filter_limit": FILTER_LIMIT,
            "page_offset_limit": PAGE_OFFSET_LIMIT,
            "shopper_address_limit": s.shopper_address_limit,
            "inventory": { "reserve_at": s.reserve_at.as_str() },
        },
        "meta": { "owner": "store" },
    })
}

fn render_cart(s: &StoreSettings) -> Value {
    json!({
        "data": {
            "type": "settings",
            "cart_expiry_days": s.cart_expiry_days,
            "discounts": {
                "custom_discounts_enabled": s.custom_discounts_enabled,
                "use_rule_promotions": s.use_rule_promotions,
            },
            "inventories": { "defer_inventory_check": s.defer_inventory_check },
            "show_all_carts": s.show_all_carts,
        }
    })
}

async fn read(State(state): State<AppState>, _: Admin) -> ApiResult<Json<Value>> {
    Ok(Json(render(&state.store.store_settings().await?)))
}

#[derive(Deserialize)]
struct SettingsBody {
    data: SettingsData,
}

#[derive(Deserialize)]
struct SettingsData {
    #[serde(rename = "type")]
    kind: Option<String>,
    page_length: Option<i64>,
    calculation_method: Option<String>,
    shopper_address_limit: Option<i64>,
    inventory: Option<InventorySettings>,
}

/// kassa's own: when stock is allocated to an order (`payment`, EP's behaviour, or `checkout`).
#[derive(Deserialize)]
struct InventorySettings {
    reserve_at: Option<String>,
}

async fn update(
    State(state): State<AppState>,
    _: Admin,
    ApiJson(body): ApiJson<SettingsBody>,
) -> ApiResult<Json<Value>> {
    let d = body.data;
    let mut v = Validator::new();
    v.resource_type(d.kind.as_deref(), "settings");
    if let Some(n) = d.page_length
        && !(1..=MAX_PAGE_LENGTH).contains(&n)
    {
        v.push(
            "data.page_length",
            "range",
            format!("page_length must be between 1 and {MAX_PAGE_LENGTH}"),
        );
    }
    if let Some(n) = d.shopper_address_limit
        && !(1..=MAX_SHOPPER_ADDRESS_LIMIT).contains(&n)
    {
        v.push(
            "data.shopper_address_limit",
            "range",
            format!("shopper_address_limit must be between 1 and {MAX_SHOPPER_ADDRESS_LIMIT}"),
        );
    }
    let method = d.calculation_method.as_deref().and_then(|m| {
        let method = CalculationMethod::parse(m);
        if method.is_none() {
            v.push(
                "data.calculation_method",
                "enum",
                "calculation_method must be one of: line, simple",
            );
        }
        method
    });
    let reserve_at = d.inventory.and_then(|i| i.reserve_at).and_then(|r| {
        let at = ReserveAt::parse(&r);
        if at.is_none() {
            v.push(
                "data.inventory.reserve_at",
                "enum",
                "reserve_at must be one of: payment, checkout",
            );
        }
        at
    });
    v.finish()?;
    let mut s = state.store.store_settings().await?;
    s.reserve_at = reserve_at.unwrap_or(s.reserve_at);
    s.page_length = d.page_length.unwrap_or(s.page_length);
    s.calculation_method = method.unwrap_or(s.calculation_method);
    s.shopper_address_limit = d.shopper_address_limit.unwrap_or(s.shopper_address_limit);
    let document = render(&s);
    let events = state
        .integrations
        .events(EventKind::SettingsUpdated, || document.to_string());
    let emitted = !events.is_empty();
    state.store.update_store_settings(s.clone(), events).await?;
    if emitted {
        state.integrations.committed();
    }
    state.catalog_view.invalidate();
    Ok(Json(document))
}

async fn read_cart(State(state): State<AppState>, _: Admin) -> ApiResult<Json<Value>> {
    Ok(Json(render_cart(&state.store.store_settings().await?)))
}

#[derive(Deserialize)]
struct CartSettingsBody {
    data: CartSettingsData,
}

#[derive(Deserialize)]
struct CartSettingsData {
    #[serde(rename = "type")]
    kind: Option<String>,
    cart_expiry_days: Option<i64>,
    discounts: Option<Discounts>,
    inventories: Option<Inventories>,
    show_all_carts: Option<bool>,
}

#[derive(Deserialize)]
struct Discounts {
    custom_discounts_enabled: Option<bool>,
    use_rule_promotions: Option<bool>,
}

#[derive(Deserialize)]
struct Inventories {
    defer_inventory_check: Option<bool>,
}

async fn update_cart(
    State(state): State<AppState>,
    _: Admin,
    ApiJson(body): ApiJson<CartSettingsBody>,
) -> ApiResult<Json<Value>> {
    let d = body.data;
    let mut v = Validator::new();
    v.resource_type(d.kind.as_deref(), "settings");
    if let Some(days) = d.cart_expiry_days
        && !(1..=MAX_CART_EXPIRY_DAYS).contains(&days)
    {
        v.push(
            "data.cart_expiry_days",
            "range",
            format!("cart_expiry_days must be between 1 and {MAX_CART_EXPIRY_DAYS}"),
        );
    }
    v.finish()?;
    let mut s = state.store.store_settings().await?;
    s.cart_expiry_days = d.cart_expiry_days.unwrap_or(s.cart_expiry_days);
    s.show_all_carts = d.show_all_carts.unwrap_or(s.show_all_carts);
    if let Some(discounts) = d.discounts {
        s.custom_discounts_enabled = discounts
            .custom_discounts_enabled
            .unwrap_or(s.custom_discounts_enabled);
        s.use_rule_promotions = discounts.use_rule_promotions.unwrap_or(s.use_rule_promotions);
    }
    if let Some(inventories) = d.inventories {
        s.defer_inventory_check = inventories
            .defer_inventory_check
            .unwrap_or(s.defer_inventory_check);
    }
    if s.custom_discounts_enabled && s.use_rule_promotions {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Cannot use both discounts together",
            "Only one discount setting can be set to true at a time.",
        ));
    }
    let document = render_cart(&s);
    let events = state
        .integrations
        .events(EventKind::SettingsUpdated, || document.to_string());
    let emitted = !events.is_empty();
    state.store.update_store_settings(s.clone(), events).await?;
    if emitted {
        state.integrations.committed();
    }
    state.catalog_view.invalidate();
    Ok(Json(document))
}
