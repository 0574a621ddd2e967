//! Stage 2: clue-enhanced fine-tuning (LM loss plus the consistency loss), validated by
//! generating reports, with the best checkpoint kept by the selection score.

use burn::module::{AutodiffModule, Module};
use burn::prelude::*;
use serde::Serialize;
use serde_json::Value;
use trrg_data::{ReportBatch, ReportDataset, StudyItem};
use trrg_kernels::TrrgAutodiff;
use trrg_llm::GenerationConfig;
use trrg_model::{BatchLabels, ClueBank, Trrg};

use crate::data::{items, rare_positive_rows};
use crate::edit::ReportEditor;
use crate::evaluate::{evaluate, thresholds_json, ObservationRow, Scores};
use crate::optim::Optimizers;
use crate::{Best, RunState, Selection};

use super::epoch::{run_epoch, StepLosses, STAGE2};
use super::{decision_bank, save, Context};

/// The `log.jsonl` record of a stage-2 validation.
#[derive(Serialize)]
struct ValRecord<'a> {
    stage: u8,
    epoch: usize,
    step: usize,
    split: &'static str,
    score: f64,
    scores: &'a Scores,
    clue_thresholds: Option<Value>,
    /// Reports, clues and their agreement per observation (as the test's).
    per_observation: &'a [ObservationRow],
}

/// The losses of a batch on a model replica, and what is minimized.
fn forward<B: TrrgAutodiff>(
    model: &Trrg<B>,
    batch: ReportBatch<B>,
    bank: Option<&ClueBank<B>>,
) -> crate::Result<(Tensor<B, 1>, StepLosses)> {
    let out = model.forward_train(
        batch.images,
        batch.token_ids,
        batch.attention_mask,
        batch.label_mask,
        batch.labels.as_ref().map(|truth| BatchLabels {
            truth,
            forced: batch.report_labels.as_ref().unwrap_or(truth),
        }),
        bank,
    )?;
    let losses = StepLosses {
        loss: out.loss.clone().into_scalar().elem::<f32>(),
        lm_loss: Some(out.lm_loss.into_scalar().elem::<f32>()),
        consistency_loss: out.consistency_loss.map(|c| c.into_scalar().elem::<f32>()),
    };
    Ok((out.loss, losses))
}

/// The editor of `stage2_report_edits`, when it is on (its summary goes to the log).
fn report_editor<B: TrrgAutodiff>(ctx: &Context<'_, B>) -> Option<ReportEditor> {
    let (config, data) = (ctx.config, ctx.data);
    if config.stage2_report_edits == 0.0 {
        return None;
    }
    let editor = ReportEditor::new(
        data.train.items().iter().map(|i| i.report.as_str()),
        config.stage2_report_edits,
        data.reports.clone(),
        data.train.max_len(),
    );
    ctx.report(editor.summary());
    Some(editor)
}

/// The studies of a training batch, edited when `editor` is given.
fn train_items(
    train: &ReportDataset,
    indices: &[usize],
    editor: Option<&ReportEditor>,
) -> crate::Result<Vec<StudyItem>> {
    let items = items(train, indices);
    match editor {
        None => Ok(items),
        Some(editor) => Ok(items
            .into_iter()
            .map(|item| editor.edit(item))
            .collect::<trrg_data::Result<_>>()?),
    }
}

/// Validates after epoch `state.epochs_done` by generating the validation reports, logs the
/// scores, and saves the model as the best checkpoint when its score is the best so far.
/// Returns the progress line's part.
fn validate<B: TrrgAutodiff>(
    ctx: &Context<'_, B>,
    state: &mut RunState,
    model: &Trrg<B>,
    bank: Option<&ClueBank<B::InnerBackend>>,
    generation: &GenerationConfig,
) -> crate::Result<String> {
    let Context {
        config,
        data,
        checkpoints,
        log,
        options,
        ..
    } = *ctx;
    let epoch = state.epochs_done;
    let started = std::time::Instant::now();
    let inner = model.valid();
    let val_generation = generation
        .clone()
        .with_num_beams(config.eval.val_num_beams)
        .with_num_return_sequences(config.eval.returned_sequences(config.eval.val_num_beams));
    let val_bank = decision_bank(ctx, &inner, bank)?;
    let val = evaluate(
        &inner,
        &ctx.eval_context(
            &data.val,
            config.eval.val_limit,
            val_bank.as_ref(),
            &val_generation,
        ),
        "validation",
        options.quiet,
    )?;
    let scores = &val.scores;
    let score = match config.eval.selection {
        Selection::Bleu4Cider => 0.5 * scores.bleu_4 + 0.5 * scores.cider,
        Selection::CeF1 => scores.ce.f1,
    };
    log.write(&ValRecord {
        stage: 2,
        epoch,
        step: state.step,
        split: "val",
        score,
        scores,
        clue_thresholds: val_bank.as_ref().map(thresholds_json),
        per_observation: &val.per_observation,
    })?;
    let mut line = format!(
        ", val BLEU_4 {:.3} CIDEr {:.3} CE F1 {:.3} ({:.0} s)",
        scores.bleu_4,
        scores.cider,
        scores.ce.f1,
        started.elapsed().as_secs_f64()
    );
    if state.best.as_ref().is_none_or(|b| score > b.score) {
        let file = format!("stage2-best-epoch{epoch:03}.model.mpk");
        checkpoints.save_record::<B, _>(&file, model.clone().into_record())?;
        state.best = Some(Best {
            epoch,
            score,
            model_file: file,
        });
        line += " (best)";
    }
    Ok(line)
}

/// With `stage2_rare_repeats`, the epoch's size in one line.
fn announce_rare_repeats<B: TrrgAutodiff>(ctx: &Context<'_, B>) {
    let repeats = ctx.config.stage2_rare_repeats;
    if repeats > 0 {
        let rows = rare_positive_rows(&ctx.data.train, repeats).len();
        let studies = ctx.data.train.items().len();
        ctx.report(format!(
            "stage 2: {rows} rows per epoch, {} repeats of studies with a rare positive \
             (stage2_rare_repeats {repeats})",
            rows - studies,
        ));
    }
}

/// Runs the remaining stage-2 epochs.
pub(super) fn stage2<B: TrrgAutodiff>(
    ctx: &Context<'_, B>,
    state: &mut RunState,
    mut model: Trrg<B>,
    bank: Option<&ClueBank<B>>,
    generation: &GenerationConfig,
) -> crate::Result<Trrg<B>> {
    let Context {
        config,
        data,
        train_batcher,
        checkpoints,
        options,
        device,
        parallel,
        ..
    } = *ctx;
    let stage = &config.stage2;
    let mut optim = Optimizers::<B>::new(stage);
    if state.stage == 2 && !state.optim_file.is_empty() {
        optim = optim.load(checkpoints, &state.optim_file, device)?;
    }
    let inner_bank = bank.map(ClueBank::valid);
    let editor = report_editor(ctx);
    announce_rare_repeats(ctx);
    // Each worker's copy of the clue bank, on its device.
    let worker_banks: Vec<Option<ClueBank<B>>> = parallel
        .map(|p| {
            p.devices()
                .iter()
                .map(|d| bank.map(|b| b.to_device(d)))
                .collect()
        })
        .unwrap_or_default();
    // The workers' forward passes side by side on streams of their own, unless the vision
    // encoder draws dropout from the backend (the text encoder does not run in stage 2).
    let side_by_side = config.parallel_forward && model.backend_dropout().0 == 0.0;
    for epoch in state.epochs_done..stage.epochs {
        let sums;
        (model, sums) = run_epoch(
            ctx,
            STAGE2,
            stage,
            state,
            model,
            &mut optim,
            |model, optim, indices, draws| match parallel {
                None => {
                    let batch = train_batcher.try_batch::<B>(
                        &train_items(&data.train, indices, editor.as_ref())?,
                        device,
                    )?;
                    let (loss, losses) = forward(model, batch, bank)?;
                    optim.backward(loss, model);
                    Ok(losses)
                }
                Some(p) => {
                    // Each worker decodes its own shard's images.
                    let mut shards = Vec::new();
                    for (k, range) in p.shards(indices.len()).into_iter().enumerate() {
                        let items =
                            train_items(&data.train, &indices[range.clone()], editor.as_ref())?;
                        shards.push(((k, items), range.len() as f32 / indices.len() as f32));
                    }
                    let draws = side_by_side.then_some(draws);
                    let grads = p.gradients(model, shards, draws, |replica, (k, items)| {
                        let batch = train_batcher.try_batch::<B>(&items, &p.devices()[k])?;
                        let (loss, losses) = forward(replica, batch, worker_banks[k].as_ref())?;
                        Ok((loss, losses.to_values()))
                    })?;
                    optim.accumulate(model, grads.vision, grads.rest);
                    Ok(StepLosses::from_values(&grads.values))
                }
            },
        )?;
        state.epochs_done = epoch + 1;
        let last = epoch + 1 == stage.epochs;
        let n = sums.batches as f64;
        let mut line = format!(
            "stage 2 epoch {}/{}: lm loss {:.4}, consistency {:.4}, {:.0} s",
            epoch + 1,
            stage.epochs,
            sums.lm / n,
            sums.consistency / n,
            sums.seconds()
        );
        if (epoch + 1) % config.eval.every_epochs == 0 || last {
            line += &validate(ctx, state, &model, inner_bank.as_ref(), generation)?;
        }
        ctx.report(line);
        save(state, &model, &optim, checkpoints, config.keep_last)?;
        if !last {
            options.stop.check(2, epoch + 1)?;
        }
    }
    Ok(model)
}
