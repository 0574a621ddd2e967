//! Stage 1: contrastive pre-training (image against report-sentence InfoNCE), validated by the
//! contrastive loss and the zero-shot AUC per disease.

use burn::data::dataset::Dataset;
use burn::module::AutodiffModule;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::TensorData;
use serde::Serialize;
use serde_json::{json, Value};
use trrg_clue::DiseaseSet;
use trrg_data::{ReportBatcher, ReportTokenizer, StudyItem};
use trrg_model::{ClueBank, NegationContrast, Trrg};
use trrg_text::SentenceBatch;

use crate::data::{epoch_batches, items, sentence_set};
use crate::evaluate::zero_shot_auc;
use crate::optim::Optimizers;
use crate::{RunState, TrainConfig};

use super::epoch::{run_epoch, StepLosses, STAGE1};
use super::{save, Context};

/// The `log.jsonl` record of a stage-1 validation.
#[derive(Serialize)]
struct ValRecord<'a> {
    stage: u8,
    epoch: usize,
    step: usize,
    split: &'static str,
    loss: f64,
    zero_shot_auc_mean: f64,
    zero_shot_auc: &'a Value,
}

/// Runs the remaining stage-1 epochs; `zero_shot` receives the last validation's AUC per
/// disease (for `metrics.json`).
pub(super) fn stage1<B: AutodiffBackend>(
    ctx: &Context<'_, B>,
    state: &mut RunState,
    mut model: Trrg<B>,
    diseases: &DiseaseSet,
    zero_shot: &mut Value,
) -> crate::Result<Trrg<B>> {
    let Context {
        config,
        data,
        train_batcher,
        eval_batcher,
        checkpoints,
        log,
        device,
        ..
    } = *ctx;
    let stage = &config.stage1;
    let mut optim = Optimizers::<B>::new(stage);
    if !state.optim_file.is_empty() {
        optim = optim.load(checkpoints, &state.optim_file, device)?;
    }
    // The negation contrast's prompts (encoded with gradient at each step) and its bank.
    let negation = if config.clue.negation_weight > 0.0 {
        let prompts: Vec<&str> = diseases.prompts().into_iter().map(|p| p.2).collect();
        let prompts = SentenceBatch::encode(
            &*data.sentences,
            &prompts,
            config.max_sentence_length,
            device,
        )
        .map_err(trrg_model::Error::from)?;
        let bank = model.clue_bank_with(
            diseases,
            &*data.sentences,
            &*data.reports,
            config.max_sentence_length,
        )?;
        Some((prompts, bank))
    } else {
        None
    };
    for epoch in state.epochs_done..stage.epochs {
        let sums;
        (model, sums) = run_epoch(
            ctx,
            STAGE1,
            stage,
            epoch,
            state,
            model,
            &mut optim,
            |model, optim, indices| {
                let loss = contrastive_loss(
                    model,
                    train_batcher,
                    &items(&data.train, indices),
                    config,
                    &*data.sentences,
                    negation.as_ref().map(|(p, b)| (diseases, p, b)),
                    device,
                )?;
                let value = loss.clone().into_scalar().elem::<f32>();
                optim.backward(loss, model);
                Ok(StepLosses {
                    loss: value,
                    lm_loss: None,
                    consistency_loss: None,
                })
            },
        )?;
        // Validation: contrastive loss and zero-shot AUC per disease.
        let inner = model.valid();
        let mut val_sum = 0.0;
        let val_batches = epoch_batches(data.val.len(), config.batch_size, 0, 0, false);
        for indices in &val_batches {
            let items = items(&data.val, indices);
            val_sum += contrastive_loss(
                &inner,
                eval_batcher,
                &items,
                config,
                &*data.sentences,
                None,
                device,
            )?
            .into_scalar()
            .elem::<f64>();
        }
        let bank = inner.clue_bank_with(
            diseases,
            &*data.sentences,
            &*data.reports,
            config.max_sentence_length,
        )?;
        let aucs = zero_shot_auc(
            &inner,
            &data.val,
            eval_batcher,
            config.batch_size,
            &bank,
            device,
        )?;
        let known: Vec<f64> = aucs.values().flatten().copied().collect();
        let mean_auc = known.iter().sum::<f64>() / known.len().max(1) as f64;
        *zero_shot = json!(aucs);
        let val_loss = val_sum / val_batches.len().max(1) as f64;
        log.write(&ValRecord {
            stage: 1,
            epoch: epoch + 1,
            step: state.step,
            split: "val",
            loss: val_loss,
            zero_shot_auc_mean: mean_auc,
            zero_shot_auc: zero_shot,
        })?;
        ctx.report(format!(
            "stage 1 epoch {}/{}: train loss {:.4}, val loss {:.4}, zero-shot AUC (mean of {}) {:.3}, {:.0} s",
            epoch + 1,
            stage.epochs,
            sums.loss / sums.batches as f64,
            val_loss,
            known.len(),
            mean_auc,
            sums.seconds()
        ));
        state.epochs_done = epoch + 1;
        save(state, &model, &optim, checkpoints, config.keep_last)?;
    }
    Ok(model)
}

/// The disease set, its encoded prompts and its bank, for the negation contrast.
type Negation<'a, BB> = (&'a DiseaseSet, &'a SentenceBatch<BB>, &'a ClueBank<BB>);

/// Stage-1 loss of a batch: its images against its deduplicated report sentences, plus the
/// negation contrast when `negation` is given and the batch has labels (validation reports
/// the InfoNCE alone, comparable across settings).
fn contrastive_loss<BB: Backend>(
    model: &Trrg<BB>,
    batcher: &ReportBatcher,
    items: &[StudyItem],
    config: &TrainConfig,
    vocab: &dyn ReportTokenizer,
    negation: Option<Negation<'_, BB>>,
    device: &BB::Device,
) -> crate::Result<Tensor<BB, 1>> {
    let batch = batcher.try_batch::<BB>(items, device)?;
    let (sentences, positive) = sentence_set(items);
    let refs: Vec<&str> = sentences.iter().map(String::as_str).collect();
    let sentences = SentenceBatch::encode(vocab, &refs, config.max_sentence_length, device)
        .map_err(trrg_model::Error::from)?;
    let positive = Tensor::<BB, 2, Bool>::from_data(
        TensorData::new(positive, [items.len(), refs.len()]),
        device,
    );
    let negation = match (negation, &batch.labels) {
        (Some((set, prompts, bank)), Some(labels)) => Some(NegationContrast {
            set,
            prompts,
            bank,
            labels,
        }),
        _ => None,
    };
    Ok(model
        .contrastive_with(batch.images, &sentences, positive, negation)?
        .loss)
}
