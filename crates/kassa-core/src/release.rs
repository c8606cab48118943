//! Catalog releases: the immutable snapshot a publish takes of a catalog, built by a pure
//! function from what the store read in one transaction. Shoppers only ever read snapshots, so
//! changing a product or a price changes nothing they see until the next publish.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::catalog::{Catalog, Hierarchy, Node, Product, ProductPrice};
use crate::file::File;
use crate::pricing::PriceSheet;
use crate::time::Millis;

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
}

/// A product as published: the product and the nodes it is placed in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleasedProduct {
    pub product: Product,
    pub node_ids: Vec<Uuid>,
}

/// A price book as published: its priority in the catalog and its price sheets by sku.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleasedPricebook {
    pub id: Uuid,
    pub priority: i64,
    pub prices: HashMap<String, PriceSheet>,
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
/// their node ids), and the price sheets of those products' skus from the catalog's price books.
pub fn build_snapshot(source: ReleaseSource) -> Snapshot {
    let ReleaseSource {
        catalog,
        mut hierarchies,
        mut nodes,
        placements,
        mut products,
        prices,
        mut files,
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
    let products: Vec<ReleasedProduct> = products
        .into_iter()
        .filter(|p| p.status == "live")
        .filter_map(|p| {
            let node_ids = placed.remove(&p.id)?;
            Some(ReleasedProduct { product: p, node_ids })
        })
        .collect();
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
            prices: sheets.remove(&b.id).unwrap_or_default(),
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
            name: format!("p{n}"),
            sku: sku.map(str::to_owned),
            slug: None,
            description: None,
            status: status.into(),
            commodity_type: "physical".into(),
            upc_ean: None,
            mpn: None,
            external_ref: None,
            extensions: None,
            main_image: None,
            files: Vec::new(),
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
        }
    }

    #[test]
    fn publishes_live_placed_products_with_their_nodes() {
        let s = build_snapshot(source());
        let got: Vec<(Uuid, Vec<Uuid>)> = s
            .products
            .iter()
            .map(|p| (p.product.id, p.node_ids.clone()))
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
                let mut skus: Vec<&str> = b.prices.keys().map(String::as_str).collect();
                skus.sort();
                (b.id, b.priority, skus)
            })
            .collect();
        assert_eq!(books, vec![(id(50), 1, vec!["A"]), (id(51), 9, vec!["A", "B"])]);
        assert_eq!(s.pricebooks[1].prices["A"].currencies["USD"].amount, 90);
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
        assert_eq!(p31.product.files, vec![id(62), id(60)], "the product's own order");
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
    fn snapshots_survive_json() {
        let s = build_snapshot(source());
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Snapshot>(&text).unwrap(), s);
    }
}
