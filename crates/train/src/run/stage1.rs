//! Stage 1: contrastive pre-training (image against report-sentence InfoNCE), validated by the
//! contrastive loss and the zero-shot AUC per disease.

use burn::data::dataset::Dataset;
use burn::module::AutodiffModule;
use burn::prelude::*;
use burn::tensor::TensorData;
use serde::Serialize;
use serde_json::{json, Value};
use trrg_clue::DiseaseSet;
use trrg_data::{DiseaseLabels, ReportBatcher, ReportTokenizer, StudyItem};
use trrg_kernels::{TrrgAutodiff, TrrgOps};
use trrg_model::{sentence_batch, ClueBank, NegationContrast, Trrg};
use trrg_text::SentenceBatch;

use crate::data::{epoch_batches, items, sentence_set, SentenceLabels};
use crate::evaluate::known_mean;
use crate::optim::Optimizers;
use crate::parallel::{split, DataParallel, ParallelGrads};
use crate::probe::PromptConditioning;
use crate::RunState;

use super::epoch::{run_epoch, EpochSums, StepLosses, STAGE1};
use super::probe::val_perception;
use super::{save, Context};

/// The `log.jsonl` record of a stage-1 validation.
#[derive(Serialize)]
struct ValRecord<'a> {
    stage: u8,
    epoch: usize,
    step: usize,
    split: &'static str,
    loss: f64,
    /// Absent against present, blank and uncertain labels left out (the stage-1 figure of
    /// earlier runs).
    zero_shot_auc_mean: f64,
    zero_shot_auc: &'a Value,
    /// Present against the rest, as the test's per-observation clue AUC: the zero-shot term,
    /// and the full clue logits (zero-shot plus the refinement and the locator, as stage 2
    /// reads them), the yardstick of anything trained besides the alignment head.
    zero_shot_auc_vs_rest_mean: f64,
    zero_shot_auc_vs_rest: Value,
    clue_auc_mean: f64,
    clue_auc: Value,
    /// How far apart the prompt directions that the clue heads read are.
    prompts: PromptConditioning,
}

/// Runs the remaining stage-1 epochs; `zero_shot` receives the last validation's AUC per
/// disease (for `metrics.json`).
pub(super) fn stage1<B: TrrgAutodiff>(
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
        checkpoints,
        options,
        device,
        parallel1,
        ..
    } = *ctx;
    let stage = &config.stage1;
    let mut optim = Optimizers::<B>::new(stage);
    if !state.optim_file.is_empty() {
        optim = optim.load(checkpoints, &state.optim_file, device)?;
    }
    let negation = negation_prompts(ctx, &model, diseases)?;
    let mut sentence_labels = config.stage1_label_positives.then(SentenceLabels::default);
    // The workers' forward passes side by side on streams of their own, unless an encoder
    // draws dropout from the backend.
    let side_by_side = config.parallel_forward && model.backend_dropout() == (0.0, 0.0);
    for epoch in state.epochs_done..stage.epochs {
        let sums;
        (model, sums) = run_epoch(
            ctx,
            STAGE1,
            stage,
            state,
            model,
            &mut optim,
            |model, optim, indices, draws| {
                let items = items(&data.train, indices);
                let negation_for =
                    |k: usize| negation.as_ref().map(|n| (diseases, &n[k].0, &n[k].1));
                let loss = match parallel1 {
                    None => {
                        let loss = contrastive_loss(
                            model,
                            train_batcher,
                            &items,
                            SentenceEncoding::of(ctx),
                            negation_for(0),
                            sentence_labels.as_mut(),
                            device,
                        )?;
                        let value = loss.clone().into_scalar().elem::<f32>();
                        optim.backward(loss, model);
                        value
                    }
                    Some(p) => {
                        let grads = contrastive_gradients(
                            p,
                            model,
                            ctx,
                            &items,
                            side_by_side.then_some(draws),
                            &negation_for,
                            sentence_labels.as_mut(),
                        )?;
                        optim.accumulate(model, grads.vision, grads.rest);
                        grads.values[0]
                    }
                };
                Ok(StepLosses {
                    loss,
                    lm_loss: None,
                    consistency_loss: None,
                })
            },
        )?;
        validate(ctx, state, &model.valid(), diseases, &sums, zero_shot)?;
        state.epochs_done = epoch + 1;
        save(state, &model, &optim, checkpoints, config.keep_last)?;
        options.stop.check(1, epoch + 1)?;
    }
    Ok(model)
}

/// The negation contrast's prompts and bank on each worker's device.
type NegationPrompts<B> = Vec<(SentenceBatch<B>, ClueBank<B>)>;

/// The negation contrast's prompts (encoded with gradient at each step) and its bank, one
/// pair per worker's device; `None` without the contrast.
fn negation_prompts<B: TrrgAutodiff>(
    ctx: &Context<'_, B>,
    model: &Trrg<B>,
    diseases: &DiseaseSet,
) -> crate::Result<Option<NegationPrompts<B>>> {
    let (config, data) = (ctx.config, ctx.data);
    if config.clue.negation_weight <= 0.0 {
        return Ok(None);
    }
    let devices = ctx
        .parallel1
        .map_or(std::slice::from_ref(ctx.device), |p| p.devices());
    let bank = ctx.bank(model, diseases)?;
    let prompts: Vec<&str> = diseases.prompts().into_iter().map(|p| p.2).collect();
    devices
        .iter()
        .map(|d| {
            let prompts =
                sentence_batch(&*data.sentences, &prompts, config.max_sentence_length, d)?;
            Ok((prompts, bank.to_device(d)))
        })
        .collect::<crate::Result<Vec<_>>>()
        .map(Some)
}

/// Stage 1's validation after epoch `state.epochs_done` (counted from 0): the contrastive
/// loss, the zero-shot and full clue AUC per disease and the prompts' conditioning, reported
/// and logged; `zero_shot` receives the zero-shot AUC per disease.
fn validate<B: TrrgAutodiff>(
    ctx: &Context<'_, B>,
    state: &RunState,
    inner: &Trrg<B::InnerBackend>,
    diseases: &DiseaseSet,
    sums: &EpochSums,
    zero_shot: &mut Value,
) -> crate::Result<()> {
    let (config, data, device) = (ctx.config, ctx.data, ctx.device);
    let mut val_sum = 0.0;
    let val_batches = epoch_batches(data.val.len(), config.batch_size, 0, 0, false);
    for indices in &val_batches {
        let items = items(&data.val, indices);
        val_sum += contrastive_loss(
            inner,
            ctx.eval_batcher,
            &items,
            SentenceEncoding::of(ctx),
            None,
            None,
            device,
        )?
        .into_scalar()
        .elem::<f64>();
    }
    let bank = ctx.bank(inner, diseases)?;
    let perception = val_perception(ctx, inner, &bank)?;
    let (mean_auc, known) = known_mean(&perception.zero_shot_left_out);
    let (mean_zero_vs_rest, known_vs_rest) = known_mean(&perception.zero_shot);
    let (mean_clue_auc, _) = known_mean(&perception.clue);
    let prompts = PromptConditioning::of(&bank);
    *zero_shot = json!(perception.zero_shot_left_out);
    let val_loss = val_sum / val_batches.len().max(1) as f64;
    let condition = |c: Option<f64>| c.map_or("singular".into(), |c| format!("{c:.0}"));
    let epoch = state.epochs_done + 1;
    ctx.report(format!(
        "stage 1 epoch {}/{}: train loss {:.4}, val loss {:.4}, zero-shot AUC (mean of {known}) {:.3}; present vs rest (mean of {known_vs_rest}): zero-shot {:.3}, clue {:.3}; disease identities: cosine {:.2}, condition {}; {:.0} s",
        epoch,
        config.stage1.epochs,
        sums.loss / sums.batches as f64,
        val_loss,
        mean_auc,
        mean_zero_vs_rest,
        mean_clue_auc,
        prompts.identity.mean_cosine,
        condition(prompts.identity.condition_number),
        sums.seconds()
    ));
    ctx.log.write(&ValRecord {
        stage: 1,
        epoch,
        step: state.step,
        split: "val",
        loss: val_loss,
        zero_shot_auc_mean: mean_auc,
        zero_shot_auc: zero_shot,
        zero_shot_auc_vs_rest_mean: mean_zero_vs_rest,
        zero_shot_auc_vs_rest: json!(perception.zero_shot),
        clue_auc_mean: mean_clue_auc,
        clue_auc: json!(perception.clue),
        prompts,
    })?;
    Ok(())
}

/// Stage 1's gradients of a batch with its studies and sentences split over `parallel`'s
/// workers ([`DataParallel::contrastive_gradients`], with `draws`); as [`contrastive_loss`]
/// otherwise.
fn contrastive_gradients<'a, B: TrrgAutodiff>(
    parallel: &DataParallel<B>,
    model: &Trrg<B>,
    ctx: &Context<'_, B>,
    items: &[StudyItem],
    draws: Option<u64>,
    negation: &(dyn Fn(usize) -> Option<Negation<'a, B>> + Sync),
    label_positives: Option<&mut SentenceLabels>,
) -> crate::Result<ParallelGrads> {
    let (config, batcher) = (ctx.config, ctx.train_batcher);
    let (sentences, positive) = batch_sentences(items, label_positives);
    let positive = TensorData::new(positive, [items.len(), sentences.len()]);
    let workers = parallel
        .devices()
        .len()
        .min(items.len())
        .min(sentences.len());
    let inputs: Vec<_> = split(items.len(), workers)
        .into_iter()
        .zip(split(sentences.len(), workers))
        .enumerate()
        .collect();
    parallel.contrastive_gradients(
        model,
        inputs,
        draws,
        &positive,
        |replica, (k, (studies, texts))| {
            let device = &parallel.devices()[k];
            let shard = &items[studies.clone()];
            let batch = batcher.try_batch::<B>(shard, device)?;
            let encoded = encode_sentences(
                &*ctx.data.sentences,
                &sentences[texts],
                config.max_sentence_length,
                device,
            )?;
            let negation = negation_of(negation(k), &batch.labels);
            let parts = replica.contrastive_parts(batch.images, &encoded, negation)?;
            Ok((parts, studies.len() as f32 / items.len() as f32))
        },
    )
}

/// A batch's deduplicated report sentences and its `[studies, sentences]` positives; with
/// `label_positives`, a sentence true of a study by its labels is a positive too.
fn batch_sentences(
    items: &[StudyItem],
    label_positives: Option<&mut SentenceLabels>,
) -> (Vec<String>, Vec<bool>) {
    let (sentences, mut positive) = sentence_set(items);
    if let Some(labels) = label_positives {
        labels.add_positives(items, &sentences, &mut positive);
    }
    (sentences, positive)
}

/// `sentences` tokenized for the text encoder.
fn encode_sentences<BB: TrrgOps>(
    vocab: &dyn ReportTokenizer,
    sentences: &[String],
    max_len: usize,
    device: &BB::Device,
) -> crate::Result<SentenceBatch<BB>> {
    let refs: Vec<&str> = sentences.iter().map(String::as_str).collect();
    Ok(sentence_batch(vocab, &refs, max_len, device)?)
}

/// The negation contrast of a batch with `labels`, when asked for and the batch has labels.
fn negation_of<'a, B: TrrgOps>(
    negation: Option<Negation<'a, B>>,
    labels: &'a Option<DiseaseLabels<B>>,
) -> Option<NegationContrast<'a, B>> {
    match (negation, labels) {
        (Some((set, prompts, bank)), Some(labels)) => Some(NegationContrast {
            set,
            prompts,
            bank,
            labels,
        }),
        _ => None,
    }
}

/// The disease set, its encoded prompts and its bank, for the negation contrast.
type Negation<'a, BB> = (&'a DiseaseSet, &'a SentenceBatch<BB>, &'a ClueBank<BB>);

/// How stage 1 encodes a batch's sentences for the text encoder.
#[derive(Clone, Copy)]
struct SentenceEncoding<'a> {
    vocab: &'a dyn ReportTokenizer,
    /// The longest sentence, in tokens.
    max_len: usize,
}

impl<'a> SentenceEncoding<'a> {
    /// The run's sentence tokenizer and length.
    fn of<B: TrrgAutodiff>(ctx: &Context<'a, B>) -> Self {
        Self {
            vocab: &*ctx.data.sentences,
            max_len: ctx.config.max_sentence_length,
        }
    }
}

/// Stage-1 loss of a batch: its images against its deduplicated report sentences (with
/// `label_positives`, also against the sentences true of them by their labels), plus the
/// negation contrast when `negation` is given and the batch has labels (validation reports
/// the plain InfoNCE alone, comparable across settings).
fn contrastive_loss<BB: TrrgOps>(
    model: &Trrg<BB>,
    batcher: &ReportBatcher,
    items: &[StudyItem],
    encoding: SentenceEncoding<'_>,
    negation: Option<Negation<'_, BB>>,
    label_positives: Option<&mut SentenceLabels>,
    device: &BB::Device,
) -> crate::Result<Tensor<BB, 1>> {
    let batch = batcher.try_batch::<BB>(items, device)?;
    let (sentences, positive) = batch_sentences(items, label_positives);
    let positive = Tensor::<BB, 2, Bool>::from_data(
        TensorData::new(positive, [items.len(), sentences.len()]),
        device,
    );
    let sentences = encode_sentences(encoding.vocab, &sentences, encoding.max_len, device)?;
    let negation = negation_of(negation, &batch.labels);
    Ok(model
        .contrastive_with(batch.images, &sentences, positive, negation)?
        .loss)
}
