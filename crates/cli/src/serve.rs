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
//!
//! Requests are answered by `--threads` workers. Reading, parsing and decoding an upload happen
//! on its worker; only the model's forward passes take the model's lock, so a large upload never
//! holds up another request while it arrives or decodes.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use anyhow::{anyhow, Result};
use clap::Args;
use serde_json::{json, Value};
use tiny_http::{Header, Method, Request, Response, Server};
use trrg_core::backend::{device, Backend};
use trrg_core::data::decode_gray;
use trrg_core::io::multipart;
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
    /// Requests answered at once. Uploads are read and decoded in parallel; the model itself
    /// writes one report at a time.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    threads: u16,
}

/// A served model and its limits.
pub struct App {
    /// Taken for the model's forward passes only.
    generator: Mutex<ReportGenerator<Backend>>,
    /// `/api/info`'s answer, fixed at load.
    info: Value,
    n_views: usize,
    max_body: u64,
}

impl App {
    /// Loads `checkpoint` (a run or an exported directory).
    pub fn load(checkpoint: &Path, max_body: u64) -> Result<Self> {
        let generator = ReportGenerator::<Backend>::from_dir(checkpoint, &device()?)?;
        let config = generator.config();
        let info = json!({
            // The directory's name only: a served page does not reveal the server's paths.
            "checkpoint": checkpoint
                .canonicalize()
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "model".into()),
            "views": generator.n_views(),
            "diseases": generator.disease_names(),
            "thresholds": generator.clue_thresholds(),
            "resize": config.image.resize,
            "crop": config.image.crop,
            "max_upload_bytes": max_body,
        });
        Ok(Self {
            n_views: generator.n_views(),
            generator: Mutex::new(generator),
            info,
            max_body,
        })
    }

    /// The report, clues and evidence of one study's uploaded views.
    fn report(&self, views: &[(String, Vec<u8>)]) -> std::result::Result<Value, (u16, String)> {
        let start = Instant::now();
        let want = self.n_views;
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
        let (report, evidence, thresholds, decisions) = {
            // A panic while holding the lock leaves the model as it was (inference writes
            // nothing to it), so a poisoned lock is still good.
            let generator = self
                .generator
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let report = generator
                .generate_images(std::slice::from_ref(&images))
                .map_err(internal)?
                .remove(0);
            let evidence = generator.evidence(&images).map_err(internal)?;
            let decisions = generator.clue_decisions(&report);
            let thresholds = generator.clue_thresholds().map(<[f32]>::to_vec);
            (report, evidence, thresholds, decisions)
        };
        let clues: Vec<Value> = report
            .clues
            .iter()
            .enumerate()
            .map(|(i, (disease, p))| {
                json!({
                    "disease": disease,
                    "probability": p,
                    "threshold": thresholds.as_ref().map(|t| t[i]),
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
            (Method::Get, "/api/info") => Ok(self.info.clone()),
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
        let boundary = multipart::boundary(&content_type).ok_or_else(|| {
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
        let parts = multipart::parse(&body, &boundary).map_err(|e| (400, e.to_string()))?;
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

/// Runs `trrg serve` until interrupted.
pub fn run(args: ServeArgs) -> Result<()> {
    let app = Arc::new(App::load(
        &args.checkpoint,
        args.max_upload_mb.saturating_mul(1 << 20),
    )?);
    let server = Arc::new(
        Server::http(&args.addr).map_err(|e| anyhow!("cannot listen on {}: {e}", args.addr))?,
    );
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
    let workers: Vec<_> = (0..args.threads)
        .map(|_| {
            let (app, server) = (Arc::clone(&app), Arc::clone(&server));
            std::thread::spawn(move || {
                for request in server.incoming_requests() {
                    // A request that panics (a bug; its client sees the connection close)
                    // does not take its worker down.
                    let answered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        app.handle(request)
                    }));
                    if answered.is_err() {
                        log::error!("a request failed with an internal error (above)");
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        // Workers end only with the server.
        let _ = worker.join();
    }
    Ok(())
}
