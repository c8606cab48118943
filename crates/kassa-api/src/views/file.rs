//! A file, and where its content is served.

use kassa_core::file::File;
use kassa_core::time::rfc3339;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::envelope::Origin;

/// A path segment with everything but unreserved characters percent-encoded.
fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Where the file's content is: the URL it was given, or this server's content route.
pub(crate) fn href(f: &File, origin: &Origin) -> String {
    match &f.location {
        Some(url) => url.clone(),
        None => content_href(f.id, &f.file_name, origin),
    }
}

/// This server's content route for an upload.
pub(crate) fn content_href(id: Uuid, file_name: &str, origin: &Origin) -> String {
    origin.url(&format!("/files/{id}/{}", path_segment(file_name)))
}

/// A file as Elastic Path writes it. `file_size` and `meta.dimensions` are left out where kassa
/// does not know them (a file kept elsewhere; a PDF has no dimensions).
pub(crate) fn render(f: &File, origin: &Origin) -> Value {
    let mut meta = json!({ "timestamps": { "created_at": rfc3339(f.created_at) } });
    if let (Some(width), Some(height)) = (f.width, f.height) {
        meta["dimensions"] = json!({ "width": width, "height": height });
    }
    let mut v = json!({
        "type": "file",
        "id": f.id,
        "file_name": f.file_name,
        "mime_type": f.mime_type,
        "public": f.public,
        "link": { "href": href(f, origin) },
        "meta": meta,
        "links": { "self": origin.url(&format!("/v2/files/{}", f.id)) },
    });
    if let Some(size) = f.file_size {
        v["file_size"] = json!(size);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_path_segments() {
        assert_eq!(path_segment("shirt-1_a.b~c.png"), "shirt-1_a.b~c.png");
        assert_eq!(path_segment("my shirt (1).png"), "my%20shirt%20%281%29.png");
        assert_eq!(path_segment("ü?#/%.jpg"), "%C3%BC%3F%23%2F%25.jpg");
    }
}
