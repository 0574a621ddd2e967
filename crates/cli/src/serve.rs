//! `trrg serve`: an HTTP API over a trained run and a one-page web demo.
//!
//! - `GET /`: the page (pick the views, see the report, a bar per disease, the evidence heatmap).
//! - `GET /api/info`: the model (diseases, views, thresholds, image transform).
//! - `POST /api/report`: `multipart/form-data` with one `view` file field per view (PNG, JPEG
//!   or DICOM, in view order) -> `{"report", "clues": [{"disease", "probability", "threshold",
//!   "present"}], "evidence": {"grid", "views", "maps": {disease: [[weight per patch] per
//!   view]}}, "seconds"}`.
//!
//! Bodies over `--max-upload-mb` get 413, bad input 400, both with `{"error": "..."}`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, Result};
use clap::Args;
use serde_json::{json, Value};
use tiny_http::{Header, Method, Request, Response, Server};
use trrg_core::backend::{device, Backend};
use trrg_core::data::decode_gray;
use trrg_core::ReportGenerator;

/// The page, served at `/`.
const PAGE: &str = include_str!("serve/index.html");

/// Arguments of `trrg serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Run directory (or `trrg export` directory) to serve.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Address to listen on. The default is loopback only; give `0.0.0.0:8080` to accept other
    /// machines (there is no authentication).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// Largest request body accepted, in MiB (larger uploads get 413).
    #[arg(long, default_value_t = 32)]
    max_upload_mb: u64,
}

/// A served model and its limits.
pub struct App {
    generator: ReportGenerator<Backend>,
    checkpoint: PathBuf,
    max_body: u64,
}

impl App {
    /// Loads `checkpoint` (a run or an exported directory).
    pub fn load(checkpoint: &Path, max_body: u64) -> Result<Self> {
        Ok(Self {
            generator: ReportGenerator::<Backend>::from_dir(checkpoint, &device()?)?,
            checkpoint: checkpoint.to_path_buf(),
            max_body,
        })
    }

    fn info(&self) -> Value {
        let config = self.generator.config();
        json!({
            // The directory's name only: a served page does not reveal the server's paths.
            "checkpoint": self
                .checkpoint
                .canonicalize()
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "model".into()),
            "views": self.generator.n_views(),
            "diseases": self.generator.disease_names(),
            "thresholds": self.generator.clue_thresholds(),
            "resize": config.image.resize,
            "crop": config.image.crop,
            "max_upload_bytes": self.max_body,
        })
    }

    /// The report, clues and evidence of one study's uploaded views.
    fn report(&self, views: &[(String, Vec<u8>)]) -> std::result::Result<Value, (u16, String)> {
        let start = Instant::now();
        let want = self.generator.n_views();
        if views.len() != want {
            return Err((
                400,
                format!(
                    "the model reads {want} view(s) per study; {} `view` file(s) were sent",
                    views.len()
                ),
            ));
        }
        let images = views
            .iter()
            .map(|(name, bytes)| decode_gray(bytes, Path::new(name), "upload"))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| (400, trrg_core::error_line(&e)))?;
        let internal = |e: trrg_core::GeneratorError| (500, trrg_core::error_line(&e));
        let report = self
            .generator
            .generate_images(std::slice::from_ref(&images))
            .map_err(internal)?
            .remove(0);
        let evidence = self.generator.evidence(&images).map_err(internal)?;
        let thresholds = self.generator.clue_thresholds();
        let decisions = self.generator.clue_decisions(&report);
        let clues: Vec<Value> = report
            .clues
            .iter()
            .enumerate()
            .map(|(i, (disease, p))| {
                json!({
                    "disease": disease,
                    "probability": p,
                    "threshold": thresholds.map(|t| t[i]),
                    "present": decisions.as_ref().map(|on| on[i]),
                })
            })
            .collect();
        let evidence = evidence.map(|e| {
            let maps: serde_json::Map<String, Value> = e
                .per_disease
                .into_iter()
                .map(|(d, maps)| (d, json!(maps)))
                .collect();
            json!({"grid": e.grid, "views": want, "maps": maps})
        });
        Ok(json!({
            "report": report.text,
            "clues": clues,
            "evidence": evidence,
            "seconds": start.elapsed().as_secs_f64(),
        }))
    }

    /// Answers one request.
    pub fn handle(&self, mut request: Request) {
        let path = request.url().split('?').next().unwrap_or("").to_string();
        // HEAD is answered as GET; the server sends no body for it.
        let method = match request.method() {
            Method::Head => Method::Get,
            m => m.clone(),
        };
        let result = match (method, path.as_str()) {
            (Method::Get, "/" | "/index.html") => {
                respond(
                    request,
                    200,
                    "text/html; charset=utf-8",
                    PAGE.as_bytes().to_vec(),
                );
                return;
            }
            (Method::Get, "/api/info") => Ok(self.info()),
            (Method::Post, "/api/report") => self.upload(&mut request),
            (_, "/" | "/index.html" | "/api/info" | "/api/report") => {
                let allow = if path == "/api/report" {
                    "POST"
                } else {
                    "GET, HEAD"
                };
                let body = json!({
                    "error": format!("{} is not allowed on {path} (allowed: {allow})", request.method())
                });
                let allow = Header::from_bytes("Allow", allow).expect("a valid header");
                respond_with(
                    request,
                    405,
                    "application/json",
                    body.to_string().into_bytes(),
                    Some(allow),
                );
                return;
            }
            _ => Err((404, format!("no such page: {path}"))),
        };
        let (status, body) = match result {
            Ok(v) => (200, v),
            Err((status, message)) => (status, json!({"error": message})),
        };
        respond(
            request,
            status,
            "application/json",
            body.to_string().into_bytes(),
        );
    }

    fn upload(&self, request: &mut Request) -> std::result::Result<Value, (u16, String)> {
        let too_large = || {
            (
                413,
                format!(
                    "the upload exceeds the server's limit of {} bytes (--max-upload-mb)",
                    self.max_body
                ),
            )
        };
        if request
            .body_length()
            .is_some_and(|n| n as u64 > self.max_body)
        {
            return Err(too_large());
        }
        let content_type = request
            .headers()
            .iter()
            .find(|h| h.field.equiv("Content-Type"))
            .map(|h| h.value.as_str().to_string())
            .unwrap_or_default();
        let boundary = multipart_boundary(&content_type).ok_or_else(|| {
            (
                400,
                format!(
                    "send multipart/form-data with one `view` file per view (got Content-Type `{content_type}`)"
                ),
            )
        })?;
        let mut body = Vec::new();
        request
            .as_reader()
            .take(self.max_body + 1)
            .read_to_end(&mut body)
            .map_err(|e| (400, format!("cannot read the request body: {e}")))?;
        if body.len() as u64 > self.max_body {
            return Err(too_large());
        }
        let parts = parse_multipart(&body, &boundary).map_err(|e| (400, e))?;
        let views: Vec<(String, Vec<u8>)> = parts
            .into_iter()
            .filter(|p| p.name == "view")
            .map(|p| (p.filename.unwrap_or_else(|| "upload".into()), p.data))
            .collect();
        self.report(&views)
    }
}

fn respond(request: Request, status: u16, content_type: &str, body: Vec<u8>) {
    respond_with(request, status, content_type, body, None);
}

/// [`respond`] with one more header.
fn respond_with(
    request: Request,
    status: u16,
    content_type: &str,
    body: Vec<u8>,
    extra: Option<Header>,
) {
    let header = Header::from_bytes("Content-Type", content_type).expect("a valid header");
    let mut response = Response::from_data(body)
        .with_status_code(status)
        .with_header(header);
    if let Some(extra) = extra {
        response = response.with_header(extra);
    }
    // The client may have gone away; nothing to do then.
    let _ = request.respond(response);
}

/// The `boundary` parameter of a `multipart/form-data` content type.
pub fn multipart_boundary(content_type: &str) -> Option<String> {
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
pub fn parse_multipart(body: &[u8], boundary: &str) -> std::result::Result<Vec<Part>, String> {
    let delimiter = format!("--{boundary}");
    let next = format!("\r\n--{boundary}");
    let bad = |what: &str| format!("malformed multipart body: {what}");
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

/// Runs `trrg serve` until interrupted.
pub fn run(args: ServeArgs) -> Result<()> {
    let app = App::load(&args.checkpoint, args.max_upload_mb.saturating_mul(1 << 20))?;
    let server =
        Server::http(&args.addr).map_err(|e| anyhow!("cannot listen on {}: {e}", args.addr))?;
    let addr = server
        .server_addr()
        .to_ip()
        .map_or_else(|| args.addr.clone(), |a| a.to_string());
    if server
        .server_addr()
        .to_ip()
        .is_some_and(|a| !a.ip().is_loopback())
    {
        log::warn!("listening on {addr}, reachable from other machines, without authentication");
    }
    eprintln!(
        "trrg serve: http://{addr}/  (model {}; POST /api/report; Ctrl-C stops)",
        args.checkpoint.display()
    );
    for request in server.incoming_requests() {
        app.handle(request);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_bodies_split_into_named_parts() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"view\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n--X\r\n--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--XyZ--\r\n";
        let parts = parse_multipart(body, "XyZ").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "view");
        assert_eq!(parts[0].filename.as_deref(), Some("a.png"));
        assert_eq!(parts[0].data, b"\x89PNG\r\n--X");
        assert_eq!(parts[1].data, b"hi");
        for bad in [
            &b"no boundary here"[..],
            b"--XyZ\r\nContent-Disposition: form-data; name=\"v\"\r\n\r\nopen",
        ] {
            assert!(parse_multipart(bad, "XyZ")
                .unwrap_err()
                .contains("malformed"));
        }
        assert_eq!(
            multipart_boundary("multipart/form-data; boundary=\"----abc\""),
            Some("----abc".into())
        );
        assert_eq!(multipart_boundary("application/json"), None);
    }
}
