//! Atomic checkpoints: model and optimizer records (MessagePack) plus a `state.json` that names
//! them, written last, so an interrupted run always resumes from a complete checkpoint.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Record, Recorder};
use serde::{Deserialize, Serialize};
use trrg_io::write_atomic;
use trrg_kernels::TrrgOps;

use crate::Error;

/// The format tag of `checkpoints/state.json`. Version 2 came with `trrg_llm::LoraLinear`: a
/// LoRA run's model records hold their adapters under `q_proj.adapter.*` instead of
/// `q_lora.*`; a run without LoRA has the same records in both versions.
pub const RUN_STATE_FORMAT: &str = "trrg-run-state-v2";

/// The previous format tag, read for runs without LoRA (see [`RUN_STATE_FORMAT`]).
pub(crate) const RUN_STATE_FORMAT_V1: &str = "trrg-run-state-v1";

/// The best checkpoint so far.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Best {
    /// Stage-2 epoch (1-based) it was taken after.
    pub epoch: usize,
    /// Its selection score.
    pub score: f64,
    /// Model file.
    pub model_file: String,
}

/// Where a run stands; the file that makes a checkpoint count.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// File format tag.
    pub format: String,
    /// Stage in progress or finished last: 1 or 2.
    pub stage: u8,
    /// Epochs finished in that stage.
    pub epochs_done: usize,
    /// Optimizer steps taken in that stage.
    pub step: usize,
    /// Model record of the latest checkpoint.
    pub model_file: String,
    /// Optimizer record of the latest checkpoint.
    pub optim_file: String,
    /// Best stage-2 checkpoint.
    pub best: Option<Best>,
    /// Whether the whole run (test evaluation included) finished.
    pub finished: bool,
}

impl RunState {
    /// A state at the start of a stage.
    pub fn new(stage: u8) -> Self {
        Self {
            format: RUN_STATE_FORMAT.into(),
            stage,
            epochs_done: 0,
            step: 0,
            model_file: String::new(),
            optim_file: String::new(),
            best: None,
            finished: false,
        }
    }
}

/// The `checkpoints/` folder of a run.
#[derive(Clone, Debug)]
pub struct Checkpoints {
    dir: PathBuf,
}

type Rec = NamedMpkBytesRecorder<FullPrecisionSettings>;

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}

impl Checkpoints {
    /// Opens (and creates) `run_dir/checkpoints`.
    pub fn new(run_dir: &Path) -> crate::Result<Self> {
        let dir = run_dir.join("checkpoints");
        std::fs::create_dir_all(&dir).map_err(io("cannot create", &dir))?;
        Ok(Self { dir })
    }

    /// Path of a file in the folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes any record (model or optimizer) atomically.
    pub fn save_record<B: TrrgOps, R: Record<B>>(
        &self,
        name: &str,
        record: R,
    ) -> crate::Result<()> {
        let path = self.path(name);
        let bytes =
            Recorder::<B>::record(&Rec::default(), record, ()).map_err(|e| Error::Checkpoint {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        write_atomic(&path, &bytes)?;
        Ok(())
    }

    /// Reads a record written by [`Checkpoints::save_record`].
    pub fn load_record<B: TrrgOps, R: Record<B>>(
        &self,
        name: &str,
        device: &B::Device,
    ) -> crate::Result<R> {
        let path = self.path(name);
        let bytes = std::fs::read(&path).map_err(io("cannot read", &path))?;
        Recorder::<B>::load(&Rec::default(), bytes, device).map_err(|e| Error::Checkpoint {
            path,
            reason: format!("unreadable or not a trrg checkpoint ({e})"),
        })
    }

    /// Loads model weights into `module`, checking every parameter's shape by name.
    pub fn load_module<B: TrrgOps, M: Module<B>>(
        &self,
        name: &str,
        module: M,
        device: &B::Device,
    ) -> crate::Result<M> {
        let expected = param_shapes(&module);
        let record = self.load_record::<B, M::Record>(name, device)?;
        let loaded = load_quietly(module, record).map_err(|reason| Error::Checkpoint {
            path: self.path(name),
            reason: format!("does not fit this model: {reason}"),
        })?;
        let got = param_shapes(&loaded);
        if got != expected {
            let diff = expected
                .iter()
                .zip(&got)
                .find(|(a, b)| a != b)
                .map(|(a, b)| format!("`{}` should be {:?}, the file has {:?}", a.0, a.1, b.1))
                .unwrap_or_else(|| {
                    format!(
                        "{} parameters expected, {} found",
                        expected.len(),
                        got.len()
                    )
                });
            return Err(Error::Checkpoint {
                path: self.path(name),
                reason: format!("does not fit this model: {diff}"),
            });
        }
        Ok(loaded)
    }

    /// Writes `state.json` atomically.
    pub fn write_state(&self, state: &RunState) -> crate::Result<()> {
        let path = self.path("state.json");
        let text = serde_json::to_string_pretty(state).expect("RunState serializes (no maps)");
        write_atomic(&path, text.as_bytes())?;
        Ok(())
    }

    /// Reads `state.json`, if any.
    pub fn read_state(&self) -> crate::Result<Option<RunState>> {
        let path = self.path("state.json");
        if !path.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(io("cannot read", &path))?;
        let state: RunState = serde_json::from_str(&text).map_err(|e| Error::Checkpoint {
            path: path.clone(),
            reason: format!("malformed run state ({e})"),
        })?;
        if state.format != RUN_STATE_FORMAT && state.format != RUN_STATE_FORMAT_V1 {
            return Err(Error::Checkpoint {
                path,
                reason: format!("format `{}` is not {RUN_STATE_FORMAT}", state.format),
            });
        }
        Ok(Some(state))
    }

    /// Deletes record files that `state.json` no longer names (keeping `keep` more).
    pub fn prune(&self, state: &RunState, keep: &[String]) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let named = name == state.model_file
                || name == state.optim_file
                || state.best.as_ref().is_some_and(|b| b.model_file == name)
                || keep.contains(&name);
            if name.ends_with(".mpk") && !named {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// Every float parameter's dotted path and shape, in visiting order.
pub fn param_shapes<B: TrrgOps, M: Module<B>>(module: &M) -> Vec<(String, Vec<usize>)> {
    crate::inspect::param_table(module)
        .into_iter()
        .map(|(path, shape, _)| (path, shape))
        .collect()
}

/// `module.load_record(record)`, with Burn's panic on a list of layers of another length (a
/// checkpoint of another architecture) turned into its message, printed by nobody.
fn load_quietly<B: TrrgOps, M: Module<B>>(
    module: M,
    record: M::Record,
) -> std::result::Result<M, String> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let loaded =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| module.load_record(record)));
    std::panic::set_hook(hook);
    loaded.map_err(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("a part has another layout");
        // Burn's message is several lines; its first says what differs.
        message.lines().next().unwrap_or(message).trim().to_string()
    })
}

#[cfg(test)]
mod tests {
    use burn::backend::Flex;
    use burn::nn::{Linear, LinearConfig};

    use super::*;

    #[derive(Module, Debug)]
    struct Stack<B: TrrgOps> {
        layers: Vec<Linear<B>>,
    }

    fn stack(n: usize) -> Stack<Flex> {
        let device = Default::default();
        Stack {
            layers: (0..n)
                .map(|_| LinearConfig::new(2, 2).init(&device))
                .collect(),
        }
    }

    #[test]
    fn a_checkpoint_of_another_architecture_is_one_error_not_a_panic() {
        let dir = std::env::temp_dir().join(format!("trrg-ckpt-layers-{}", std::process::id()));
        let checkpoints = Checkpoints::new(&dir).unwrap();
        checkpoints
            .save_record::<Flex, _>("three.mpk", stack(3).into_record())
            .unwrap();
        let device = Default::default();
        let err = checkpoints
            .load_module("three.mpk", stack(2), &device)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("three.mpk") && err.contains("does not fit"),
            "{err}"
        );
        assert!(checkpoints
            .load_module("three.mpk", stack(3), &device)
            .is_ok());
        // Same layers, another width: the parameter and both shapes are named.
        let wide = Stack::<Flex> {
            layers: (0..3)
                .map(|_| LinearConfig::new(2, 3).init(&device))
                .collect(),
        };
        let err = checkpoints
            .load_module("three.mpk", wide, &device)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`layers.0.weight` should be [2, 3], the file has [2, 2]"),
            "{err}"
        );
        assert_eq!(
            param_shapes(&stack(1)),
            vec![
                ("layers.0.weight".to_string(), vec![2, 2]),
                ("layers.0.bias".to_string(), vec![2])
            ]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
