//! `/pcm/products`: products of the Product Experience Manager, with their main image and files
//! (`super::product_media`), their variations and children (`super::product_variations`).
//! A product with `components` is a bundle (`kassa_core::bundles`); templates are refused with
//! a 400 that names them.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::{any, get};

use kassa_core::bundles::{self, Components, OptionTarget};
use kassa_core::catalog::{
    COMMODITY_TYPES, CommodityType, Extensions, PRODUCT_STATUSES, Product, ProductStatus,
};
use kassa_core::query::{FilterOp, check_filters};
use kassa_core::store::ProductDeletion;
use kassa_core::time::now_millis;
use kassa_core::variations::{self, BuildRules, VariationTree};
use kassa_core::{Error, Validator};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::pcm::{
    self, Body, Patch, check_enum, check_required_text, check_slug, check_text, present, present_text, set,
};
use crate::auth::Admin;
use crate::envelope::{self, Origin};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ListQuery, parse_uuid};
use crate::route_table::Routes;
use crate::state::AppState;
use crate::views::product::render_with_rules;

pub fn router() -> Routes {
    pcm::router(
        Routes::new()
            .route("/pcm/products", get(list).post(create))
            .route("/pcm/products/{id}", get(show).put(update).delete(remove))
            .route("/pcm/products/import", any(pcm::unsupported))
            .route("/pcm/products/export", any(pcm::unsupported))
            .route(
                "/pcm/products/{id}/relationships/component_products",
                get(component_products).fallback(pcm::unsupported),
            )
            .route("/pcm/products/{id}/relationships/{rel}", any(pcm::unsupported))
            .merge(super::product_media::routes())
            .merge(super::product_variations::routes()),
    )
}

const FILTERS: &[(&str, &[FilterOp])] = &[
    ("name", TEXT_OPS),
    ("sku", TEXT_OPS),
    ("slug", TEXT_OPS),
    ("status", TEXT_OPS),
    ("commodity_type", TEXT_OPS),
    ("upc_ean", TEXT_OPS),
    ("external_ref", TEXT_OPS),
];
const TEXT_OPS: &[FilterOp] = &[FilterOp::Eq, FilterOp::Like, FilterOp::In];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Attributes {
    #[serde(default, deserialize_with = "present")]
    name: Patch<String>,
    #[serde(default, deserialize_with = "present_text")]
    sku: Patch<String>,
    #[serde(default, deserialize_with = "present_text")]
    slug: Patch<String>,
    #[serde(default, deserialize_with = "present_text")]
    description: Patch<String>,
    #[serde(default, deserialize_with = "present")]
    status: Patch<String>,
    #[serde(default, deserialize_with = "present")]
    commodity_type: Patch<String>,
    #[serde(default, deserialize_with = "present_text")]
    upc_ean: Patch<String>,
    #[serde(default, deserialize_with = "present_text")]
    mpn: Patch<String>,
    #[serde(default, deserialize_with = "present_text")]
    external_ref: Patch<String>,
    #[serde(default, deserialize_with = "present")]
    extensions: Patch<serde_json::Map<String, Value>>,
    /// A bundle's components; `null` makes the product a standard one again.
    #[serde(default, deserialize_with = "present")]
    components: Patch<Value>,
    /// Which combinations a build makes (`kassa_core::variations::builds`); `null` clears them.
    #[serde(default, deserialize_with = "present")]
    build_rules: Patch<Value>,
}

impl Attributes {
    fn check(&self, v: &mut Validator, create: bool) {
        check_required_text(v, &self.name, "data.attributes.name", 255, create);
        check_text(v, &self.sku, "data.attributes.sku", 255);
        check_slug(v, &self.slug, "data.attributes.slug");
        check_text(v, &self.description, "data.attributes.description", 10_000);
        check_enum(
            v,
            &self.commodity_type,
            "data.attributes.commodity_type",
            COMMODITY_TYPES,
        );
        if create && self.commodity_type.is_none() {
            v.required(None::<()>, "data.attributes.commodity_type");
        }
        check_enum(v, &self.status, "data.attributes.status", PRODUCT_STATUSES);
        check_text(v, &self.upc_ean, "data.attributes.upc_ean", 255);
        check_text(v, &self.mpn, "data.attributes.mpn", 255);
        check_text(v, &self.external_ref, "data.attributes.external_ref", 2048);
    }

    fn apply(self, p: &mut Product, components: Option<Components>) {
        if let Some(components) = components {
            p.components = components;
        }
        let text = |patch: Patch<String>| patch.map(|text| text.map(String::into_boxed_str));
        set!(p.name, self.name.flatten().map(String::into_boxed_str));
        set!(p.sku, text(self.sku));
        set!(p.slug, text(self.slug));
        set!(p.description, text(self.description));
        // Both were checked against their names (`check`).
        set!(
            p.status,
            self.status.flatten().as_deref().and_then(ProductStatus::parse)
        );
        set!(
            p.commodity_type,
            self.commodity_type
                .flatten()
                .as_deref()
                .and_then(CommodityType::parse)
        );
        set!(p.upc_ean, text(self.upc_ean));
        set!(p.mpn, text(self.mpn));
        set!(p.external_ref, text(self.external_ref));
        set!(
            p.extensions,
            self.extensions
                .map(|e| e.map(|e| Extensions::new(&Value::Object(e))))
        );
    }
}

/// Refuses relationships a product cannot have here.
fn check_relationships(v: &mut Validator, relationships: &Option<serde_json::Map<String, Value>>) {
    for name in relationships.iter().flat_map(|r| r.keys()) {
        v.push(
            format!("data.relationships.{name}"),
            "Not Supported",
            format!("The product relationship {name} is not supported by this server"),
        );
    }
}

const COMPONENTS: &str = "data.attributes.components";
const BUILD_RULES: &str = "data.attributes.build_rules";

/// A body's changes beyond the plain attributes: the components when it sets them (empty: no
/// longer a bundle), the build rules when it sets them (`Some(None)`: cleared).
struct Changes {
    components: Option<Components>,
    rules: Patch<BuildRules>,
}

/// Validates a create or update body and returns its attributes and [`Changes`]. The
/// components' options are checked to name products that are not bundles: `path_id`, the
/// product updated, is one when it gets components. Build rules' option ids are checked against
/// the options of the variations attached to the product when the request is made (a product
/// being created has none); a variation detached or an option deleted later leaves a rule that
/// names it matching nothing.
async fn parse(
    state: &AppState,
    body: Body<Attributes>,
    path_id: Option<Uuid>,
) -> Result<(Attributes, Changes), Error> {
    let mut v = Validator::new();
    check_relationships(&mut v, &body.data.relationships);
    let mut attributes = body.data.checked(&mut v, "product", path_id);
    let mut changes = Changes {
        components: None,
        rules: None,
    };
    if let Some(a) = &mut attributes {
        a.check(&mut v, path_id.is_none());
        changes.components = match a.components.take() {
            Some(Some(value)) => Some(bundles::parse_components(&value, COMPONENTS, &mut v)),
            Some(None) => Some(Components::new()),
            None => None,
        };
        changes.rules = match a.build_rules.take() {
            Some(Some(value)) => Some(variations::parse_build_rules(&value, BUILD_RULES, &mut v)),
            Some(None) => Some(None),
            None => None,
        };
    }
    v.finish()?;
    if let Some(components) = &changes.components {
        check_targets(state, components, path_id).await?;
    }
    if let Some(Some(rules)) = &changes.rules {
        let trees = match path_id {
            Some(id) => attached_trees(state, id).await?,
            None => Vec::new(),
        };
        let mut v = Validator::new();
        variations::check_build_rules(rules, &trees, BUILD_RULES, &mut v);
        v.finish()?;
    }
    let attributes = attributes.ok_or_else(|| Error::internal("validated attributes missing"))?;
    Ok((attributes, changes))
}

/// The variations attached to a product, in order, with their options (none for an unknown
/// product: its update answers 404).
async fn attached_trees(state: &AppState, id: Uuid) -> Result<Vec<VariationTree>, Error> {
    let mut trees = Vec::new();
    for variation in state.store.product_variations(id).await?.unwrap_or_default() {
        if let Some(tree) = state.store.variation(variation).await? {
            trees.push(tree);
        }
    }
    Ok(trees)
}

/// A product rendered for `/pcm/products`, with its build rules read.
async fn render_one(state: &AppState, product: &Product, origin: &Origin) -> Result<Value, Error> {
    let mut rendered = render_all(state, std::slice::from_ref(product), origin).await?;
    Ok(rendered.pop().unwrap_or_default())
}

/// Products rendered for `/pcm` reads, with their build rules read in one go.
pub(crate) async fn render_all(
    state: &AppState,
    products: &[Product],
    origin: &Origin,
) -> Result<Vec<Value>, Error> {
    let ids: Vec<Uuid> = products.iter().map(|p| p.id).collect();
    let rules = state.store.build_rules(&ids).await?;
    Ok(products
        .iter()
        .map(|p| render_with_rules(p, rules.get(&p.id), origin))
        .collect())
}

/// Each option must name an existing product that is not a bundle (nor the bundle itself).
async fn check_targets(state: &AppState, components: &Components, bundle: Option<Uuid>) -> Result<(), Error> {
    let mut targets = HashMap::new();
    for id in bundles::option_ids(components) {
        let target = if Some(id) == bundle {
            OptionTarget::Bundle
        } else {
            match state.store.product(id).await? {
                None => OptionTarget::Missing,
                Some(p) if p.is_bundle() => OptionTarget::Bundle,
                Some(_) => OptionTarget::Product,
            }
        };
        targets.insert(id, target);
    }
    let mut v = Validator::new();
    bundles::check_targets(
        components,
        COMPONENTS,
        |id| targets.get(&id).copied().unwrap_or(OptionTarget::Missing),
        &mut v,
    );
    v.finish()
}

fn not_found() -> ApiError {
    ApiError::not_found("Product not found", "No product with this id")
}

async fn create(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiJson(body): ApiJson<Body<Attributes>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (attributes, changes) = parse(&state, body, None).await?;
    let now = now_millis();
    let mut product = Product {
        id: kassa_core::ids::new_id(),
        name: Box::default(),
        sku: None,
        slug: None,
        description: None,
        status: ProductStatus::Draft,
        // Required on create: `apply` sets it.
        commodity_type: CommodityType::Physical,
        upc_ean: None,
        mpn: None,
        external_ref: None,
        extensions: None,
        main_image: None,
        files: Box::default(),
        parent_id: None,
        child_options: Box::default(),
        is_parent: false,
        components: Default::default(),
        created_at: now,
        updated_at: now,
    };
    attributes.apply(&mut product, changes.components);
    let mut product = state.store.create_product(product).await?;
    if let Some(rules) = changes.rules.flatten() {
        // Rules on a new product name no option (it has no variations yet): only a default.
        product = state
            .store
            .update_product_rules(product.id, Some(rules), Box::new(|_| Ok(())))
            .await?
            .ok_or_else(not_found)?;
    }
    Ok((
        StatusCode::CREATED,
        Json(envelope::single(render_one(&state, &product, &origin).await?)),
    ))
}

async fn show(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let id = parse_uuid(&id, not_found)?;
    let product = state.store.product(id).await?.ok_or_else(not_found)?;
    Ok(Json(envelope::single(
        render_one(&state, &product, &origin).await?,
    )))
}

async fn list(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    query: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    check_filters(&query.filters, FILTERS)?;
    let page = state.store.products(&query.filters, query.page).await?;
    let items = render_all(&state, &page.items, &origin).await?;
    Ok(Json(envelope::collection(
        items, page.total, &query, &origin, &uri,
    )))
}

async fn update(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Body<Attributes>>,
) -> ApiResult<Json<Value>> {
    let id = parse_uuid(&id, not_found)?;
    let (attributes, changes) = parse(&state, body, Some(id)).await?;
    let now = now_millis();
    let components = changes.components;
    let edit: kassa_core::store::Edit<Product> = Box::new(move |p| {
        attributes.apply(p, components);
        p.updated_at = now;
        Ok(())
    });
    let product = match changes.rules {
        Some(rules) => state.store.update_product_rules(id, rules, edit).await?,
        None => state.store.update_product(id, edit).await?,
    }
    .ok_or_else(not_found)?;
    Ok(Json(envelope::single(
        render_one(&state, &product, &origin).await?,
    )))
}

async fn remove(
    State(state): State<AppState>,
    _: Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let id = parse_uuid(&id, not_found)?;
    match state.store.delete_product(id).await? {
        ProductDeletion::Deleted => Ok(StatusCode::NO_CONTENT),
        ProductDeletion::NotFound => Err(not_found()),
        ProductDeletion::InBundle { bundle, product } => {
            let used = if product == id {
                "The product".to_owned()
            } else {
                format!("Its child product {product}")
            };
            let by = bundle.map_or_else(|| "a bundle".to_owned(), |b| format!("the bundle {b}"));
            Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Product In Bundle",
                format!(
                    "{used} is a component option of {by}: delete the bundle, or remove the \
                     option from its components, before deleting the product"
                ),
            ))
        }
    }
}

/// A bundle's component products: each product its options name, once, in order; none for a
/// product that is not a bundle.
async fn component_products(
    State(state): State<AppState>,
    _: Admin,
    origin: Origin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let id = parse_uuid(&id, not_found)?;
    let product = state.store.product(id).await?.ok_or_else(not_found)?;
    let data: Vec<Value> = bundles::option_ids(&product.components)
        .into_iter()
        .map(|id| serde_json::json!({ "type": "product", "id": id }))
        .collect();
    Ok(Json(serde_json::json!({
        "data": data,
        "links": { "self": origin.url(&format!("/pcm/products/{id}/relationships/component_products")) },
    })))
}
