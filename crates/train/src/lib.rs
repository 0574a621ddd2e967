//! TRRG training, generic over Burn's autodiff backend.
//!
//! [`train`] runs a whole experiment in a run directory:
//! stage 1 (sentence-level contrastive pre-training of the visual and text encoders, with
//! validation loss and zero-shot AUC per disease), stage 2 (clue-enhanced fine-tuning with the
//! LM loss plus lambda times the disease-aware consistency loss, AdamW with warm-up and decay,
//! two learning-rate groups, accumulation, clipping, validation by generation every N epochs and
//! best-checkpoint selection), then test evaluation of the best checkpoint. It writes
//! `config.json`, `vocab.json`, `checkpoints/` (atomic; `--resume` continues from the last),
//! `log.jsonl`, `metrics.json`, `samples.jsonl` and `plots/*.png`. Runs are deterministic under
//! a seed on the CPU backend: the backend RNG is reseeded per epoch and the data order depends
//! only on the seed and the epoch, so a resumed run equals an uninterrupted one.
#![warn(missing_docs)]

mod data;
mod edit;
pub use edit::ReportEditor;
mod error;
mod evaluate;
mod log;
mod optim;
pub use optim::{clip_grad_norm, Optimizers};
mod obey;
pub use obey::{normal_studies, obedience, obedience_table, Obedience, ObedienceRow};
mod parallel;
pub use parallel::{DataParallel, ParallelGrads};
mod plot;
mod predict;
mod probe;
pub use predict::{
    data_dir_studies, have_references, labels_from_json, labels_json, path_studies, predict,
    prediction_metrics, read_predictions, write_prediction_metrics, write_predictions,
    PredictStudy, Prediction, IMAGE_EXTENSIONS,
};
pub use probe::{
    conditioning, feature_probe, logistic_probe_auc, symmetric_eigenvalues, Conditioning, ProbeAuc,
    PromptConditioning, PROBE_L2, PROBE_STEPS,
};
mod run;
mod schedule;
mod summary;
mod thresholds;
pub use thresholds::{fit_thresholds, micro_f1, threshold_grid};

pub use data::{epoch_batches, sentence_set, LabelSource, RunData, SentenceLabels};
// The run directory and its formats live below this crate, so that inference does not depend
// on training; they are re-exported here for the programs that train.
pub use error::{Error, Result};
pub use evaluate::{
    auc, evaluate, fit_clue_thresholds, known_mean, meteor, meteor_jar, perception_aucs,
    thresholds_json, zero_shot_auc, Evaluation, ObservationRow, PerceptionAucs, Sample,
};
pub use run::{train, train_parallel, RunOptions, RunSummary, StopFlag};

/// The `log` target of a run's epoch lines (`stage 2 epoch 3/12: ...`) and other progress
/// notes, at `info`. trrg's programs show it by default (`trrg_core::init_logging`); a program
/// of its own shows it with any logger that lets `trrg_train::progress=info` through.
pub const PROGRESS_TARGET: &str = "trrg_train::progress";
pub use schedule::learning_rate;
pub use summary::{default_synthetic_data, per_observation_table, perception_table, results_table};
pub use trrg_run::{
    param_shapes, read_clue_thresholds, thresholds_by_name, BaseParts, Best, Checkpoints, Decay,
    EvalConfig, Freeze, LlmTraining, Precision, Preset, RunDir, RunState, RunTokenizers, Selection,
    StageConfig, TrainConfig, CLUE_THRESHOLDS_FILE,
};
