#!/usr/bin/env python3
"""Seeds a fresh kassa with one of each resource and writes a schemathesis config that pins each
operation's path ids to them, so the fuzzer reaches the handlers' logic instead of a 404.

Usage: fuzz-seed.py BASE_URL ADMIN_TOKEN CONFIG_OUT. A seed that fails is reported and skipped
(its operations then get random ids); it never fails the run by itself.
"""
import json
import sys
import urllib.error
import urllib.request

BASE, TOKEN, OUT = sys.argv[1], sys.argv[2], sys.argv[3]


def call(method, path, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + TOKEN)
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            raw = res.read()
            return json.loads(raw) if raw else {}
    except urllib.error.HTTPError as e:
        print(f"fuzz-seed: {method} {path} answered {e.code}: {e.read()[:300]!r}", file=sys.stderr)
        return None


def upload(file_name, content):
    """POST /v2/files with a multipart/form-data body holding one file; the new file's data."""
    boundary = "fuzz-seed-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(BASE + "/v2/files", data=body, method="POST")
    req.add_header("Authorization", "Bearer " + TOKEN)
    req.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            return json.loads(res.read())["data"]
    except urllib.error.HTTPError as e:
        print(f"fuzz-seed: POST /v2/files answered {e.code}: {e.read()[:300]!r}", file=sys.stderr)
        return None


def png(width, height):
    """A real RGB PNG (zlib-compressed rows, no filter)."""
    import struct
    import zlib
    rows = b"".join(b"\x00" + bytes([200, 100, 50]) * width for _ in range(height))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def new(method, path, body, pick=lambda d: d["data"]["id"]):
    doc = call(method, path, body)
    try:
        return pick(doc)
    except (TypeError, KeyError, IndexError):
        return None


ids = {}
ids["product"] = new("POST", "/pcm/products", {"data": {"type": "product", "attributes": {
    "name": "Fuzz Shirt", "sku": "FUZZ-1", "slug": "fuzz-1", "commodity_type": "physical", "status": "live"}}})
ids["hierarchy"] = new("POST", "/pcm/hierarchies", {"data": {"type": "hierarchy", "attributes": {"name": "Fuzz"}}})
if ids["hierarchy"]:
    ids["node"] = new("POST", f"/pcm/hierarchies/{ids['hierarchy']}/nodes",
                      {"data": {"type": "node", "attributes": {"name": "Fuzz node"}}})
    if ids["node"] and ids["product"]:
        call("POST", f"/pcm/hierarchies/{ids['hierarchy']}/nodes/{ids['node']}/relationships/products",
             {"data": [{"type": "product", "id": ids["product"]}]})
# A bundle of the product, placed beside it: the shopper catalog shows it and configures it.
if ids["product"]:
    ids["bundle"] = new("POST", "/pcm/products", {"data": {"type": "product", "attributes": {
        "name": "Fuzz Kit", "sku": "FUZZ-KIT", "slug": "fuzz-kit", "commodity_type": "physical", "status": "live",
        "components": {"shirt": {"name": "Shirt", "min": 1, "max": 1, "options": [
            {"id": ids["product"], "type": "product", "quantity": 1, "default": True}]}}}}})
    if ids["bundle"] and ids.get("node"):
        call("POST", f"/pcm/hierarchies/{ids['hierarchy']}/nodes/{ids['node']}/relationships/products",
             {"data": [{"type": "product", "id": ids["bundle"]}]})
# A picture of the product, published with it: the shopper catalog's `include` renders it.
seeded_file = upload("fuzz-shirt.png", png(4, 3))
if seeded_file:
    ids["file"] = seeded_file["id"]
    ids["file_name"] = seeded_file["link"]["href"].rsplit("/", 1)[-1]
    if ids["product"]:
        call("POST", f"/pcm/products/{ids['product']}/relationships/main_image",
             {"data": {"type": "file", "id": ids["file"]}})
        call("POST", f"/pcm/products/{ids['product']}/relationships/files",
             {"data": [{"type": "file", "id": ids["file"]}]})
# A variation with an option and a modifier, attached to the product and built before the publish,
# so the shopper catalog has a parent and children.
ids["variation"] = new("POST", "/pcm/variations", {"data": {"type": "product-variation",
                       "attributes": {"name": "Fuzz colour"}}})
if ids["variation"]:
    ids["option"] = new("POST", f"/pcm/variations/{ids['variation']}/options", {"data": {
        "type": "product-variation-option", "attributes": {"name": "Red", "description": "Red"}}})
    if ids["option"]:
        ids["modifier"] = new("POST", f"/pcm/variations/{ids['variation']}/options/{ids['option']}/modifiers",
                              {"data": {"type": "product-variation-modifier",
                                        "attributes": {"type": "price_increment", "value": "100"}}})
    if ids["product"]:
        call("POST", f"/pcm/products/{ids['product']}/relationships/variations",
             {"data": [{"type": "product-variation", "id": ids["variation"]}]})
        call("POST", f"/pcm/products/{ids['product']}/build")
ids["pricebook"] = new("POST", "/pcm/pricebooks", {"data": {"type": "pricebook", "attributes": {"name": "Fuzz"}}})
if ids["pricebook"]:
    ids["price"] = new("POST", f"/pcm/pricebooks/{ids['pricebook']}/prices", {"data": {"type": "product-price",
        "attributes": {"sku": "FUZZ-1", "currencies": {"USD": {"amount": 1500, "includes_tax": False}}}}})
if ids["hierarchy"] and ids["pricebook"]:
    ids["catalog"] = new("POST", "/catalogs", {"data": {"type": "catalog", "attributes": {
        "name": "Fuzz", "hierarchy_ids": [ids["hierarchy"]], "pricebook_id": ids["pricebook"]}}})
    if ids["catalog"]:
        ids["release"] = new("POST", f"/catalogs/{ids['catalog']}/releases", None)
        ids["rule"] = new("POST", "/catalogs/rules", {"data": {"type": "catalog_rule", "attributes": {
            "name": "Fuzz rule", "catalog_id": ids["catalog"], "channels": ["fuzz"]}}})
ids["currency"] = new("GET", "/v2/currencies", None, lambda d: d["data"][0]["id"])
if ids["product"]:
    call("POST", f"/v2/inventories/{ids['product']}", {"data": {"type": "stock", "quantity": 1000}})
    ids["transaction"] = new("POST", f"/v2/inventories/{ids['product']}/transactions",
                             {"data": {"type": "stock-transaction", "action": "increment", "quantity": 1}})
ids["location"] = new("POST", "/v2/inventories/locations", {"data": {"type": "inventory_location",
                      "attributes": {"name": "Fuzz Warehouse", "slug": "fuzz-warehouse"}}})
if ids["location"] and ids["product"]:
    call("POST", f"/v2/inventories/{ids['product']}/transactions", {"data": {"type": "stock-transaction",
         "attributes": {"action": "increment", "quantity": 5, "location": "fuzz-warehouse"}}},
         {"EP-Inventories-Multi-Location": "true"})
ids["customer"] = new("POST", "/v2/customers", {"data": {"type": "customer", "name": "Fuzz",
                                                         "email": "fuzz@example.com", "password": "fuzz-pa55word"}})
ids["account"] = new("POST", "/v2/accounts", {"data": {"type": "account", "name": "Fuzz", "legal_name": "Fuzz Ltd"}})
ids["realm"] = new("GET", "/v2/authentication-realms", None, lambda d: d["data"][0]["id"])
saved_address = {"type": "address", "name": "Fuzz home", "first_name": "Fuzz", "last_name": "Tester",
                 "line_1": "1 Main St", "postcode": "12345", "country": "US", "region": "IL"}
for owner, path in (("account", "/v2/accounts"), ("customer", "/v2/customers")):
    if ids[owner]:
        ids[f"{owner}_address"] = new("POST", f"{path}/{ids[owner]}/addresses", {"data": saved_address})
ids["cart"] = new("POST", "/v2/carts", {"data": {"name": "Fuzz cart"}})
if ids["cart"]:
    ids["item"] = new("POST", f"/v2/carts/{ids['cart']}/items", {"data": {"type": "custom_item", "name": "Fuzz",
        "sku": "FUZZ-C", "quantity": 2, "price": {"amount": 1000, "includes_tax": False}}},
        lambda d: d["data"][0]["id"])
    if ids["item"]:
        ids["tax"] = new("POST", f"/v2/carts/{ids['cart']}/items/{ids['item']}/taxes", {"data": {"type": "tax_item",
            "name": "Sales Tax", "code": "ST", "jurisdiction": "US-NY", "rate": 0.1}})
# A second cart is checked out, so there is an order (and the first cart stays open).
order_cart = new("POST", "/v2/carts", {"data": {"name": "Fuzz order"}})
if order_cart:
    call("POST", f"/v2/carts/{order_cart}/items", {"data": {"type": "custom_item", "name": "Fuzz", "sku": "FUZZ-O",
         "quantity": 1, "price": {"amount": 1000, "includes_tax": False}}})
    address = {"first_name": "Fuzz", "last_name": "Tester", "line_1": "1 Main St", "city": "Springfield",
               "postcode": "12345", "country": "US", "region": "IL"}
    ids["order"] = new("POST", f"/v2/carts/{order_cart}/checkout", {"data": {
        "customer": {"name": "Fuzz Tester", "email": "fuzz-order@example.com"},
        "billing_address": address, "shipping_address": address}})

# A disabled integration (delivers nothing), whose jobs and logs lists are then really read.
ids["integration"] = new("POST", "/v2/integrations", {"data": {"type": "integration", "name": "Fuzz",
    "integration_type": "webhook", "enabled": False, "observes": ["order.created"],
    "configuration": {"url": "http://127.0.0.1:9/hook"}}})

# Which path parameter of which paths each id fills, most specific first.
pins = [
    (r"^/v2/carts/\{id\}/items/\{item_id\}/taxes/\{tax_id\}$", {"id": "cart", "item_id": "item", "tax_id": "tax"}),
    (r"^/v2/carts/\{id\}/items/\{item_id\}", {"id": "cart", "item_id": "item"}),
    (r"^/v2/carts/\{id\}", {"id": "cart"}),
    (r"^/v2/orders/\{id\}", {"id": "order"}),
    (r"^/v2/customers/\{id\}/addresses/\{address_id\}", {"id": "customer", "address_id": "customer_address"}),
    (r"^/v2/customers/\{id\}", {"id": "customer"}),
    (r"^/v2/accounts/\{id\}/addresses/\{address_id\}", {"id": "account", "address_id": "account_address"}),
    (r"^/v2/accounts/\{id\}", {"id": "account"}),
    (r"^/v2/currencies/\{id\}", {"id": "currency"}),
    (r"^/v2/integrations/\{id\}", {"id": "integration"}),
    (r"^/v2/authentication-realms/\{realm\}", {"realm": "realm"}),
    (r"^/v2/inventories/locations/\{id\}", {"id": "location"}),
    (r"^/v2/inventories/\{product_id\}/transactions/\{id\}", {"product_id": "product", "id": "transaction"}),
    (r"^/v2/inventories/\{product_id\}", {"product_id": "product"}),
    (r"^/pcm/variations/\{id\}/options/\{option\}/modifiers/\{modifier\}$",
     {"id": "variation", "option": "option", "modifier": "modifier"}),
    (r"^/pcm/variations/\{id\}/options/\{option\}", {"id": "variation", "option": "option"}),
    (r"^/pcm/variations/\{id\}", {"id": "variation"}),
    (r"^/pcm/products/\{id\}", {"id": "product"}),
    (r"^/pcm/hierarchies/\{id\}/nodes/\{node\}", {"id": "hierarchy", "node": "node"}),
    (r"^/pcm/hierarchies/\{id\}", {"id": "hierarchy"}),
    (r"^/pcm/pricebooks/\{id\}/prices/\{price\}", {"id": "pricebook", "price": "price"}),
    (r"^/pcm/pricebooks/\{id\}", {"id": "pricebook"}),
    (r"^(/pcm)?/catalogs/rules/\{id\}", {"id": "rule"}),
    (r"^(/pcm)?/catalogs/\{id\}/releases/\{release\}", {"id": "catalog", "release": "release"}),
    (r"^(/pcm)?/catalogs/\{id\}", {"id": "catalog"}),
    (r"^/catalog/products/\{id\}/configure", {"id": "bundle"}),
    (r"^/catalog/products/\{id\}", {"id": "product"}),
    (r"^/v2/files/\{id\}", {"id": "file"}),
    (r"^/files/\{id\}/\{file_name\}", {"id": "file", "file_name": "file_name"}),
    (r"^/catalog/hierarchies/\{id\}", {"id": "hierarchy"}),
    (r"^/catalog/nodes/\{id\}", {"id": "node"}),
]
lines = []
claimed = []
for regex, params in pins:
    values = {f"path.{name}": ids.get(kind) for name, kind in params.items()}
    if not all(values.values()):
        continue
    # An operation takes the first (most specific) pin whose regex matches: later, broader
    # regexes exclude the paths the earlier ones claimed.
    lines.append("[[operations]]")
    lines.append(f"include-path-regex = {json.dumps(regex)}")
    if claimed:
        lines.append(f"exclude-path-regex = {json.dumps('|'.join(claimed))}")
    lines.append("parameters = { " + ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in values.items()) + " }")
    lines.append("")
    claimed.append(regex)
with open(OUT, "w") as f:
    f.write("\n".join(lines))
print("fuzz-seed: " + ", ".join(f"{k}={'ok' if v else 'MISSING'}" for k, v in ids.items()))
