//! `multipart/form-data` bodies (RFC 7578), as browsers upload files: the boundary of a
//! content type, and a body split into its named parts. The body is untrusted: every error is
//! an [`Error::Multipart`], nothing panics, and the parts are copies of the body's own bytes
//! (fuzzed in `crates/data/tests/fuzz/mod.rs`).

use crate::{Error, Result};

/// The `boundary` parameter of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("boundary"))
            .then(|| v.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty())
    })
}

/// One part of a multipart body.
#[derive(Debug, PartialEq, Eq)]
pub struct Part {
    /// The form field's name.
    pub name: String,
    /// The uploaded file's name, for a file field.
    pub filename: Option<String>,
    /// The content.
    pub data: Vec<u8>,
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// Splits a `multipart/form-data` body (RFC 7578) into its parts.
pub fn parse(body: &[u8], boundary: &str) -> Result<Vec<Part>> {
    let delimiter = format!("--{boundary}");
    let next = format!("\r\n--{boundary}");
    let bad = |what: &'static str| Error::Multipart { what };
    let mut at =
        find(body, delimiter.as_bytes(), 0).ok_or_else(|| bad("no boundary"))? + delimiter.len();
    let mut parts = Vec::new();
    loop {
        if body.get(at..at + 2) == Some(b"--") {
            return Ok(parts);
        }
        if body.get(at..at + 2) != Some(b"\r\n") {
            return Err(bad("a boundary is not followed by a line break"));
        }
        at += 2;
        let head_end =
            find(body, b"\r\n\r\n", at).ok_or_else(|| bad("a part has no header end"))?;
        let head = String::from_utf8_lossy(&body[at..head_end]).to_string();
        let end = find(body, next.as_bytes(), head_end + 4)
            .ok_or_else(|| bad("a part is not closed by the boundary"))?;
        let disposition = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))
            .ok_or_else(|| bad("a part has no Content-Disposition"))?;
        let param = |key: &str| {
            disposition.split(';').find_map(|p| {
                let (k, v) = p.split_once('=')?;
                (k.trim() == key).then(|| v.trim().trim_matches('"').to_string())
            })
        };
        parts.push(Part {
            name: param("name").ok_or_else(|| bad("a part has no field name"))?,
            filename: param("filename"),
            data: body[head_end + 4..end].to_vec(),
        });
        at = end + next.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_bodies_split_into_named_parts() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"view\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n--X\r\n--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--XyZ--\r\n";
        let parts = parse(body, "XyZ").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "view");
        assert_eq!(parts[0].filename.as_deref(), Some("a.png"));
        assert_eq!(parts[0].data, b"\x89PNG\r\n--X");
        assert_eq!(parts[1].data, b"hi");
        for bad in [
            &b"no boundary here"[..],
            b"--XyZ\r\nContent-Disposition: form-data; name=\"v\"\r\n\r\nopen",
        ] {
            assert!(parse(bad, "XyZ")
                .unwrap_err()
                .to_string()
                .contains("malformed"));
        }
        assert_eq!(
            boundary("multipart/form-data; boundary=\"----abc\""),
            Some("----abc".into())
        );
        assert_eq!(boundary("application/json"), None);
    }
}
