//! Files (`/v2/files`), their content at `link.href`, and the products' main images and files
//! (`/pcm/products/{id}/relationships/main_image|files`).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::fixtures::{self, BOUNDARY, Part, file_part, form, png, text_part, upload, upload_to, uploaded};
use crate::helpers::{Backend, Options, Resp, TestApp};

backend_tests!(
    uploads_are_served_byte_for_byte,
    file_locations_store_no_bytes,
    listing_filters_and_pages,
    deleting_a_file_removes_its_content,
    oversized_uploads_are_413_and_store_nothing,
    uploads_beyond_the_json_limit_are_accepted,
    wrong_types_and_bad_forms_are_400_and_store_nothing,
    implicit_tokens_read_but_do_not_write,
    product_main_image_and_files,
    product_media_bad_input,
    parallel_file_attachments_are_all_kept,
    published_products_show_their_images,
    cart_lines_show_their_products_main_image,
);

// --- Test content -------------------------------------------------------------------------

/// The markers of a baseline JPEG of `width`×`height` (what a reader of its size sees).
fn jpeg(width: u16, height: u16) -> Vec<u8> {
    let mut out = vec![0xFF, 0xD8];
    out.extend_from_slice(&[0xFF, 0xE0, 0, 16]);
    out.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
    out.extend_from_slice(&[0xFF, 0xC0, 0, 17, 8]);
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(&width.to_be_bytes());
    out.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";

// --- Helpers ---------------------------------------------------------------------------------

/// The status, headers and bytes of a GET of an absolute URL, with extra headers.
pub(crate) async fn fetch(
    http: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = http.get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    (status, headers, res.bytes().await.unwrap().to_vec())
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

fn str_of<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or_else(|| panic!("no {field}: {v}"))
}

async fn file_total(app: &TestApp, admin: &str) -> u64 {
    let r = app.get("/v2/files", admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["meta"]["results"]["total"].as_u64().unwrap()
}

fn first_source(r: &Resp) -> String {
    r.error()["source"].as_str().unwrap_or_default().to_owned()
}

// --- Tests -----------------------------------------------------------------------------------

async fn uploads_are_served_byte_for_byte(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let image = png(3, 2);
    let photo = jpeg(640, 480);
    // (name, content, type, dimensions)
    type Case<'a> = (&'a str, &'a [u8], &'a str, Option<(u64, u64)>);
    let cases: [Case<'_>; 3] = [
        ("front view.png", &image, "image/png", Some((3, 2))),
        ("photo.jpg", &photo, "image/jpeg", Some((640, 480))),
        ("manual.pdf", PDF, "application/pdf", None),
    ];
    for (name, bytes, mime, dimensions) in cases {
        let f = uploaded(&app, &admin, name, bytes).await;
        let id = str_of(&f, "id").to_owned();
        assert_eq!(f["type"], "file");
        assert_eq!(f["file_name"], name, "the part's own file name");
        assert_eq!(f["mime_type"], mime);
        assert_eq!(f["file_size"], bytes.len());
        assert_eq!(f["public"], true);
        assert!(f["meta"]["timestamps"]["created_at"].is_string(), "{f}");
        assert_eq!(f["links"]["self"], format!("{}/v2/files/{id}", app.url));
        match dimensions {
            Some((w, h)) => assert_eq!(f["meta"]["dimensions"], json!({"width": w, "height": h})),
            None => assert!(f["meta"].get("dimensions").is_none(), "{f}"),
        }
        // The same object is read back.
        let r = app.get(&format!("/v2/files/{id}"), &admin).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body["data"], f);

        // The content: no token, the exact bytes, the sniffed type, a strong ETag, cached for good.
        let href = str_of(&f["link"], "href").to_owned();
        assert!(href.starts_with(&format!("{}/files/{id}/", app.url)), "{href}");
        let (status, headers, body) = fetch(&app.http, &href, &[]).await;
        assert_eq!(status, 200, "{href}");
        assert_eq!(body, bytes, "{name} is served byte for byte");
        assert_eq!(header(&headers, "content-type"), mime);
        assert_eq!(header(&headers, "content-length"), bytes.len().to_string());
        assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
        let cache = header(&headers, "cache-control");
        assert!(
            cache.contains("immutable") && cache.contains("max-age=31536000"),
            "{cache}"
        );
        let etag = header(&headers, "etag").to_owned();
        assert!(
            etag.starts_with('"') && !etag.starts_with("W/"),
            "a strong tag: {etag}"
        );
        assert_eq!(etag.trim_matches('"').len(), 64, "a SHA-256: {etag}");

        // Revalidation: the tag (strong or weak form, among others) is a 304 without the bytes.
        for inm in [etag.clone(), format!("\"other\", W/{etag}"), "*".to_owned()] {
            let (status, headers, body) = fetch(&app.http, &href, &[("if-none-match", &inm)]).await;
            assert_eq!(status, 304, "If-None-Match: {inm}");
            assert!(body.is_empty());
            assert_eq!(header(&headers, "etag"), etag);
        }
        let (status, _, body) = fetch(&app.http, &href, &[("if-none-match", "\"stale\"")]).await;
        assert_eq!(status, 200);
        assert_eq!(body, bytes);
    }
    // The name in the path is the file's, percent-encoded; the id alone decides.
    let f = uploaded(&app, &admin, "front view.png", &image).await;
    let href = str_of(&f["link"], "href");
    assert!(href.ends_with("/front%20view.png"), "{href}");
    let other = href.replace("front%20view.png", "anything.png");
    assert_eq!(fetch(&app.http, &other, &[]).await.2, image);
    // An unknown or malformed id is a JSON 404.
    for path in [
        "/files/00000000-0000-4000-8000-000000000000/x.png".to_owned(),
        "/files/not-an-id/x.png".to_owned(),
    ] {
        let r = app.call(Method::GET, &path, None, None).await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.error()["title"], "File not found");
    }
    // A name given in the form wins over the part's; without either the file is named by id.
    let r = upload(
        &app,
        &admin,
        &[
            text_part("file_name", "Shirt – front.png"),
            file_part("upload.bin", &image),
            text_part("public", "false"),
        ],
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"]["file_name"], "Shirt – front.png");
    assert_eq!(r.body["data"]["public"], false);
    let r = upload(
        &app,
        &admin,
        &[Part {
            name: "file",
            file_name: None,
            content_type: None,
            bytes: PDF,
        }],
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body["data"]["file_name"],
        format!("{}.pdf", str_of(&r.body["data"], "id"))
    );
}

async fn file_locations_store_no_bytes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let url = "https://cdn.example.com/images/shirt.JPG?v=2";
    let r = upload(&app, &admin, &[text_part("file_location", url)]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let f = &r.body["data"];
    assert_eq!(f["link"]["href"], url, "the file is where it was said to be");
    assert_eq!(f["file_name"], "shirt.JPG");
    assert_eq!(f["mime_type"], "image/jpeg", "from the URL's extension");
    assert!(
        f.get("file_size").is_none() && f["meta"].get("dimensions").is_none(),
        "{f}"
    );
    let id = str_of(f, "id");
    let r = app
        .call(Method::GET, &format!("/files/{id}/shirt.JPG"), None, None)
        .await;
    assert_eq!(r.status, 404, "kassa holds no bytes for it");
    let r = upload(
        &app,
        &admin,
        &[
            text_part("file_location", "https://example.com/download"),
            text_part("file_name", "Spec sheet"),
        ],
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"]["file_name"], "Spec sheet");
    assert_eq!(r.body["data"]["mime_type"], "application/octet-stream");

    let image = png(1, 1);
    let cases: Vec<(Vec<Part<'_>>, &str)> = vec![
        (
            vec![text_part("file_location", "@/path/to/file.jpg")],
            "file_location",
        ),
        (
            vec![text_part("file_location", "ftp://example.com/a.png")],
            "file_location",
        ),
        (
            vec![text_part("file_location", "https://exa mple.com/a.png")],
            "file_location",
        ),
        (
            vec![text_part("file_location", url), file_part("a.png", &image)],
            "file_location",
        ),
    ];
    for (parts, source) in cases {
        let r = upload(&app, &admin, &parts).await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(first_source(&r), source, "{}", r.body);
    }
    assert_eq!(file_total(&app, &admin).await, 2, "nothing else was stored");
}

async fn listing_filters_and_pages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let small = uploaded(&app, &admin, "small.png", &png(2, 2)).await;
    let wide = uploaded(&app, &admin, "wide.png", &png(300, 2)).await;
    let tall = uploaded(&app, &admin, "tall.jpg", &jpeg(10, 900)).await;
    let pdf = uploaded(&app, &admin, "manual.pdf", PDF).await;
    let ids = |r: &Resp| -> Vec<String> {
        r.body["data"]
            .as_array()
            .unwrap_or_else(|| panic!("{}", r.body))
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let id = |f: &Value| str_of(f, "id").to_owned();

    let r = app.get("/v2/files", &admin).await;
    assert_eq!(
        ids(&r),
        vec![id(&small), id(&wide), id(&tall), id(&pdf)],
        "oldest first"
    );
    assert_eq!(r.body["meta"]["results"]["total"], 4);
    assert_eq!(r.body["data"][0], small, "the listed object is the file");

    let cases: Vec<(String, Vec<String>)> = vec![
        (
            format!("in(id,{},{})", id(&tall), id(&small)),
            vec![id(&small), id(&tall)],
        ),
        (format!("eq(id,{})", id(&pdf)), vec![id(&pdf)]),
        ("eq(file_name,wide.png)".into(), vec![id(&wide)]),
        ("like(file_name,*.png)".into(), vec![id(&small), id(&wide)]),
        ("gt(width,100)".into(), vec![id(&wide)]),
        ("ge(height,2):lt(height,3)".into(), vec![id(&small), id(&wide)]),
        ("lt(file_size,100)".into(), vec![id(&small), id(&tall), id(&pdf)]),
        ("gt(file_size,1000)".into(), vec![id(&wide)]),
        ("in(id,00000000-0000-4000-8000-000000000000)".into(), vec![]),
    ];
    for (filter, expected) in cases {
        let r = app.get(&format!("/v2/files?filter={filter}"), &admin).await;
        assert_eq!(r.status, 200, "{filter}: {}", r.body);
        assert_eq!(ids(&r), expected, "{filter}");
    }
    // Paging like every listing.
    let r = app.get("/v2/files?page[limit]=3&page[offset]=3", &admin).await;
    assert_eq!(ids(&r), vec![id(&pdf)]);
    assert_eq!(
        r.body["meta"]["page"],
        json!({"limit": 3, "offset": 3, "current": 2, "total": 2})
    );
    assert!(r.body["links"]["prev"].is_string() && r.body["links"]["next"].is_null());

    for (query, source) in [
        ("filter=in(id,not-an-id)", "filter"),
        ("filter=eq(mime_type,image/png)", "filter"),
        ("filter=eq(width,2)", "filter"),
        ("filter=gt(width,wide)", "filter"),
        ("page[limit]=0", "page[limit]"),
    ] {
        let r = app.get(&format!("/v2/files?{query}"), &admin).await;
        assert_eq!(r.status, 400, "{query}: {}", r.body);
        assert_eq!(first_source(&r), source, "{query}");
    }
}

async fn deleting_a_file_removes_its_content(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let image = png(4, 4);
    let f = uploaded(&app, &admin, "gone.png", &image).await;
    let keep = uploaded(&app, &admin, "kept.png", &image).await;
    let id = str_of(&f, "id");
    let href = str_of(&f["link"], "href");
    let product = fixtures::create(
        &app,
        &admin,
        "/pcm/products",
        json!({"data": {"type": "product", "attributes": {"name": "P", "commodity_type": "physical"}}}),
    )
    .await;
    let r = app
        .post(
            &format!("/pcm/products/{product}/relationships/main_image"),
            &admin,
            json!({"data": {"type": "file", "id": id}}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = app
        .post(
            &format!("/pcm/products/{product}/relationships/files"),
            &admin,
            json!({"data": [{"type": "file", "id": id}, {"type": "file", "id": keep["id"]}]}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);

    let r = app.delete(&format!("/v2/files/{id}"), &admin).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(app.get(&format!("/v2/files/{id}"), &admin).await.status, 404);
    let (status, _, _) = fetch(&app.http, href, &[]).await;
    assert_eq!(status, 404, "the content is gone");
    let r = app.delete(&format!("/v2/files/{id}"), &admin).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error()["title"], "File not found");
    // The product no longer shows it; the other file stays.
    let p = app.get(&format!("/pcm/products/{product}"), &admin).await;
    assert_eq!(p.body["data"]["relationships"]["main_image"]["data"], Value::Null);
    assert_eq!(
        p.body["data"]["relationships"]["files"]["data"],
        json!([{"type": "file", "id": keep["id"]}])
    );
    assert_eq!(
        fetch(&app.http, str_of(&keep["link"], "href"), &[]).await.2,
        image
    );
}

async fn oversized_uploads_are_413_and_store_nothing(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        Options {
            max_file_bytes: 4096,
            ..Options::default()
        },
    )
    .await;
    let admin = app.admin_token().await;
    // Exactly at the limit is accepted.
    let mut exact = png(2, 2);
    exact.resize(4096, 0);
    let r = upload(&app, &admin, &[file_part("exact.png", &exact)]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["data"]["file_size"], 4096);
    // One byte more is refused, whether the body is small enough overall or not.
    let mut over = exact.clone();
    over.push(0);
    let r = upload(&app, &admin, &[file_part("over.png", &over)]).await;
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(first_source(&r), "file");
    assert!(
        r.error()["detail"].as_str().unwrap().contains("4096"),
        "{}",
        r.body
    );
    let mut huge = png(2, 2);
    huge.resize(200_000, 0);
    let r = upload(&app, &admin, &[file_part("huge.png", &huge)]).await;
    assert_eq!(r.status, 413, "refused from Content-Length: {}", r.body);
    assert_eq!(first_source(&r), "file");
    // Refused before its body was read: the client is told not to reuse the connection.
    assert_eq!(r.headers["connection"], "close");
    // A chunked body (no Content-Length) is cut off while it streams.
    let (status, body) = chunked_upload(&app, &admin, form(&[file_part("huge.png", &huge)])).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["errors"][0]["source"], "file", "{body}");
    assert_eq!(
        file_total(&app, &admin).await,
        1,
        "only the file at the limit was stored"
    );
}

/// `POST /v2/files` with `Transfer-Encoding: chunked`, over a plain socket.
async fn chunked_upload(app: &TestApp, token: &str, body: Vec<u8>) -> (u16, Value) {
    let addr = app.url.trim_start_matches("http://").to_owned();
    let token = token.to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        let head = format!(
            "POST /v2/files HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nTransfer-Encoding: chunked\r\n\
             Connection: close\r\n\r\n"
        );
        s.write_all(head.as_bytes()).unwrap();
        // The server may answer and stop reading before the end: write errors are expected then.
        for chunk in body.chunks(8192) {
            if s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).is_err()
                || s.write_all(chunk).is_err()
                || s.write_all(b"\r\n").is_err()
            {
                break;
            }
        }
        let _ = s.write_all(b"0\r\n\r\n");
        let mut response = Vec::new();
        let _ = s.read_to_end(&mut response);
        let text = String::from_utf8_lossy(&response).into_owned();
        let status: u16 = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line: {text}"));
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    })
    .await
    .unwrap()
}

async fn uploads_beyond_the_json_limit_are_accepted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    // 3 MiB: three times the JSON body limit, well within the default file limit (10 MiB).
    let big = png(1024, 1024);
    assert!(big.len() > 3 * 1024 * 1024);
    let f = uploaded(&app, &admin, "big.png", &big).await;
    assert_eq!(f["meta"]["dimensions"], json!({"width": 1024, "height": 1024}));
    let (status, _, body) = fetch(&app.http, str_of(&f["link"], "href"), &[]).await;
    assert_eq!(status, 200);
    assert!(body == big, "served byte for byte");
    // The JSON endpoints keep their 1 MiB limit.
    let r = app
        .post(
            "/pcm/products",
            &admin,
            json!({"data": {"type": "product", "attributes": {"name": "x".repeat(2 * 1024 * 1024)}}}),
        )
        .await;
    assert_eq!(r.status, 413);
}

async fn wrong_types_and_bad_forms_are_400_and_store_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let image = png(2, 2);
    let text = b"I am a text file, whatever my name says".as_slice();
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#.as_slice();
    let cases: Vec<(Vec<Part<'_>>, &str, &str)> = vec![
        (
            vec![Part {
                name: "file",
                file_name: Some("photo.png"),
                content_type: Some("image/png"),
                bytes: text,
            }],
            "file",
            "a text file named .png with an image content type",
        ),
        (vec![file_part("logo.svg", svg)], "file", "SVG is not accepted"),
        (
            vec![file_part("cut.png", &image[..20])],
            "file",
            "a PNG whose header is cut",
        ),
        (vec![file_part("empty.png", b"")], "file", "an empty file"),
        (vec![], "file", "no file at all"),
        (vec![text_part("public", "true")], "file", "no file, only public"),
        (
            vec![file_part("a.png", &image), text_part("public", "yes")],
            "public",
            "public not a boolean",
        ),
        (
            vec![file_part("a.png", &image), text_part("file_name", "dir/a.png")],
            "file_name",
            "a path as a name",
        ),
        (
            vec![file_part("a.png", &image), text_part("file_name", "")],
            "file_name",
            "an empty name",
        ),
        (
            vec![file_part("a.png", &image), file_part("b.png", &image)],
            "file",
            "two files",
        ),
        (
            vec![file_part("a.png", &image), text_part("description", "x")],
            "description",
            "a field kassa does not take",
        ),
    ];
    for (parts, source, why) in cases {
        let r = upload(&app, &admin, &parts).await;
        assert_eq!(r.status, 400, "{why}: {}", r.body);
        assert_eq!(first_source(&r), source, "{why}: {}", r.body);
    }
    // Every problem of a form at once.
    let r = upload(
        &app,
        &admin,
        &[
            file_part("photo.png", text),
            text_part("public", "maybe"),
            text_part("file_name", "a/b"),
        ],
    )
    .await;
    assert_eq!(r.status, 400);
    let mut sources: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["source"].as_str().unwrap())
        .collect();
    sources.sort();
    assert_eq!(sources, vec!["file", "file_name", "public"], "{}", r.body);
    // Not a form at all.
    let r = app
        .post(
            "/v2/files",
            &admin,
            json!({"file_location": "https://example.com/a.png"}),
        )
        .await;
    assert_eq!(r.status, 415, "{}", r.body);
    r.error();
    let res = app
        .http
        .post(format!("{}/v2/files", app.url))
        .bearer_auth(&admin)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body("--not-the-boundary\r\ngarbage")
        .send()
        .await
        .unwrap();
    let r = Resp::read(res).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let res = app
        .http
        .post(format!("{}/v2/files", app.url))
        .bearer_auth(&admin)
        .header("content-type", "multipart/form-data")
        .body("x")
        .send()
        .await
        .unwrap();
    let r = Resp::read(res).await;
    assert_eq!(r.status, 400, "no boundary: {}", r.body);
    assert_eq!(file_total(&app, &admin).await, 0, "nothing was stored");
}

async fn implicit_tokens_read_but_do_not_write(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let f = uploaded(&app, &admin, "a.png", &png(2, 2)).await;
    let id = str_of(&f, "id");
    let r = app.get(&format!("/v2/files?filter=in(id,{id})"), &shopper).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"][0], f);
    let r = app.get(&format!("/v2/files/{id}"), &shopper).await;
    assert_eq!(r.status, 200);

    let r = upload(&app, &shopper, &[file_part("b.png", &png(2, 2))]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = app.delete(&format!("/v2/files/{id}"), &shopper).await;
    assert_eq!(r.status, 403, "{}", r.body);
    for (method, path) in [
        (Method::GET, "/v2/files".to_owned()),
        (Method::GET, format!("/v2/files/{id}")),
    ] {
        let r = app.call(method, &path, None, None).await;
        assert_eq!(r.status, 401, "{path} needs a token");
    }
    let r = upload(&app, "not-a-token", &[file_part("b.png", &png(2, 2))]).await;
    assert_eq!(r.status, 401);
    // The content needs none.
    let (status, _, _) = fetch(&app.http, str_of(&f["link"], "href"), &[]).await;
    assert_eq!(status, 200);
    // A shopper cannot touch products' pictures either.
    let product = fixtures::create(
        &app,
        &admin,
        "/pcm/products",
        json!({"data": {"type": "product", "attributes": {"name": "P", "commodity_type": "physical"}}}),
    )
    .await;
    let r = app
        .post(
            &format!("/pcm/products/{product}/relationships/main_image"),
            &shopper,
            json!({"data": {"type": "file", "id": id}}),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(file_total(&app, &admin).await, 1);
}

async fn relationships_of(app: &TestApp, admin: &str, product: &str) -> Value {
    let r = app.get(&format!("/pcm/products/{product}"), admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["data"]["relationships"].clone()
}

async fn product_main_image_and_files(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let [a, b, c]: [String; 3] = [
        uploaded(&app, &admin, "a.png", &png(2, 2)).await,
        uploaded(&app, &admin, "b.png", &png(3, 3)).await,
        uploaded(&app, &admin, "c.pdf", PDF).await,
    ]
    .map(|f| str_of(&f, "id").to_owned());
    let product = fixtures::create(
        &app,
        &admin,
        "/pcm/products",
        json!({"data": {"type": "product", "attributes": {"name": "P", "commodity_type": "physical"}}}),
    )
    .await;
    let main = format!("/pcm/products/{product}/relationships/main_image");
    let files = format!("/pcm/products/{product}/relationships/files");
    let relationships = |_: &TestApp| relationships_of(&app, &admin, &product);
    let refs = |ids: &[&String]| {
        json!(
            ids.iter()
                .map(|id| json!({"type": "file", "id": id}))
                .collect::<Vec<_>>()
        )
    };

    // A new product has neither.
    let rel = relationships(&app).await;
    assert_eq!(rel["main_image"]["data"], Value::Null);
    assert_eq!(rel["files"]["data"], json!([]));
    assert_eq!(rel["files"]["links"]["self"], format!("{}{files}", app.url));
    assert_eq!(app.get(&main, &admin).await.body, json!({"data": []}));

    // Main image: set, read, replace, remove.
    let r = app
        .post(&main, &admin, json!({"data": {"type": "file", "id": a}}))
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(
        relationships(&app).await["main_image"]["data"],
        json!({"type": "file", "id": a})
    );
    assert_eq!(app.get(&main, &admin).await.body, json!({"data": refs(&[&a])}));
    let r = app
        .put(&main, &admin, json!({"data": {"type": "file", "id": b}}))
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(relationships(&app).await["main_image"]["data"]["id"], json!(b));
    let r = app.delete(&main, &admin).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(relationships(&app).await["main_image"]["data"], Value::Null);
    app.post(&main, &admin, json!({"data": {"type": "file", "id": a}}))
        .await;

    // Files: add (in order, each once), remove, replace.
    let steps: Vec<(Method, Value, Vec<&String>)> = vec![
        (Method::POST, refs(&[&a, &b]), vec![&a, &b]),
        (Method::POST, refs(&[&b, &c]), vec![&a, &b, &c]),
        (Method::DELETE, refs(&[&a]), vec![&b, &c]),
        (Method::DELETE, refs(&[&a]), vec![&b, &c]),
        (Method::PUT, refs(&[&c, &a]), vec![&c, &a]),
        (Method::PUT, json!([]), vec![]),
        (Method::POST, refs(&[&b]), vec![&b]),
    ];
    for (method, data, expected) in steps {
        let r = app
            .call(method.clone(), &files, Some(&admin), Some(json!({"data": data})))
            .await;
        assert_eq!(r.status, 204, "{method} {data}: {}", r.body);
        let expected = refs(&expected);
        assert_eq!(
            relationships(&app).await["files"]["data"],
            expected,
            "after {method} {data}"
        );
        assert_eq!(app.get(&files, &admin).await.body["data"], expected);
    }
    assert_eq!(
        relationships(&app).await["main_image"]["data"]["id"],
        json!(a),
        "files leave the main image alone"
    );

    // The product's other attributes are untouched, and an update keeps the pictures.
    let r = app
        .put(
            &format!("/pcm/products/{product}"),
            &admin,
            json!({"data": {"type": "product", "attributes": {"name": "Renamed"}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["attributes"]["name"], "Renamed");
    assert_eq!(
        r.body["data"]["relationships"]["main_image"]["data"]["id"],
        json!(a)
    );
    assert_eq!(r.body["data"]["relationships"]["files"]["data"], refs(&[&b]));
    let listed = app.get("/pcm/products", &admin).await;
    assert_eq!(
        listed.body["data"][0]["relationships"],
        r.body["data"]["relationships"]
    );
}

async fn product_media_bad_input(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let a = str_of(&uploaded(&app, &admin, "a.png", &png(2, 2)).await, "id").to_owned();
    let product = fixtures::create(
        &app,
        &admin,
        "/pcm/products",
        json!({"data": {"type": "product", "attributes": {"name": "P", "commodity_type": "physical"}}}),
    )
    .await;
    let main = format!("/pcm/products/{product}/relationships/main_image");
    let files = format!("/pcm/products/{product}/relationships/files");
    app.post(&files, &admin, json!({"data": [{"type": "file", "id": a}]}))
        .await;
    let unknown = "00000000-0000-4000-8000-00000000beef";
    let cases: Vec<(Method, &String, Value, u16, &str)> = vec![
        (
            Method::POST,
            &main,
            json!({"data": {"type": "file", "id": unknown}}),
            404,
            "data.id",
        ),
        (
            Method::PUT,
            &main,
            json!({"data": {"type": "file", "id": "nope"}}),
            400,
            "data.id",
        ),
        (
            Method::POST,
            &main,
            json!({"data": {"type": "image", "id": a}}),
            400,
            "data.type",
        ),
        (
            Method::POST,
            &main,
            json!({"data": [{"type": "file", "id": a}]}),
            400,
            "data",
        ),
        (Method::POST, &main, json!({}), 400, "data"),
        (
            Method::POST,
            &files,
            json!({"data": [{"type": "file", "id": a}, {"type": "file", "id": unknown}]}),
            404,
            "data[1].id",
        ),
        (
            Method::PUT,
            &files,
            json!({"data": [{"type": "file", "id": unknown}]}),
            404,
            "data[0].id",
        ),
        (
            Method::POST,
            &files,
            json!({"data": {"type": "file", "id": a}}),
            400,
            "data",
        ),
        (
            Method::POST,
            &files,
            json!({"data": [{"type": "file", "id": a, "meta": {"tags": ["front"]}}]}),
            400,
            "data[0].meta.tags",
        ),
        (
            Method::DELETE,
            &files,
            json!({"data": [{"type": "node", "id": a}]}),
            400,
            "data[0].type",
        ),
    ];
    for (method, path, body, status, source) in cases {
        let r = app
            .call(method.clone(), path, Some(&admin), Some(body.clone()))
            .await;
        assert_eq!(r.status.as_u16(), status, "{method} {path} {body}: {}", r.body);
        assert_eq!(first_source(&r), source, "{method} {body}");
        assert!(
            r.body["errors"][0]["status"].is_string(),
            "PCM writes string statuses"
        );
        if status == 404 {
            assert_eq!(r.error()["title"], "File not found");
        }
    }
    // Nothing changed.
    let p = app.get(&format!("/pcm/products/{product}"), &admin).await;
    assert_eq!(p.body["data"]["relationships"]["main_image"]["data"], Value::Null);
    assert_eq!(
        p.body["data"]["relationships"]["files"]["data"],
        json!([{"type": "file", "id": a}])
    );

    // Over the limit of files per product: nothing changes.
    let many: Vec<Value> = (0..101).map(|_| json!({"type": "file", "id": a})).collect();
    let r = app.post(&files, &admin, json!({"data": many})).await;
    assert_eq!(r.status, 400);
    assert_eq!(first_source(&r), "data");

    // An unknown or malformed product is a 404, whatever the body.
    for product in [unknown, "not-an-id"] {
        for (method, path) in [
            (
                Method::POST,
                format!("/pcm/products/{product}/relationships/main_image"),
            ),
            (
                Method::GET,
                format!("/pcm/products/{product}/relationships/main_image"),
            ),
            (
                Method::DELETE,
                format!("/pcm/products/{product}/relationships/main_image"),
            ),
            (
                Method::GET,
                format!("/pcm/products/{product}/relationships/files"),
            ),
        ] {
            let r = app
                .call(
                    method.clone(),
                    &path,
                    Some(&admin),
                    Some(json!({"data": {"type": "file", "id": a}})),
                )
                .await;
            assert_eq!(r.status, 404, "{method} {path}: {}", r.body);
            assert_eq!(r.error()["title"], "Product not found");
        }
        let r = app
            .put(
                &format!("/pcm/products/{product}/relationships/files"),
                &admin,
                json!({"data": [{"type": "file", "id": a}]}),
            )
            .await;
        assert_eq!(r.status, 404, "{}", r.body);
        assert_eq!(r.error()["title"], "Product not found");
    }
    // Relationships kassa does not build still say so.
    let r = app
        .post(
            &format!("/pcm/products/{product}/relationships/templates"),
            &admin,
            json!({"data": []}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error()["title"], "Not Supported");
}

/// Parallel attachments to one product each start from the last: none is lost.
async fn parallel_file_attachments_are_all_kept(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(
            str_of(
                &uploaded(&app, &admin, &format!("{i}.png"), &png(1, 1)).await,
                "id",
            )
            .to_owned(),
        );
    }
    let product = fixtures::create(
        &app,
        &admin,
        "/pcm/products",
        json!({"data": {"type": "product", "attributes": {"name": "P", "commodity_type": "physical"}}}),
    )
    .await;
    let files = format!("/pcm/products/{product}/relationships/files");
    let adds = ids
        .iter()
        .map(|id| app.post(&files, &admin, json!({"data": [{"type": "file", "id": id}]})));
    for r in futures_util::future::join_all(adds).await {
        assert_eq!(r.status, 204, "{}", r.body);
    }
    let r = app.get(&files, &admin).await;
    let mut got: Vec<String> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect();
    got.sort();
    ids.sort();
    assert_eq!(got, ids, "every parallel attachment is kept");
}

/// Two server processes on one PostgreSQL serve each other's uploads: the bytes are in the
/// database, not on a node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_postgres_serve_each_others_uploads() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let node = app.second_node().await;
    let admin = app.admin_token().await;
    let image = png(5, 4);
    let f = uploaded(&app, &admin, "shared.png", &image).await;
    let id = str_of(&f, "id");
    let path = format!("/files/{id}/shared.png");
    let (status, headers, body) = fetch(&app.http, &format!("{}{path}", node.url), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body, image);
    assert_eq!(header(&headers, "content-type"), "image/png");
    // And the other way round, with the same node's token.
    let r = upload_to(&node.url, &app.http, &admin, &[file_part("other.pdf", PDF)]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let other = str_of(&r.body["data"], "id");
    let (status, _, body) = fetch(&app.http, &format!("{}/files/{other}/other.pdf", app.url), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body, PDF);
    // A delete on one node is seen by the other at once.
    let r = app
        .http
        .delete(format!("{}/v2/files/{id}", node.url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(fetch(&app.http, &format!("{}{path}", app.url), &[]).await.0, 404);
}

async fn set_main(app: &TestApp, admin: &str, product: &str, file: &Value) -> StatusCode {
    app.post(
        &format!("/pcm/products/{product}/relationships/main_image"),
        admin,
        json!({"data": {"type": "file", "id": file["id"]}}),
    )
    .await
    .status
}

/// The shopper catalog renders a release's images from the release: `relationships`, and
/// `included.main_images` / `included.files` as `include` asks, with hrefs that serve the bytes.
async fn published_products_show_their_images(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let front_png = png(6, 4);
    let back_png = png(4, 6);
    let front = uploaded(&app, &admin, "front.png", &front_png).await;
    let back = uploaded(&app, &admin, "back.png", &back_png).await;
    let manual = uploaded(&app, &admin, "manual.pdf", PDF).await;
    let hidden = uploaded(&app, &admin, "draft.png", &png(1, 1)).await;
    let later = uploaded(&app, &admin, "later.png", &png(2, 1)).await;
    let fid = |f: &Value| str_of(f, "id").to_owned();

    let node = fixtures::hierarchy(&app, &admin, "Shirts").await;
    let shirt = fixtures::product(&app, &admin, &node, "Shirt", "SHIRT", "live").await;
    let hoodie = fixtures::product(&app, &admin, &node, "Hoodie", "HOODIE", "live").await;
    let plain = fixtures::product(&app, &admin, &node, "Plain", "PLAIN", "live").await;
    let draft = fixtures::product(&app, &admin, &node, "Draft", "DRAFT", "draft").await;
    for (product, file) in [(&shirt, &front), (&hoodie, &back), (&draft, &hidden)] {
        assert_eq!(set_main(&app, &admin, product, file).await, 204);
    }
    let r = app
        .post(
            &format!("/pcm/products/{shirt}/relationships/files"),
            &admin,
            json!({"data": [{"type": "file", "id": manual["id"]}, {"type": "file", "id": back["id"]}]}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let book = fixtures::pricebook(&app, &admin, "Prices").await;
    fixtures::price(&app, &admin, &book, "SHIRT", fixtures::usd(2000)).await;
    let catalog = fixtures::published_catalog(&app, &admin, "Store", &node.0, &book).await;
    // Changed after the publish: shoppers see it only with the next release.
    assert_eq!(set_main(&app, &admin, &plain, &later).await, 204);

    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap_or_else(|| panic!("not a list: {v}"))
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let by_id = |r: &Resp, id: &str| -> Value {
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no product {id}: {}", r.body))
    };

    // The featured-products call: main images only.
    let r = app.get("/catalog/products?include=main_image", &shopper).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        ids(&r.body["included"]["main_images"]),
        vec![fid(&front), fid(&back)]
    );
    assert!(
        r.body["included"].get("files").is_none(),
        "{}",
        r.body["included"]
    );
    assert_eq!(
        by_id(&r, &shirt)["relationships"]["main_image"]["data"],
        json!({"type": "main_image", "id": front["id"]})
    );
    assert_eq!(
        by_id(&r, &hoodie)["relationships"]["main_image"]["data"]["id"],
        back["id"]
    );
    assert!(
        by_id(&r, &plain).get("relationships").is_none(),
        "the image set after the publish is not in this release"
    );
    // Each included image is the file, with an href that serves its bytes.
    let listed = app.get(&format!("/v2/files/{}", fid(&front)), &admin).await;
    assert_eq!(r.body["included"]["main_images"][0], listed.body["data"]);
    for (image, bytes) in [
        (&r.body["included"]["main_images"][0], &front_png),
        (&r.body["included"]["main_images"][1], &back_png),
    ] {
        let (status, headers, body) = fetch(&app.http, str_of(&image["link"], "href"), &[]).await;
        assert_eq!(status, 200);
        assert_eq!(header(&headers, "content-type"), "image/png");
        assert!(&body == bytes);
    }

    // The product page: by slug, with everything.
    let r = app
        .get(
            "/catalog/products?filter=eq(slug,shirt)&include=main_image,files,component_products",
            &shopper,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ids(&r.body["data"]), vec![shirt.clone()]);
    assert_eq!(ids(&r.body["included"]["main_images"]), vec![fid(&front)]);
    assert_eq!(
        ids(&r.body["included"]["files"]),
        vec![fid(&manual), fid(&back)],
        "in the product's order"
    );
    assert_eq!(r.body["included"]["component_products"], json!([]));
    let files_rel = &r.body["data"][0]["relationships"]["files"]["data"];
    assert_eq!(ids(files_rel), vec![fid(&manual), fid(&back)]);
    assert_eq!(files_rel[0]["type"], "file");
    assert_eq!(
        files_rel[0]["created_at"],
        manual["meta"]["timestamps"]["created_at"]
    );
    let pdf = &r.body["included"]["files"][0];
    assert_eq!(pdf["mime_type"], "application/pdf");
    assert_eq!(fetch(&app.http, str_of(&pdf["link"], "href"), &[]).await.2, PDF);

    // One product.
    let r = app
        .get(
            &format!("/catalog/products/{shirt}?include=main_image,files"),
            &shopper,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ids(&r.body["included"]["main_images"]), vec![fid(&front)]);
    assert_eq!(ids(&r.body["included"]["files"]), vec![fid(&manual), fid(&back)]);
    let r = app
        .get(
            &format!("/catalog/products/{hoodie}?include=main_image"),
            &shopper,
        )
        .await;
    assert_eq!(ids(&r.body["included"]["main_images"]), vec![fid(&back)]);
    let r = app
        .get(
            &format!("/catalog/products/{plain}?include=main_image,files"),
            &shopper,
        )
        .await;
    assert_eq!(r.body["included"], json!({"main_images": [], "files": []}));

    // Without include (or with values kassa does not know) there is no `included`; the
    // relationships are there either way.
    for query in ["", "?include=unknown_thing"] {
        let r = app.get(&format!("/catalog/products{query}"), &shopper).await;
        assert_eq!(r.status, 200, "{query}: {}", r.body);
        assert!(r.body.get("included").is_none(), "{query}: {}", r.body);
        assert_eq!(
            by_id(&r, &shirt)["relationships"]["main_image"]["data"]["id"],
            front["id"]
        );
    }

    // The node's and the hierarchy's product listings share the renderer.
    for path in [
        format!(
            "/catalog/nodes/{}/relationships/products?include=main_image",
            node.1
        ),
        format!("/catalog/hierarchies/{}/products?include=main_image", node.0),
    ] {
        let r = app.get(&path, &shopper).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(
            ids(&r.body["included"]["main_images"]),
            vec![fid(&front), fid(&back)],
            "{path}"
        );
    }
    // Paging: only the page's products' images.
    let r = app
        .get(
            "/catalog/products?include=main_image&page[limit]=1&page[offset]=1",
            &shopper,
        )
        .await;
    assert_eq!(ids(&r.body["data"]), vec![hoodie.clone()]);
    assert_eq!(ids(&r.body["included"]["main_images"]), vec![fid(&back)]);
    // The draft's image was never published.
    let all = app
        .get("/catalog/products?include=main_image,files", &shopper)
        .await;
    assert!(!all.body["included"].to_string().contains(&fid(&hidden)));

    // The next publish carries the image set meanwhile.
    fixtures::publish(&app, &admin, &catalog).await;
    let r = app
        .get(&format!("/catalog/products/{plain}?include=main_image"), &shopper)
        .await;
    assert_eq!(ids(&r.body["included"]["main_images"]), vec![fid(&later)]);
}

/// A product line carries its product's main image as published (`image.href` serves the bytes);
/// a product without one and a custom item have empty strings, as Elastic Path's custom items.
async fn cart_lines_show_their_products_main_image(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let shopper = app.implicit_token().await;
    let picture = png(3, 2);
    let front = uploaded(&app, &admin, "front.png", &picture).await;
    let node = fixtures::hierarchy(&app, &admin, "Shirts").await;
    let shirt = fixtures::product(&app, &admin, &node, "Shirt", "SHIRT", "live").await;
    let plain = fixtures::product(&app, &admin, &node, "Plain", "PLAIN", "live").await;
    assert_eq!(set_main(&app, &admin, &shirt, &front).await, 204);
    let book = fixtures::pricebook(&app, &admin, "Prices").await;
    for sku in ["SHIRT", "PLAIN"] {
        fixtures::price(&app, &admin, &book, sku, fixtures::usd(2000)).await;
    }
    fixtures::published_catalog(&app, &admin, "Store", &node.0, &book).await;

    let r = app
        .post(
            "/v2/carts/pictures/items",
            &shopper,
            json!({"data": [{"type": "cart_item", "id": shirt, "quantity": 1},
                            {"type": "cart_item", "id": plain, "quantity": 1},
                            {"type": "custom_item", "name": "Wrap", "sku": "WRAP", "quantity": 1, "price": {"amount": 100}}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = app.get("/v2/carts/pictures/items", &shopper).await;
    let line = |sku: &str| -> Value {
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["sku"] == sku)
            .cloned()
            .unwrap_or_else(|| panic!("no {sku}: {}", r.body))
    };
    let image = line("SHIRT")["image"].clone();
    assert_eq!(image["file_name"], "front.png");
    assert_eq!(image["mime_type"], "image/png");
    assert_eq!(image["href"], front["link"]["href"]);
    let (status, headers, body) = fetch(&app.http, str_of(&image, "href"), &[]).await;
    assert_eq!(
        (status.as_u16(), header(&headers, "content-type")),
        (200, "image/png")
    );
    assert!(body == picture);
    let empty = json!({"file_name": "", "href": "", "mime_type": ""});
    assert_eq!(line("PLAIN")["image"], empty);
    assert_eq!(line("WRAP")["image"], empty);
    let cart = app.get("/v2/carts/pictures?include=items", &shopper).await;
    let included = cart.body["included"]["items"].as_array().unwrap();
    assert!(included.iter().any(|i| i["image"] == image), "{}", cart.body);
}
