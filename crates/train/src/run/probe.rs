//! A stage-1-only run (`stage2.epochs = 0`): the perception probe. After stage 1 it measures,
//! on the validation split, the zero-shot and the full clue AUC per disease, a linear probe on
//! the encoder's features (fitted on the training split) and the conditioning of the prompt
//! directions, and writes them to `metrics.json`. A variant of perception is ranked this way in
//! the time of stage 1 alone.

use burn::module::AutodiffModule;
use serde::Serialize;
use serde_json::{json, Value};
use trrg_clue::DiseaseSet;
use trrg_kernels::TrrgAutodiff;
use trrg_model::{ClueBank, Trrg};

use crate::evaluate::{known_mean, perception_aucs, PerceptionAucs};
use crate::probe::{feature_probe, PromptConditioning, PROBE_L2, PROBE_STEPS};
use crate::RunDir;

use super::Context;

/// `metrics.json` of a stage-1-only run.
#[derive(Serialize)]
struct ProbeMetrics {
    /// e.g. `iu_xray (synthetic)`.
    dataset: String,
    synthetic: bool,
    preset: String,
    seed: u64,
    stage1_only: bool,
    stage1_epochs: usize,
    /// Absent against present, blank and uncertain left out: the stage-1 figure of earlier
    /// runs.
    val_zero_shot_auc_blanks_left_out_mean: f64,
    /// Present against the rest, as the test's per-observation clue AUC (also below).
    val_zero_shot_auc_mean: f64,
    val_zero_shot_auc: Value,
    val_clue_auc_mean: f64,
    val_clue_auc: Value,
    /// Per disease: the validation AUC of a logistic regression fitted on the training split's
    /// encoder features (`pooled`: the view mean the clue heads read; `views`: every view).
    val_feature_probe: Value,
    feature_probe_settings: Value,
    prompts: PromptConditioning,
}

/// The validation split's [`PerceptionAucs`] of `model`.
pub(super) fn val_perception<B: TrrgAutodiff>(
    ctx: &Context<'_, B>,
    model: &Trrg<B::InnerBackend>,
    bank: &ClueBank<B::InnerBackend>,
) -> crate::Result<PerceptionAucs> {
    perception_aucs(
        model,
        &ctx.data.val,
        ctx.eval_batcher,
        ctx.config.batch_size,
        bank,
        ctx.device,
    )
}

/// Measures the stage-1 model's perception and writes `metrics.json`; returns its content.
pub(super) fn perception_probe<B: TrrgAutodiff>(
    ctx: &Context<'_, B>,
    run: &RunDir,
    model: &Trrg<B>,
    diseases: &DiseaseSet,
) -> crate::Result<Value> {
    let Context {
        config,
        data,
        eval_batcher,
        device,
        ..
    } = *ctx;
    let inner = model.valid();
    let bank = ctx.bank(&inner, diseases)?;
    let batch = config.batch_size;
    let perception = val_perception(ctx, &inner, &bank)?;
    let probe = feature_probe(
        &inner,
        &data.train,
        &data.val,
        eval_batcher,
        batch,
        &bank,
        device,
    )?;
    let kind = if data.synthetic { "synthetic" } else { "real" };
    let metrics = ProbeMetrics {
        dataset: format!("{} ({kind})", config.dataset.name()),
        synthetic: data.synthetic,
        preset: config.preset.to_string(),
        seed: config.seed,
        stage1_only: true,
        stage1_epochs: config.stage1.epochs,
        val_zero_shot_auc_blanks_left_out_mean: known_mean(&perception.zero_shot_left_out).0,
        val_zero_shot_auc_mean: known_mean(&perception.zero_shot).0,
        val_zero_shot_auc: json!(perception.zero_shot),
        val_clue_auc_mean: known_mean(&perception.clue).0,
        val_clue_auc: json!(perception.clue),
        val_feature_probe: json!(probe),
        feature_probe_settings: json!({
            "model": "logistic regression on standardized features",
            "labels": "present against the rest",
            "l2": PROBE_L2,
            "steps": PROBE_STEPS,
            "fit": "train split",
            "patch_grid": config.clue.spatial_grid,
            "scored": "val split",
        }),
        prompts: PromptConditioning::of(&bank),
    };
    run.write_json("metrics.json", &metrics)?;
    Ok(serde_json::to_value(&metrics).expect("metrics serialize (string keys)"))
}
