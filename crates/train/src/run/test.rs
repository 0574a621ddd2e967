//! The end of a run: the best checkpoint on the test split, `metrics.json`, `samples.jsonl`,
//! `clue_thresholds.json` and the plots.

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use serde::Serialize;
use serde_json::Value;
use trrg_llm::GenerationConfig;
use trrg_model::{ClueBank, Trrg};

use crate::data::LabelSource;
use crate::evaluate::{
    evaluate, thresholds_json, zero_shot_auc, EvalContext, Evaluation, ObservationRow, Scores,
};
use crate::log::JsonlLog;
use crate::plot::{plot, Panel, Series};
use crate::{Error, RunDir, RunState};

use super::{decision_bank, valid_bank, Context};

/// `metrics.json`.
#[derive(Serialize)]
struct Metrics<'a> {
    /// e.g. `iu_xray (synthetic)`.
    dataset: String,
    synthetic: bool,
    semi_synthetic_reports: &'a Option<String>,
    data_dir: String,
    preset: String,
    clues: String,
    consistency_loss: bool,
    seed: u64,
    /// Read from a parameter: what the run computed in.
    float_dtype: String,
    best_epoch: Option<usize>,
    val_zero_shot_auc: Value,
    clue_thresholds: Value,
    test: &'a Scores,
    /// The test split per observation (reports, clue AUC, clue-report agreement).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    test_per_observation: &'a [ObservationRow],
}

/// Tests the best checkpoint (else `model`), writes the run's results and returns
/// `metrics.json`'s content.
pub(super) fn test<B: AutodiffBackend>(
    ctx: &Context<'_, B>,
    run: &RunDir,
    state: &RunState,
    model: Trrg<B>,
    bank: Option<&ClueBank<B>>,
    generation: &GenerationConfig,
    mut zero_shot: Value,
) -> crate::Result<Value> {
    let Context {
        config,
        data,
        eval_batcher,
        checkpoints,
        log,
        options,
        device,
        ..
    } = *ctx;
    let best = state.best.clone();
    let best_model = match &best {
        Some(b) => checkpoints.load_module(&b.model_file, model, device)?,
        None => model,
    };
    let inner = best_model.valid();
    let inner_bank = bank.map(valid_bank::<B>);
    let test_bank = decision_bank(ctx, &inner, inner_bank.as_ref())?;
    let thresholds = test_bank.as_ref().map_or(Value::Null, thresholds_json);
    if let Some(b) = &test_bank {
        if let Some(t) = &b.thresholds {
            run.write_clue_thresholds(&b.names, t)?;
        }
    }
    let test = evaluate(
        &inner,
        &EvalContext {
            dataset: &data.test,
            limit: None,
            batcher: eval_batcher,
            batch_size: config.batch_size,
            bank: test_bank.as_ref(),
            tokenizer: &*data.reports,
            generation,
            ground_truth: data.label_source == LabelSource::File,
            device,
        },
        "test",
        options.quiet,
    )?;
    if zero_shot.is_null() {
        if let Some(b) = &inner_bank {
            zero_shot = serde_json::json!(zero_shot_auc(
                &inner,
                &data.val,
                eval_batcher,
                config.batch_size,
                b,
                device
            )?);
        }
    }
    let kind = match (&data.real_reports, data.synthetic) {
        (Some(_), _) => "semi-synthetic",
        (None, true) => "synthetic",
        (None, false) => "real",
    };
    let metrics = Metrics {
        dataset: format!("{} ({kind})", config.dataset.name()),
        synthetic: data.synthetic,
        semi_synthetic_reports: &data.real_reports,
        data_dir: data.dir.display().to_string(),
        preset: config.preset.to_string(),
        clues: config.clue.mode.to_string(),
        consistency_loss: config.clue.consistency_loss,
        seed: config.seed,
        float_dtype: format!("{:?}", inner.markers.val().dtype()),
        best_epoch: best.as_ref().map(|b| b.epoch),
        val_zero_shot_auc: zero_shot,
        clue_thresholds: thresholds,
        test: &test.scores,
        test_per_observation: &test.per_observation,
    };
    run.write_json("metrics.json", &metrics)?;
    write_samples(run, &test)?;
    plots(run, log)?;
    Ok(serde_json::to_value(&metrics).expect("metrics serialize (string keys)"))
}

fn write_samples(run: &RunDir, eval: &Evaluation) -> crate::Result<()> {
    let mut text = String::new();
    for s in &eval.samples {
        text += &serde_json::to_string(s).expect("samples serialize (string keys)");
        text.push('\n');
    }
    trrg_io::write_atomic(&run.path("samples.jsonl"), text.as_bytes())?;
    Ok(())
}

fn plots(run: &RunDir, log: &JsonlLog) -> crate::Result<()> {
    let records = log.read()?;
    let dir = run.path("plots");
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
        action: "cannot create",
        path: dir.clone(),
        source,
    })?;
    let series =
        |stage: u64, split: Option<&str>, key: &dyn Fn(&Value) -> Option<f64>| -> Vec<(f64, f64)> {
            records
                .iter()
                .filter(|r| r["stage"].as_u64() == Some(stage) && r["split"].as_str() == split)
                .filter_map(|r| Some((r["step"].as_f64()?, key(r)?)))
                .collect()
        };
    // Validation records hold typed `Scores`; read them back as such.
    let val = |pick: fn(&Scores) -> f64| {
        move |r: &Value| {
            serde_json::from_value::<Scores>(r["scores"].clone())
                .ok()
                .map(|s| pick(&s))
        }
    };
    let loss = |r: &Value| r["loss"].as_f64();
    let line = |label: &str, points| Series {
        label: label.into(),
        points,
    };
    let panel = |title: &str, y_label: &str, series| Panel {
        title: title.into(),
        y_label: y_label.into(),
        series,
    };
    let stage1_val = |key: &'static str| series(1, Some("val"), &move |r| r[key].as_f64());
    plot(
        &dir.join("stage1_loss"),
        &[
            panel(
                "Stage 1: image-sentence contrastive loss",
                "InfoNCE loss",
                vec![
                    line("train", series(1, None, &loss)),
                    line("validation", series(1, Some("val"), &loss)),
                ],
            ),
            panel(
                "Stage 1 validation: perception (mean AUC over the observations)",
                "AUC",
                vec![
                    line(
                        "zero-shot, blank labels left out",
                        stage1_val("zero_shot_auc_mean"),
                    ),
                    line(
                        "zero-shot, present vs rest",
                        stage1_val("zero_shot_auc_vs_rest_mean"),
                    ),
                    line(
                        "full clue logits, present vs rest",
                        stage1_val("clue_auc_mean"),
                    ),
                ],
            ),
        ],
        "step",
    )?;
    plot(
        &dir.join("stage2_loss"),
        &[
            panel(
                "Stage 2: language-model loss",
                "LM loss (train)",
                vec![line("train", series(2, None, &|r| r["lm_loss"].as_f64()))],
            ),
            panel(
                "Stage 2: disease-aware consistency loss",
                "consistency loss (train)",
                vec![line(
                    "train",
                    series(2, None, &|r| r["consistency_loss"].as_f64()),
                )],
            ),
        ],
        "step",
    )?;
    plot(
        &dir.join("stage2_val"),
        &[
            panel(
                "Stage 2 validation: BLEU-4",
                "BLEU-4",
                vec![line(
                    "validation",
                    series(2, Some("val"), &val(|s| s.bleu_4)),
                )],
            ),
            panel(
                "Stage 2 validation: CIDEr",
                "CIDEr-D",
                vec![line(
                    "validation",
                    series(2, Some("val"), &val(|s| s.cider)),
                )],
            ),
            panel(
                "Stage 2 validation: clinical efficacy",
                "CE micro-F1 (r2gen)",
                vec![line(
                    "validation",
                    series(2, Some("val"), &val(|s| s.ce.f1)),
                )],
            ),
        ],
        "step",
    )?;
    Ok(())
}
