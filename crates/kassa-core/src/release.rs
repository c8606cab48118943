//! Catalog releases: the immutable snapshot a publish takes of a catalog, built by a pure
//! function from what the store read in one transaction. Shoppers only ever read snapshots, so
//! changing a product or a price changes nothing they see until the next publish.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::catalog::{Catalog, Hierarchy, Node, Product, ProductPrice, ProductStatus};
use crate::file::File;
use crate::pricing::{PriceSheet, SkuPrices};
use crate::time::Millis;
use crate::variations::{OptionTree, VariationTree, child_key, price_changes, price_child};

/// A catalog keeps its newest this many releases; publishing deletes older ones.
pub const RELEASES_KEPT: usize = 3;

/// A published release, without its snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub id: Uuid,
    pub catalog_id: Uuid,
    pub published_at: Millis,
    pub total_products: i64,
    pub total_nodes: i64,
}

/// The newest release of a catalog, with the catalog's creation time (the default catalog is the
/// oldest published one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedCatalog {
    pub catalog_id: Uuid,
    pub catalog_created_at: Millis,
    pub release: Release,
}

/// Everything a publish needs, read in one transaction so it is a consistent view.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseSource {
    pub catalog: Catalog,
    /// The catalog's hierarchies that exist.
    pub hierarchies: Vec<Hierarchy>,
    /// Every node of those hierarchies.
    pub nodes: Vec<Node>,
    /// `(node_id, product_id)` placements in those nodes, in placement order.
    pub placements: Vec<(Uuid, Uuid)>,
    /// The placed products, of any status.
    pub products: Vec<Product>,
    /// The prices of the catalog's price books (the store may limit them to the placed skus).
    pub prices: Vec<ProductPrice>,
    /// The files the placed products show (main images and files); the store may read more.
    pub files: Vec<File>,
    /// `(product_id, variation_id)`: the variations attached to the placed products, each
    /// product's in the order attached.
    pub product_variations: Vec<(Uuid, Uuid)>,
    /// Those variations, with their options and modifiers.
    pub variations: Vec<VariationTree>,
}

/// A product as published: the product and the nodes it is placed in (a child: its parent's).
/// Its lists are boxed slices, not `Vec`s: a release keeps every product, never growing a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleasedProduct {
    pub product: Product,
    pub node_ids: Box<[Uuid]>,
    /// A parent's variations, in the order attached, each with all its options.
    #[serde(default, skip_serializing_if = "<[_]>::is_empty")]
    pub variations: Box<[ReleasedVariation]>,
}

/// A variation as a parent product publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleasedVariation {
    pub id: Uuid,
    pub name: String,
    pub sort_order: Option<i64>,
    /// Oldest first.
    pub options: Vec<ReleasedOption>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleasedOption {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub sort_order: Option<i64>,
}

impl ReleasedVariation {
    fn of(tree: &VariationTree) -> Self {
        Self {
            id: tree.variation.id,
            name: tree.variation.name.clone(),
            sort_order: tree.variation.sort_order,
            options: tree
                .options
                .iter()
                .map(|o| ReleasedOption {
                    id: o.option.id,
                    name: o.option.name.clone(),
                    description: o.option.description.clone(),
                    sort_order: o.option.sort_order,
                })
                .collect(),
        }
    }
}

/// A price book as published: its priority in the catalog and its price sheets by sku.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleasedPricebook {
    pub id: Uuid,
    pub priority: i64,
    pub prices: SkuPrices,
}

/// The immutable content of a release, stored as one JSON document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub catalog_id: Uuid,
    pub catalog_name: String,
    pub hierarchies: Vec<Hierarchy>,
    pub nodes: Vec<Node>,
    /// Live products only, oldest first.
    pub products: Vec<ReleasedProduct>,
    /// In the catalog's order.
    pub pricebooks: Vec<ReleasedPricebook>,
    /// The files the published products show (their main images and files), oldest first, so
    /// the shopper catalog renders them with no read. Releases published before files existed
    /// have none.
    #[serde(default)]
    pub files: Vec<File>,
}

/// The order a storefront shows variations and options in: highest `sort_order` first, those
/// without one last, otherwise as attached (variations) or created (options).
pub fn display_order(variations: &[ReleasedVariation]) -> Vec<ReleasedVariation> {
    let key = |s: Option<i64>| std::cmp::Reverse(s.map_or(i128::MIN, i128::from));
    let mut out = variations.to_vec();
    out.sort_by_key(|v| key(v.sort_order));
    for v in &mut out {
        v.options.sort_by_key(|o| key(o.sort_order));
    }
    out
}

/// A parent's `variation_matrix`: for each option of its first variation, either the child
/// with that option (one variation) or the same nesting over the next variation, down to the
/// child ids; combinations without a published child are left out.
pub fn variation_matrix<'a>(
    variations: &[ReleasedVariation],
    children: impl IntoIterator<Item = (&'a [Uuid], Uuid)>,
) -> serde_json::Value {
    use serde_json::{Map, Value};
    let mut matrix = Map::new();
    for (options, child) in children {
        let path: Option<Vec<String>> = variations
            .iter()
            .map(|v| {
                v.options
                    .iter()
                    .find(|o| options.contains(&o.id))
                    .map(|o| o.id.to_string())
            })
            .collect();
        let Some(path) = path.filter(|p| !p.is_empty()) else {
            continue;
        };
        nest(&mut matrix, &path, child);
    }
    Value::Object(matrix)
}

fn nest(map: &mut serde_json::Map<String, serde_json::Value>, path: &[String], child: Uuid) {
    use serde_json::{Map, Value};
    match path {
        [] => {}
        [last] => {
            map.insert(last.clone(), Value::String(child.to_string()));
        }
        [first, rest @ ..] => {
            let entry = map
                .entry(first.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(next) = entry {
                nest(next, rest, child);
            }
        }
    }
}

/// A child's variations, each with the one option it has, in its parent's order.
pub fn child_variations<'a>(
    parent: &'a [ReleasedVariation],
    options: &'a [Uuid],
) -> impl Iterator<Item = (&'a ReleasedVariation, &'a ReleasedOption)> + 'a {
    parent.iter().filter_map(move |v| {
        let option = v.options.iter().find(|o| options.contains(&o.id))?;
        Some((v, option))
    })
}

/// A snapshot as the stores keep it: its JSON. Made by the publish, off the request threads,
/// from the snapshot it then keeps parsed for its own node's shoppers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotDocument(String);

impl Snapshot {
    pub fn to_document(&self) -> SnapshotDocument {
        SnapshotDocument(serde_json::to_string(self).expect("a snapshot serialises to JSON"))
    }
}

impl SnapshotDocument {
    pub fn into_json(self) -> String {
        self.0
    }
}

/// The snapshot of `source`: its hierarchies and nodes, the live products placed in them (with
/// their node ids), the live children of those that are parents (in their parent's nodes, when
/// their options are still a combination of the parent's variations), and the price sheets of
/// those products' skus from the catalog's price books. A child without a price of its own in a
/// price book that prices its parent gets its parent's there, changed by its price modifiers
/// ([`crate::variations::price_child`]).
pub fn build_snapshot(source: ReleaseSource) -> Snapshot {
    let ReleaseSource {
        catalog,
        mut hierarchies,
        mut nodes,
        placements,
        mut products,
        prices,
        mut files,
        product_variations,
        variations,
    } = source;
    let hierarchy_ids: HashSet<Uuid> = hierarchies.iter().map(|h| h.id).collect();
    nodes.retain(|n| hierarchy_ids.contains(&n.hierarchy_id));
    let node_ids: HashSet<Uuid> = nodes.iter().map(|n| n.id).collect();
    let mut placed: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for (node, product) in placements {
        if node_ids.contains(&node) {
            let at = placed.entry(product).or_default();
            if !at.contains(&node) {
                at.push(node);
            }
        }
    }
    // The catalog's hierarchy order, then oldest first.
    let order: HashMap<Uuid, usize> = catalog
        .hierarchy_ids
        .iter()
        .enumerate()
        .map(|(i, id)| (*id, i))
        .collect();
    hierarchies.sort_by_key(|h| order.get(&h.id).copied().unwrap_or(usize::MAX));
    nodes.sort_by_key(|n| (n.created_at, n.id));
    products.sort_by_key(|p| (p.created_at, p.id));
    let trees: HashMap<Uuid, &VariationTree> = variations.iter().map(|t| (t.variation.id, t)).collect();
    let mut attached: HashMap<Uuid, Vec<&VariationTree>> = HashMap::new();
    for (product, variation) in &product_variations {
        if let Some(tree) = trees.get(variation) {
            attached.entry(*product).or_default().push(tree);
        }
    }
    // Top-level products first, so each child finds its published parent.
    let (children, parents): (Vec<Product>, Vec<Product>) =
        products.into_iter().partition(|p| p.parent_id.is_some());
    let mut published: Vec<ReleasedProduct> = parents
        .into_iter()
        .filter(|p| p.status == ProductStatus::Live)
        .filter_map(|p| {
            let node_ids = placed.remove(&p.id)?;
            let variations = if p.is_parent {
                attached
                    .get(&p.id)
                    .map(|ts| ts.iter().map(|t| ReleasedVariation::of(t)).collect())
                    .unwrap_or_default()
            } else {
                Box::default()
            };
            Some(ReleasedProduct {
                product: p,
                node_ids: node_ids.into(),
                variations,
            })
        })
        .collect();
    let parent_nodes: HashMap<Uuid, _> = published
        .iter()
        .filter(|p| p.product.is_parent)
        .map(|p| (p.product.id, (p.node_ids.clone(), p.product.sku.clone())))
        .collect();
    // Each published child, with its parent's sku and its option trees (for its price).
    let mut derived: Vec<(String, String, Vec<&OptionTree>)> = Vec::new();
    for child in children.into_iter().filter(|c| c.status == ProductStatus::Live) {
        let Some(parent) = child.parent_id else { continue };
        let Some((node_ids, parent_sku)) = parent_nodes.get(&parent) else {
            continue;
        };
        let Some(options) = child_options(&child, attached.get(&parent).map_or(&[], Vec::as_slice)) else {
            continue;
        };
        if let (Some(sku), Some(parent_sku)) = (&child.sku, parent_sku) {
            derived.push((sku.to_string(), parent_sku.to_string(), options));
        }
        published.push(ReleasedProduct {
            product: child,
            node_ids: node_ids.clone(),
            variations: Box::default(),
        });
    }
    published.sort_by_key(|p| (p.product.created_at, p.product.id));
    keep_published_options(&mut published);
    let products = published;
    let skus: BTreeSet<&str> = products.iter().filter_map(|p| p.product.sku.as_deref()).collect();
    let mut sheets: HashMap<Uuid, HashMap<String, PriceSheet>> = HashMap::new();
    for price in prices {
        if skus.contains(price.sku.as_str()) {
            sheets
                .entry(price.pricebook_id)
                .or_default()
                .insert(price.sku, price.prices);
        }
    }
    for book in sheets.values_mut() {
        for (sku, parent_sku, options) in &derived {
            if book.contains_key(sku) {
                continue;
            }
            if let Some(parent_sheet) = book.get(parent_sku) {
                let sheet = price_child(parent_sheet, &price_changes(options.iter().copied()));
                book.insert(sku.clone(), sheet);
            }
        }
    }
    let shown: HashSet<Uuid> = products
        .iter()
        .flat_map(|p| p.product.main_image.iter().chain(&p.product.files))
        .copied()
        .collect();
    files.retain(|f| shown.contains(&f.id));
    files.sort_by_key(|f| (f.created_at, f.id));
    files.dedup_by_key(|f| f.id);
    let pricebooks = catalog
        .pricebooks
        .iter()
        .map(|b| ReleasedPricebook {
            id: b.id,
            priority: b.priority,
            prices: sheets
                .remove(&b.id)
                .unwrap_or_default()
                .into_iter()
                .map(|(sku, sheet)| (sku.into_boxed_str(), sheet))
                .collect(),
        })
        .collect();
    Snapshot {
        catalog_id: catalog.id,
        catalog_name: catalog.name,
        hierarchies,
        nodes,
        products,
        pricebooks,
        files,
    }
}

/// A published bundle keeps the options whose products are published with it and are not
/// bundles themselves (a component product must be in the catalog too, live and placed); a
/// component left without options is left out, and a bundle left without components too.
fn keep_published_options(products: &mut Vec<ReleasedProduct>) {
    let plain: HashSet<Uuid> = products
        .iter()
        .filter(|p| !p.product.is_bundle())
        .map(|p| p.product.id)
        .collect();
    for p in products.iter_mut().filter(|p| p.product.is_bundle()) {
        for component in p.product.components.values_mut() {
            component.options.retain(|o| plain.contains(&o.id));
        }
        let was = p.product.components.len();
        p.product.components.retain(|_, c| !c.options.is_empty());
        if was > 0 && p.product.components.is_empty() {
            p.node_ids = Box::default();
        }
    }
    products.retain(|p| !p.node_ids.is_empty());
}

/// A child's option trees, one per variation of its parent in the order attached; `None` when
/// its options are no longer a combination of them (an option deleted, a variation detached or
/// attached since it was built).
fn child_options<'a>(child: &Product, trees: &[&'a VariationTree]) -> Option<Vec<&'a OptionTree>> {
    let options: Vec<&OptionTree> = trees
        .iter()
        .map(|t| {
            t.options
                .iter()
                .find(|o| child.child_options.contains(&o.option.id))
        })
        .collect::<Option<_>>()?;
    (!options.is_empty() && child_key(&options) == *child.child_options).then_some(options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::PrioritizedPricebook;
    use crate::pricing::CurrencyPrice;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn hierarchy(n: u128) -> Hierarchy {
        Hierarchy {
            id: id(n),
            name: format!("h{n}"),
            description: None,
            slug: None,
            created_at: n as i64,
            updated_at: n as i64,
        }
    }

    fn node(n: u128, hierarchy: u128) -> Node {
        Node {
            id: id(n),
            hierarchy_id: id(hierarchy),
            parent_id: None,
            name: format!("n{n}"),
            description: None,
            slug: None,
            sort_order: None,
            created_at: n as i64,
            updated_at: n as i64,
        }
    }

    fn product(n: u128, sku: Option<&str>, status: &str) -> Product {
        Product {
            id: id(n),
            name: format!("p{n}").into(),
            sku: sku.map(Into::into),
            slug: None,
            description: None,
            status: ProductStatus::parse(status).expect("a status"),
            commodity_type: crate::catalog::CommodityType::Physical,
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
            created_at: n as i64,
            updated_at: n as i64,
        }
    }

    fn price(n: u128, book: u128, sku: &str, amount: i64) -> ProductPrice {
        ProductPrice {
            id: id(n),
            pricebook_id: id(book),
            sku: sku.into(),
            external_ref: None,
            prices: PriceSheet {
                currencies: [(
                    "USD".to_string(),
                    CurrencyPrice {
                        amount,
                        includes_tax: false,
                        tiers: Default::default(),
                    },
                )]
                .into(),
                sales: Default::default(),
            },
            created_at: 0,
            updated_at: 0,
        }
    }

    fn source() -> ReleaseSource {
        ReleaseSource {
            catalog: Catalog {
                id: id(1),
                name: "Main".into(),
                description: None,
                hierarchy_ids: vec![id(11), id(10)],
                pricebooks: vec![
                    PrioritizedPricebook {
                        id: id(50),
                        priority: 1,
                    },
                    PrioritizedPricebook {
                        id: id(51),
                        priority: 9,
                    },
                ],
                created_at: 0,
                updated_at: 0,
            },
            hierarchies: vec![hierarchy(10), hierarchy(11)],
            nodes: vec![node(21, 11), node(20, 10), node(29, 99)],
            placements: vec![
                (id(20), id(31)),
                (id(21), id(31)),
                (id(20), id(32)),
                (id(20), id(33)),
                (id(29), id(34)),
                (id(20), id(30)),
            ],
            products: vec![
                product(31, Some("A"), "live"),
                product(30, None, "live"),
                product(32, Some("DRAFT"), "draft"),
                product(33, Some("B"), "live"),
                product(34, Some("ELSEWHERE"), "live"),
                product(35, Some("UNPLACED"), "live"),
            ],
            prices: vec![
                price(40, 50, "A", 100),
                price(41, 51, "A", 90),
                price(42, 50, "DRAFT", 1),
                price(43, 50, "UNKNOWN", 1),
                price(44, 51, "B", 70),
            ],
            files: Vec::new(),
            product_variations: Vec::new(),
            variations: Vec::new(),
        }
    }

    #[test]
    fn publishes_live_placed_products_with_their_nodes() {
        let s = build_snapshot(source());
        let got: Vec<(Uuid, Vec<Uuid>)> = s
            .products
            .iter()
            .map(|p| (p.product.id, p.node_ids.to_vec()))
            .collect();
        assert_eq!(
            got,
            vec![
                (id(30), vec![id(20)]),
                (id(31), vec![id(20), id(21)]),
                (id(33), vec![id(20)]),
            ],
            "drafts, products outside the catalog's nodes and unplaced products are left out"
        );
        assert_eq!(
            s.hierarchies.iter().map(|h| h.id).collect::<Vec<_>>(),
            vec![id(11), id(10)],
            "hierarchies in the catalog's order"
        );
        assert_eq!(
            s.nodes.iter().map(|n| n.id).collect::<Vec<_>>(),
            vec![id(20), id(21)],
            "nodes of other hierarchies are left out"
        );
    }

    #[test]
    fn keeps_prices_of_published_skus_with_book_priorities() {
        let s = build_snapshot(source());
        let books: Vec<(Uuid, i64, Vec<&str>)> = s
            .pricebooks
            .iter()
            .map(|b| {
                let skus: Vec<&str> = b.prices.keys().map(|sku| &**sku).collect();
                (b.id, b.priority, skus)
            })
            .collect();
        assert_eq!(books, vec![(id(50), 1, vec!["A"]), (id(51), 9, vec!["A", "B"])]);
        assert_eq!(s.pricebooks[1].prices["A"].currencies["USD"].amount, 90);
    }

    #[test]
    fn a_bundle_keeps_only_options_published_with_it() {
        use crate::bundles::{Component, ComponentOption, ProductKind};
        let option = |n: u128| ComponentOption {
            id: id(n),
            kind: ProductKind,
            quantity: 1,
            default: true,
            min: None,
            max: None,
            sort_order: None,
        };
        let component = |options: Vec<ComponentOption>| Component {
            name: "c".into(),
            options,
            min: None,
            max: None,
            sort_order: None,
        };
        let mut src = source();
        // 33 is a bundle of 30 (published), 32 (a draft) and 35 (unplaced); 31 a bundle of
        // only unpublished products; 30 is no bundle.
        src.products[3].components = [
            ("a".to_string(), component(vec![option(30), option(32)])),
            ("b".to_string(), component(vec![option(35)])),
        ]
        .into();
        src.products[0].components = [("a".to_string(), component(vec![option(34)]))].into();
        let s = build_snapshot(src);
        let ids: Vec<Uuid> = s.products.iter().map(|p| p.product.id).collect();
        assert_eq!(
            ids,
            vec![id(30), id(33)],
            "a bundle left without components is not published"
        );
        let bundle = &s.products[1].product;
        assert_eq!(bundle.components.keys().collect::<Vec<_>>(), vec!["a"]);
        assert_eq!(bundle.components["a"].options, vec![option(30)]);
    }

    #[test]
    fn an_empty_catalog_publishes_an_empty_snapshot() {
        let mut src = source();
        src.hierarchies.clear();
        let s = build_snapshot(src);
        assert!(s.nodes.is_empty() && s.products.is_empty());
        assert!(s.pricebooks.iter().all(|b| b.prices.is_empty()));
        assert_eq!(s.pricebooks.len(), 2, "the books stay, empty");
    }

    fn file(n: u128) -> File {
        File {
            id: id(n),
            file_name: format!("f{n}.png"),
            mime_type: "image/png".into(),
            file_size: Some(10),
            public: true,
            width: Some(1),
            height: Some(1),
            sha256: Some("00".into()),
            location: None,
            created_at: n as i64,
        }
    }

    #[test]
    fn keeps_the_files_published_products_show() {
        let mut src = source();
        let set = |src: &mut ReleaseSource, product: u128, main: Option<u128>, files: &[u128]| {
            let p = src.products.iter_mut().find(|p| p.id == id(product)).unwrap();
            p.main_image = main.map(id);
            p.files = files.iter().map(|&f| id(f)).collect();
        };
        set(&mut src, 31, Some(61), &[62, 60]);
        set(&mut src, 33, Some(62), &[]);
        set(&mut src, 32, Some(63), &[]); // a draft: its image stays out
        src.files = vec![file(63), file(62), file(61), file(60), file(64), file(61)];
        let s = build_snapshot(src);
        assert_eq!(
            s.files.iter().map(|f| f.id).collect::<Vec<_>>(),
            vec![id(60), id(61), id(62)],
            "each shown file once, oldest first; files of drafts and unused files are left out"
        );
        let p31 = s.products.iter().find(|p| p.product.id == id(31)).unwrap();
        assert_eq!(p31.product.main_image, Some(id(61)));
        assert_eq!(*p31.product.files, [id(62), id(60)], "the product's own order");
    }

    #[test]
    fn snapshots_without_files_still_read() {
        let mut value = serde_json::to_value(build_snapshot(source())).unwrap();
        value.as_object_mut().unwrap().remove("files");
        let s: Snapshot = serde_json::from_value(value).unwrap();
        assert!(s.files.is_empty());
        assert!(
            s.products
                .iter()
                .all(|p| p.product.main_image.is_none() && p.product.files.is_empty())
        );
    }

    #[test]
    fn publishes_children_of_published_parents_with_derived_prices() {
        use crate::variations::{Modifier, OptionTree, Variation, VariationOption, VariationTree};
        let option = |n: u128, name: &str, price: Option<&str>| OptionTree {
            option: VariationOption {
                id: id(n),
                variation_id: id(70),
                name: name.into(),
                description: None,
                sort_order: None,
                created_at: n as i64,
                updated_at: n as i64,
            },
            modifiers: price
                .map(|v| Modifier {
                    id: id(n + 1000),
                    option_id: id(n),
                    kind: "price_increment".into(),
                    value: Some(v.into()),
                    seek: None,
                    set: None,
                    reference_name: None,
                    created_at: 0,
                    updated_at: 0,
                })
                .into_iter()
                .collect(),
        };
        let mut src = source();
        let parent = src.products.iter_mut().find(|p| p.id == id(31)).unwrap();
        parent.is_parent = true;
        let child = |n: u128, sku: &str, options: Vec<u128>, status: &str| Product {
            parent_id: Some(id(31)),
            child_options: options.into_iter().map(id).collect(),
            ..product(n, Some(sku), status)
        };
        src.products.extend([
            child(80, "A-Red", vec![71], "live"),
            child(81, "A-Blue", vec![72], "live"),
            child(82, "A-Green", vec![73], "live"), // its option is gone
            child(83, "A-Draft", vec![71], "draft"),
            Product {
                parent_id: Some(id(32)), // a draft parent's child
                child_options: [id(71)].into(),
                ..product(84, Some("D-Red"), "live")
            },
        ]);
        src.prices.push(price(45, 50, "A-Blue", 55));
        src.product_variations = vec![(id(31), id(70))];
        src.variations = vec![VariationTree {
            variation: Variation {
                id: id(70),
                name: "Colour".into(),
                sort_order: Some(2),
                created_at: 0,
                updated_at: 0,
            },
            options: vec![option(71, "Red", Some("25")), option(72, "Blue", Some("1000"))],
        }];
        let s = build_snapshot(src);
        let published: Vec<Uuid> = s.products.iter().map(|p| p.product.id).collect();
        assert_eq!(published, vec![id(30), id(31), id(33), id(80), id(81)]);
        let p31 = s.products.iter().find(|p| p.product.id == id(31)).unwrap();
        assert_eq!(p31.variations.len(), 1);
        assert_eq!(
            p31.variations[0]
                .options
                .iter()
                .map(|o| o.name.as_str())
                .collect::<Vec<_>>(),
            ["Red", "Blue"]
        );
        let red = s.products.iter().find(|p| p.product.id == id(80)).unwrap();
        assert_eq!(red.node_ids, p31.node_ids, "a child sits in its parent's nodes");
        assert!(red.variations.is_empty());
        let book = |n: u128| &s.pricebooks.iter().find(|b| b.id == id(n)).unwrap().prices;
        assert_eq!(
            book(50)["A-Red"].currencies["USD"].amount,
            125,
            "the parent's 100 plus 25"
        );
        assert_eq!(
            book(51)["A-Red"].currencies["USD"].amount,
            115,
            "the parent's 90 plus 25"
        );
        assert_eq!(
            book(50)["A-Blue"].currencies["USD"].amount,
            55,
            "its own price stays"
        );
        assert_eq!(book(51)["A-Blue"].currencies["USD"].amount, 1090);
    }

    #[test]
    fn the_variation_matrix_nests_options_in_variation_order() {
        let option = |n: u128, sort_order: Option<i64>| ReleasedOption {
            id: id(n),
            name: format!("o{n}"),
            description: None,
            sort_order,
        };
        let variations = vec![
            ReleasedVariation {
                id: id(1),
                name: "Colour".into(),
                sort_order: None,
                options: vec![option(11, None), option(12, Some(5))],
            },
            ReleasedVariation {
                id: id(2),
                name: "Size".into(),
                sort_order: Some(1),
                options: vec![option(21, Some(1)), option(22, Some(2))],
            },
        ];
        let children = [
            (vec![id(11), id(21)], id(101)),
            (vec![id(21), id(12)], id(102)),
            (vec![id(12), id(22)], id(103)),
            (vec![id(11)], id(104)), // not a whole combination
        ];
        let m = variation_matrix(&variations, children.iter().map(|(o, c)| (o.as_slice(), *c)));
        let s = |n: u128| id(n).to_string();
        assert_eq!(
            m,
            serde_json::json!({
                s(11): { s(21): s(101) },
                s(12): { s(21): s(102), s(22): s(103) },
            })
        );
        let one = &variations[..1];
        let m = variation_matrix(one, children.iter().map(|(o, c)| (o.as_slice(), *c)));
        assert_eq!(
            m[s(11)],
            serde_json::json!(s(104)),
            "one variation: option to child"
        );
        let shown = display_order(&variations);
        assert_eq!(
            (shown[0].id, shown[1].id),
            (id(2), id(1)),
            "sorted variations first"
        );
        assert_eq!(shown[0].options[0].id, id(22), "highest sort_order first");
        assert_eq!(shown[1].options[0].id, id(12));
        let named: Vec<(Uuid, Uuid)> = child_variations(&variations, &[id(22), id(12)])
            .map(|(v, o)| (v.id, o.id))
            .collect();
        assert_eq!(named, vec![(id(1), id(12)), (id(2), id(22))]);
    }

    #[test]
    fn snapshots_survive_json() {
        let s = build_snapshot(source());
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Snapshot>(&text).unwrap(), s);
    }
}
