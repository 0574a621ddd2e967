//! Run logs: a JSONL line per logged step or evaluation, and progress bars.

use std::io::Write;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use crate::Error;

/// Appends JSON lines to `log.jsonl`.
#[derive(Debug)]
pub struct JsonlLog {
    path: PathBuf,
}

impl JsonlLog {
    /// Opens (creating) the log in `run_dir`.
    pub fn new(run_dir: &Path) -> Self {
        Self {
            path: run_dir.join("log.jsonl"),
        }
    }

    /// Appends one record.
    pub fn write(&self, record: &impl serde::Serialize) -> crate::Result<()> {
        let line = serde_json::to_string(record).expect("log records serialize (string keys)");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|source| Error::Io {
                action: "cannot write",
                path: self.path.clone(),
                source,
            })?;
        writeln!(file, "{line}").map_err(|source| Error::Io {
            action: "cannot write",
            path: self.path.clone(),
            source,
        })
    }

    /// The log's text: empty when there is no log yet, an error when it exists but cannot be
    /// read (never treated as empty, since [`JsonlLog::truncate_after`] rewrites it).
    fn text(&self) -> crate::Result<String> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => Ok(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(source) => Err(Error::Io {
                action: "cannot read",
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// Every record so far (for plots), skipping lines that do not parse (a killed run may
    /// leave half a line).
    pub fn read(&self) -> crate::Result<Vec<Value>> {
        Ok(self
            .text()?
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    /// Drops records written after a checkpoint (on resume), by stage and step. Kept lines are
    /// written back byte for byte (re-serializing would round floats differently).
    pub fn truncate_after(&self, stage: u8, step: usize) -> crate::Result<()> {
        let text = self.text()?;
        let mut kept = String::with_capacity(text.len());
        for line in text.lines() {
            let Ok(r) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let s = r["stage"].as_u64().unwrap_or(0) as u8;
            let t = r["step"].as_u64().unwrap_or(0) as usize;
            if s < stage || (s == stage && t <= step) {
                kept.push_str(line);
                kept.push('\n');
            }
        }
        trrg_io::write_atomic(&self.path, kept.as_bytes())?;
        Ok(())
    }

    /// The last stage-1 validation's zero-shot AUC per disease, if the log has one.
    pub fn last_zero_shot_auc(&self) -> crate::Result<Option<Value>> {
        Ok(self
            .read()?
            .into_iter()
            .rev()
            .find(|r| r["stage"].as_u64() == Some(1) && r["split"].as_str() == Some("val"))
            .map(|r| r["zero_shot_auc"].clone()))
    }
}

/// A progress bar with loss, throughput and ETA; hidden when `quiet`.
pub fn progress(len: usize, label: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>16} [{bar:30}] {pos}/{len} {per_sec} ETA {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A resumed run reads the stage-1 AUC back from the log into `metrics.json`: every float
    /// must come back bit for bit (37/85 is one that serde_json's default fast parser reads one
    /// ulp off; the workspace enables `float_roundtrip`).
    #[test]
    fn floats_read_back_from_the_log_are_exact() {
        let dir = std::env::temp_dir().join(format!("trrg-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = JsonlLog::new(&dir);
        let _ = std::fs::remove_file(dir.join("log.jsonl"));
        let values = [37.0 / 85.0, 0.1 + 0.2, 1.0 / 3.0, 2.0f64.sqrt() / 7.0];
        log.write(&serde_json::json!({"stage": 1, "split": "val", "zero_shot_auc": values}))
            .unwrap();
        let back = log.last_zero_shot_auc().unwrap().unwrap();
        let back: Vec<f64> = back
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(
            back.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            values.map(f64::to_bits)
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
