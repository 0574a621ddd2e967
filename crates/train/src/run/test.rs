//! The end of a run: the best checkpoint on the test split, `metrics.json`, `samples.jsonl`,
//! `clue_thresholds.json` and the plots.

use std::path::Path;

use burn::module::AutodiffModule;
use serde::Serialize;
use serde_json::Value;
use trrg_kernels::TrrgAutodiff;
use trrg_llm::GenerationConfig;
use trrg_model::{ClueBank, Trrg};

use crate::evaluate::{
    evaluate, thresholds_json, zero_shot_auc, Evaluation, ObservationRow, Scores,
};
use crate::log::JsonlLog;
use crate::plot::{plot, Panel, Series};
use crate::{Error, RunDir, RunState};

use super::{decision_bank, Context};

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
pub(super) fn test<B: TrrgAutodiff>(
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
    let inner_bank = bank.map(ClueBank::valid);
    let test_bank = decision_bank(ctx, &inner, inner_bank.as_ref())?;
    let thresholds = test_bank.as_ref().map_or(Value::Null, thresholds_json);
    if let Some(b) = &test_bank {
        if let Some(t) = &b.thresholds {
            run.write_clue_thresholds(&b.names, t)?;
        }
    }
    let test = evaluate(
        &inner,
        &ctx.eval_context(&data.test, None, test_bank.as_ref(), generation),
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
    plots(run, log, metrics.best_epoch)?;
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

/// Where a log record falls in epochs: a validation at its epoch's end, the k-th of an epoch's
/// n steps at `epoch - 1 + k / n`.
fn epoch_positions(records: &[Value]) -> Vec<Option<f64>> {
    let key = |r: &Value| (r["stage"].as_u64(), r["epoch"].as_u64());
    let mut steps = std::collections::HashMap::<_, usize>::new();
    for r in records.iter().filter(|r| r["split"].is_null()) {
        *steps.entry(key(r)).or_default() += 1;
    }
    let mut seen = std::collections::HashMap::<_, usize>::new();
    records
        .iter()
        .map(|r| {
            let epoch = r["epoch"].as_f64()?;
            if !r["split"].is_null() {
                return Some(epoch);
            }
            let k = seen.entry(key(r)).or_default();
            *k += 1;
            Some(epoch - 1.0 + *k as f64 / steps[&key(r)] as f64)
        })
        .collect()
}

fn plots(run: &RunDir, log: &JsonlLog, best_epoch: Option<usize>) -> crate::Result<()> {
    let records = log.read()?;
    let dir = run.path("plots");
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
        action: "cannot create",
        path: dir.clone(),
        source,
    })?;
    let curves = Curves {
        x: epoch_positions(&records),
        records: &records,
    };
    let kept = best_epoch.map(|e| (e as f64, format!("kept checkpoint (epoch {e})")));
    stage1_plots(&dir, &curves)?;
    stage2_plots(&dir, &curves, &kept)
}

/// The log's records and their positions in epochs, for the plots.
struct Curves<'a> {
    records: &'a [Value],
    x: Vec<Option<f64>>,
}

impl Curves<'_> {
    /// `(epoch position, key)` of the records of `stage` and `split` (None: training steps).
    fn series(
        &self,
        stage: u64,
        split: Option<&str>,
        key: &dyn Fn(&Value) -> Option<f64>,
    ) -> Vec<(f64, f64)> {
        self.records
            .iter()
            .zip(&self.x)
            .filter(|(r, _)| r["stage"].as_u64() == Some(stage) && r["split"].as_str() == split)
            .filter_map(|(r, x)| Some(((*x)?, key(r)?)))
            .collect()
    }
}

fn line(label: &str, points: Vec<(f64, f64)>) -> Series {
    Series {
        label: label.into(),
        points,
    }
}

fn panel(title: &str, y_label: &str, series: Vec<Series>, marker: &Option<(f64, String)>) -> Panel {
    Panel {
        title: title.into(),
        y_label: y_label.into(),
        series,
        marker: marker.clone(),
    }
}

fn stage1_plots(dir: &Path, curves: &Curves<'_>) -> crate::Result<()> {
    let loss = |r: &Value| r["loss"].as_f64();
    let stage1_val = |key: &'static str| curves.series(1, Some("val"), &move |r| r[key].as_f64());
    plot(
        &dir.join("stage1_loss"),
        &[
            panel(
                "Stage 1: image-sentence contrastive loss",
                "InfoNCE loss",
                vec![
                    line("train", curves.series(1, None, &loss)),
                    line("validation", curves.series(1, Some("val"), &loss)),
                ],
                &None,
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
                &None,
            ),
        ],
        "stage-1 epoch",
    )?;
    Ok(())
}

fn stage2_plots(
    dir: &Path,
    curves: &Curves<'_>,
    kept: &Option<(f64, String)>,
) -> crate::Result<()> {
    // Validation records hold typed `Scores`; read them back as such.
    let val = |pick: fn(&Scores) -> f64| {
        move |r: &Value| {
            serde_json::from_value::<Scores>(r["scores"].clone())
                .ok()
                .map(|s| pick(&s))
        }
    };
    // The mean clue AUC over the observations that have one.
    let clue_auc = |r: &Value| {
        let aucs: Vec<f64> = r["per_observation"]
            .as_array()?
            .iter()
            .filter_map(|o| o["clue_auc"].as_f64())
            .collect();
        (!aucs.is_empty()).then(|| aucs.iter().sum::<f64>() / aucs.len() as f64)
    };
    let train = |key: &'static str| curves.series(2, None, &move |r| r[key].as_f64());
    plot(
        &dir.join("stage2_loss"),
        &[
            panel(
                "Stage 2: language-model loss",
                "LM loss (train)",
                vec![line("train", train("lm_loss"))],
                kept,
            ),
            panel(
                "Stage 2: disease-aware consistency loss",
                "consistency loss (train)",
                vec![line("train", train("consistency_loss"))],
                kept,
            ),
        ],
        "stage-2 epoch",
    )?;
    let validation = |key: &dyn Fn(&Value) -> Option<f64>| {
        vec![line("validation", curves.series(2, Some("val"), key))]
    };
    plot(
        &dir.join("stage2_val"),
        &[
            panel(
                "Stage 2 validation: BLEU-4",
                "BLEU-4",
                validation(&val(|s| s.bleu_4)),
                kept,
            ),
            panel(
                "Stage 2 validation: CIDEr",
                "CIDEr-D",
                validation(&val(|s| s.cider)),
                kept,
            ),
            panel(
                "Stage 2 validation: clinical efficacy",
                "CE micro-F1 (r2gen)",
                validation(&val(|s| s.ce.f1)),
                kept,
            ),
            panel(
                "Stage 2 validation: perception (mean clue AUC over the observations)",
                "clue AUC",
                validation(&clue_auc),
                kept,
            ),
        ],
        "stage-2 epoch",
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Steps spread evenly over their epoch, validations sit at their epoch's end, each stage
    /// on its own epoch count.
    #[test]
    fn log_records_are_placed_by_epoch() {
        let records: Vec<Value> = [
            r#"{"stage":1,"epoch":1,"step":1}"#,
            r#"{"stage":1,"epoch":1,"step":2}"#,
            r#"{"stage":1,"epoch":1,"step":2,"split":"val"}"#,
            r#"{"stage":1,"epoch":2,"step":3}"#,
            r#"{"stage":1,"epoch":2,"step":4}"#,
            r#"{"stage":2,"epoch":1,"step":5}"#,
            r#"{"stage":2,"epoch":1,"step":5,"split":"val"}"#,
            r#"{"note":"no epoch"}"#,
        ]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
        assert_eq!(
            epoch_positions(&records),
            [
                Some(0.5),
                Some(1.0),
                Some(1.0),
                Some(1.5),
                Some(2.0),
                Some(1.0),
                Some(1.0),
                None
            ]
        );
    }
}
