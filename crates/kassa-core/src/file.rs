//! Files (`/v2/files`): images and documents a store uploads to show with its products. kassa
//! keeps an upload's bytes in its database and serves them itself; a file may instead name a URL
//! where it is kept (`file_location`), and then kassa stores no bytes.
//!
//! What an upload may hold is decided here from its bytes, never from what the client says it is:
//! [`analyze`] sniffs the format from the magic bytes (PNG, JPEG, GIF, WebP, PDF) and reads an
//! image's dimensions from its header.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::query::{self, Condition, FieldKind, FieldSpec, Filter, FilterOp, INT_OPS};
use crate::time::Millis;
use crate::{Error, Result};

/// The default largest upload, in bytes.
pub const DEFAULT_MAX_FILE_BYTES: usize = 10 * 1024 * 1024;
/// The longest file name (characters) and `file_location` (bytes).
pub const MAX_FILE_NAME: usize = 255;
pub const MAX_LOCATION: usize = 2048;
/// A product has at most this many files (its main image aside).
pub const MAX_PRODUCT_FILES: usize = 100;

/// A file's metadata. The bytes of an upload are stored apart (see `FileStore::file_content`),
/// so that nothing but serving the content ever reads them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct File {
    pub id: Uuid,
    pub file_name: String,
    pub mime_type: String,
    /// Bytes of the stored content; `None` for a file kept elsewhere.
    pub file_size: Option<i64>,
    /// Elastic Path's deprecated flag, kept as given: every file's content is served to anyone
    /// holding its link, as Elastic Path's CDN does.
    pub public: bool,
    /// Pixels, for images.
    pub width: Option<i64>,
    pub height: Option<i64>,
    /// Lowercase hex SHA-256 of the content (its `ETag`); `None` for a file kept elsewhere.
    pub sha256: Option<String>,
    /// The URL of a file kept elsewhere (`file_location`); `None` for an upload.
    pub location: Option<String>,
    pub created_at: Millis,
}

/// What serving a file's content needs: its type and hash, and its bytes unless the client
/// already has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileContent {
    pub mime_type: String,
    pub sha256: String,
    /// `None` when the hash was one of those the caller said the client has.
    pub bytes: Option<Vec<u8>>,
}

/// The formats kassa accepts, by magic bytes: `(mime type, extension)`.
pub const ACCEPTED: &[(&str, &str)] = &[
    ("image/png", "png"),
    ("image/jpeg", "jpg"),
    ("image/gif", "gif"),
    ("image/webp", "webp"),
    ("application/pdf", "pdf"),
];

/// The content types kassa serves, as [`ACCEPTED`] lists them.
pub const ACCEPTED_TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
];

/// The format of `bytes` from its magic bytes, if it is one kassa accepts.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    let mime = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "image/jpeg"
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        "image/gif"
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        "image/webp"
    } else if bytes.starts_with(b"%PDF-") {
        "application/pdf"
    } else {
        return None;
    };
    Some(mime)
}

/// The extension kassa gives a file of this type when it has to name it.
pub fn extension(mime_type: &str) -> Option<&'static str> {
    ACCEPTED.iter().find(|(m, _)| *m == mime_type).map(|(_, e)| *e)
}

/// What an upload's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    pub mime_type: &'static str,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub sha256: String,
}

/// Decides whether `bytes` may be stored, as what. Refusals name the form field `file`.
pub fn analyze(bytes: &[u8]) -> Result<Analysis> {
    if bytes.is_empty() {
        return Err(Error::field("file", "Validation Failed", "The file is empty"));
    }
    let Some(mime_type) = sniff(bytes) else {
        let accepted: Vec<&str> = ACCEPTED.iter().map(|(_, e)| *e).collect();
        return Err(Error::field(
            "file",
            "Unsupported file type",
            format!(
                "The file's content is not a type this server stores ({}); the type is read from the content, not the name",
                accepted.join(", ")
            ),
        ));
    };
    let (width, height) = if mime_type.starts_with("image/") {
        let size = imagesize::blob_size(bytes).map_err(|_| {
            Error::field(
                "file",
                "Unsupported file type",
                format!("The file starts like {mime_type} but its image header cannot be read"),
            )
        })?;
        let px = |n: usize| i64::try_from(n).ok();
        match (px(size.width), px(size.height)) {
            (Some(w), Some(h)) if w > 0 && h > 0 => (Some(w), Some(h)),
            _ => {
                return Err(Error::field(
                    "file",
                    "Unsupported file type",
                    "The image has no width or height",
                ));
            }
        }
    } else {
        (None, None)
    };
    Ok(Analysis {
        mime_type,
        width,
        height,
        sha256: sha256_hex(bytes),
    })
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

/// Checks a file name: 1–255 characters, no control characters and no path separators (it
/// ends the content's URL). `source` names the field in the error.
pub fn check_file_name(name: &str, source: &str) -> Result<()> {
    let problem = if name.trim().is_empty() {
        Some("file_name must not be empty".to_owned())
    } else if name.chars().count() > MAX_FILE_NAME {
        Some(format!("file_name must be at most {MAX_FILE_NAME} characters"))
    } else if name.chars().any(|c| c.is_control() || c == '/' || c == '\\') {
        Some("file_name may not contain control characters, / or \\".to_owned())
    } else {
        None
    };
    match problem {
        Some(detail) => Err(Error::field(source, "Validation Failed", detail)),
        None => Ok(()),
    }
}

/// The name a multipart part's own file name gives: its last path segment (some browsers send
/// a whole path), or `None` if nothing usable is left.
pub fn part_file_name(raw: &str) -> Option<String> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    check_file_name(base, "file").ok().map(|()| base.to_owned())
}

/// A `file_location`: an absolute `http`/`https` URL without spaces or control characters.
/// Returns the name its path ends with and the type its extension suggests.
pub fn check_location(url: &str) -> Result<(Option<String>, String)> {
    let invalid = |detail: String| Error::field("file_location", "file_location invalid", detail);
    if url.len() > MAX_LOCATION {
        return Err(invalid(format!(
            "file_location must be at most {MAX_LOCATION} bytes"
        )));
    }
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| {
            invalid(format!(
                "{url} is not a valid URL: it must start with http:// or https://"
            ))
        })?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(format!("{url} is not a valid URL")));
    }
    let path = rest[host.len()..].split(['?', '#']).next().unwrap_or_default();
    let last = path.rsplit('/').next().unwrap_or_default();
    let name = check_file_name(last, "file_location")
        .ok()
        .map(|()| last.to_owned());
    let ext = last
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let mime = match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    };
    Ok((name, mime.to_owned()))
}

/// `id`, the only field whose operands must be UUIDs.
pub const COLUMN_ID: &str = "id";

/// `GET /v2/files` filters: Elastic Path's table, plus `eq`/`in` on `id` (the reference
/// storefront asks `in(id,…)`).
pub const FILE_FIELDS: &[FieldSpec] = &[
    FieldSpec {
        name: "id",
        column: COLUMN_ID,
        kind: FieldKind::Text,
        ops: &[FilterOp::Eq, FilterOp::In],
    },
    FieldSpec {
        name: "file_name",
        column: "file_name",
        kind: FieldKind::Text,
        ops: &[FilterOp::Eq, FilterOp::Like],
    },
    FieldSpec {
        name: "width",
        column: "width",
        kind: FieldKind::Int,
        ops: INT_OPS,
    },
    FieldSpec {
        name: "height",
        column: "height",
        kind: FieldKind::Int,
        ops: INT_OPS,
    },
    FieldSpec {
        name: "file_size",
        column: "file_size",
        kind: FieldKind::Int,
        ops: INT_OPS,
    },
];

/// Checks `GET /v2/files` filters and types their operands; an `id` that is not a UUID is a 400.
pub fn file_conditions(filters: &[Filter]) -> Result<Vec<Condition>> {
    let conditions = query::conditions(filters, FILE_FIELDS)?;
    for f in filters.iter().filter(|f| f.field == "id") {
        if let Some(bad) = f.values.iter().find(|v| Uuid::parse_str(v.trim()).is_err()) {
            return Err(Error::field(
                "filter",
                "Bad Request",
                format!("'{bad}' is not a valid value for the filter field id: ids are UUIDs"),
            ));
        }
    }
    Ok(conditions)
}

/// How a write changes a product's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilesChange {
    /// Adds files after those the product has; one it has already stays where it is.
    Add,
    /// The product's files become exactly these, in this order.
    Replace,
    /// Takes these files off the product; one it does not have is no change.
    Remove,
}

/// The outcome of a change to a product's main image or files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaChange {
    Done,
    NoProduct,
    /// This file does not exist; nothing changed.
    NoFile(Uuid),
    /// The product would have more than [`MAX_PRODUCT_FILES`] files; nothing changed.
    TooManyFiles,
}

/// The files a product has after `change` with `files`, from what it has now, each once.
pub fn changed_files(current: &[Uuid], change: FilesChange, files: &[Uuid]) -> Vec<Uuid> {
    let mut out: Vec<Uuid> = match change {
        FilesChange::Add => current.iter().chain(files).copied().collect(),
        FilesChange::Replace => files.to_vec(),
        FilesChange::Remove => current.iter().filter(|f| !files.contains(f)).copied().collect(),
    };
    let mut seen = std::collections::HashSet::new();
    out.retain(|f| seen.insert(*f));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The start of a 3×2 PNG: its signature and header chunk.
    pub(crate) const PNG_3X2: &[u8] = &[
        0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n', 0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0, 0, 3,
        0, 0, 0, 2, 8, 6, 0, 0, 0,
    ];

    #[test]
    fn sniffs_formats_from_magic_bytes() {
        let cases: &[(&[u8], Option<&str>)] = &[
            (PNG_3X2, Some("image/png")),
            (&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10], Some("image/jpeg")),
            (b"GIF89a\x01\x00\x01\x00", Some("image/gif")),
            (b"GIF87a\x01\x00\x01\x00", Some("image/gif")),
            (b"RIFF\x24\x00\x00\x00WEBPVP8 ", Some("image/webp")),
            (b"%PDF-1.7\n", Some("application/pdf")),
            (b"RIFF\x24\x00\x00\x00WAVEfmt ", None),
            (b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>", None),
            (b"hello, I am a text file named photo.png", None),
            (b"\x89PNG", None),
            (b"", None),
        ];
        for (bytes, expected) in cases {
            assert_eq!(sniff(bytes), *expected, "{bytes:?}");
        }
    }

    #[test]
    fn accepted_types_agree() {
        let types: Vec<&str> = ACCEPTED.iter().map(|(m, _)| *m).collect();
        assert_eq!(types, ACCEPTED_TYPES);
    }

    #[test]
    fn analysis_reads_dimensions_and_hashes() {
        let a = analyze(PNG_3X2).unwrap();
        assert_eq!(a.mime_type, "image/png");
        assert_eq!((a.width, a.height), (Some(3), Some(2)));
        assert_eq!(a.sha256, sha256_hex(PNG_3X2));
        assert_eq!(a.sha256.len(), 64);
        let pdf = analyze(b"%PDF-1.4\n%%EOF\n").unwrap();
        assert_eq!(
            (pdf.mime_type, pdf.width, pdf.height),
            ("application/pdf", None, None)
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn refusals_name_the_file_field() {
        for bytes in [&b""[..], b"plain text", &PNG_3X2[..12]] {
            let err = analyze(bytes).unwrap_err();
            assert!(
                matches!(&err, Error::Validation(v) if v[0].source == "file"),
                "{bytes:?}: {err:?}"
            );
        }
    }

    #[test]
    fn file_names() {
        for ok in ["photo.png", "Ünïcode name (1).jpg", "a"] {
            assert!(check_file_name(ok, "file_name").is_ok(), "{ok}");
        }
        let long = "x".repeat(256);
        for bad in [
            "",
            "  ",
            "a/b.png",
            "a\\b.png",
            "a\u{0}b",
            "line\nbreak",
            long.as_str(),
        ] {
            assert!(check_file_name(bad, "file_name").is_err(), "{bad:?}");
        }
        assert_eq!(
            part_file_name("C:\\fakepath\\shirt.png").as_deref(),
            Some("shirt.png")
        );
        assert_eq!(part_file_name("dir/shirt.png").as_deref(), Some("shirt.png"));
        assert_eq!(part_file_name("dir/"), None);
    }

    #[test]
    fn locations() {
        assert_eq!(
            check_location("https://cdn.example.com/img/shirt.JPG?w=100#x").unwrap(),
            (Some("shirt.JPG".into()), "image/jpeg".into())
        );
        assert_eq!(
            check_location("http://example.com").unwrap(),
            (None, "application/octet-stream".into())
        );
        assert_eq!(
            check_location("https://example.com/doc.pdf").unwrap().1,
            "application/pdf"
        );
        for bad in [
            "@/path/to/file.jpg",
            "ftp://example.com/a.png",
            "https://",
            "https:///a.png",
            "https://exa mple.com/a.png",
            "javascript:alert(1)",
        ] {
            let err = check_location(bad).unwrap_err();
            assert!(
                matches!(&err, Error::Validation(v) if v[0].source == "file_location"),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn filters() {
        let parse = |s: &str| file_conditions(&query::parse_filter(s).unwrap());
        assert!(
            parse("in(id,00000000-0000-4000-8000-000000000001,00000000-0000-4000-8000-000000000002)").is_ok()
        );
        assert!(parse("eq(file_name,a.png):gt(width,200):le(file_size,20953)").is_ok());
        assert!(parse("in(id,not-a-uuid)").is_err());
        assert!(parse("gt(width,wide)").is_err());
        assert!(
            parse("eq(width,200)").is_err(),
            "EP offers only comparisons on sizes"
        );
        assert!(parse("eq(mime_type,image/png)").is_err());
    }

    #[test]
    fn file_changes() {
        let id = Uuid::from_u128;
        let now = [id(1), id(2)];
        let cases: &[(FilesChange, &[Uuid], &[Uuid])] = &[
            (FilesChange::Add, &[id(3), id(1)], &[id(1), id(2), id(3)]),
            (FilesChange::Add, &[id(3), id(3)], &[id(1), id(2), id(3)]),
            (FilesChange::Replace, &[id(2), id(4), id(2)], &[id(2), id(4)]),
            (FilesChange::Replace, &[], &[]),
            (FilesChange::Remove, &[id(1), id(9)], &[id(2)]),
        ];
        for (change, files, expected) in cases {
            assert_eq!(
                changed_files(&now, *change, files),
                *expected,
                "{change:?} {files:?}"
            );
        }
    }
}
