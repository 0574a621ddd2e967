//! A training run end to end: stage 1, stage 2 with validation, test evaluation, outputs.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::data::dataset::Dataset;
use burn::module::{AutodiffModule, Module};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::TensorData;
use serde_json::{json, Value};
use trrg_clue::DiseaseSet;
use trrg_data::{ReportBatch, ReportBatcher, ReportTokenizer, WordVocab};
use trrg_llm::GenerationConfig;
use trrg_model::{ClueBank, ClueMode, PretrainedPaths, Trrg};
use trrg_text::SentenceBatch;

use crate::checkpoint::{Best, Checkpoints, RunState};
use crate::data::{epoch_batches, items, sentence_set, LabelSource, RunData};
use crate::evaluate::{evaluate, fit_clue_thresholds, thresholds_json, zero_shot_auc, Evaluation};
use crate::log::{progress, JsonlLog};
use crate::optim::Optimizers;
use crate::parallel::DataParallel;
use crate::schedule::learning_rate;
use crate::thresholds::CLUE_THRESHOLDS_FILE;
use crate::{Error, Freeze, LlmTraining, Selection, TrainConfig};

/// Where and how to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// R2Gen-layout data directory.
    pub data_dir: PathBuf,
    /// Run directory (config, vocabulary, checkpoints, logs, results).
    pub out_dir: PathBuf,
    /// Continue the run in `out_dir` from its last checkpoint.
    pub resume: bool,
    /// Hide progress bars and epoch lines.
    pub quiet: bool,
    /// Stop after this many stage-2 epochs in this invocation, as an interruption would (the
    /// run stays resumable; used to test `--resume`). None = run to the end.
    pub stop_after_stage2_epochs: Option<usize>,
}

/// What a finished run produced.
#[derive(Clone, Debug)]
pub struct RunSummary {
    /// The content of `metrics.json`.
    pub metrics: Value,
    /// The run directory.
    pub out_dir: PathBuf,
}

fn mix(seed: u64, stage: u64, epoch: u64) -> u64 {
    let mut z = seed
        ^ stage.wrapping_mul(0xA24B_AED4_963E_E407)
        ^ epoch.wrapping_mul(0x9FB2_1C65_1E98_DF25);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z ^ (z >> 31)
}

fn write_json(path: &Path, value: &Value) -> crate::Result<()> {
    let text = serde_json::to_string_pretty(value).unwrap_or_default() + "\n";
    trrg_data::write_atomic(path, text.as_bytes())?;
    Ok(())
}

/// Trains TRRG as `config` says on `options.data_dir`, writing everything to `options.out_dir`.
pub fn train<B: AutodiffBackend>(
    config: &TrainConfig,
    options: &RunOptions,
    device: &B::Device,
) -> crate::Result<RunSummary> {
    train_parallel::<B>(config, options, std::slice::from_ref(device))
}

/// [`train`] with stage 2 data-parallel over `devices` (see [`DataParallel`]); the first device
/// holds the optimizer and runs stage 1 (its InfoNCE needs the whole batch's negatives),
/// validation, test and checkpoints. One device is plain [`train`]. With dropout on, the workers
/// draw their masks from the backend's one generator in thread order, so a data-parallel run is
/// repeatable only up to that order.
pub fn train_parallel<B: AutodiffBackend>(
    config: &TrainConfig,
    options: &RunOptions,
    devices: &[B::Device],
) -> crate::Result<RunSummary> {
    config.validate()?;
    for device in devices {
        config.precision.apply::<B>(device)?;
    }
    let parallel = DataParallel::<B>::new(devices.to_vec())?;
    let device = &devices[0];
    let out = &options.out_dir;
    let checkpoints_state = out.join("checkpoints").join("state.json");
    let config_path = out.join("config.json");
    if options.resume {
        if !checkpoints_state.is_file() {
            return Err(Error::Checkpoint {
                path: checkpoints_state,
                reason: "nothing to resume: the run has no checkpoint yet".into(),
            });
        }
        let saved = TrainConfig::from_path(&config_path)?;
        if saved != *config {
            return Err(Error::InvalidConfig {
                field: "config".into(),
                reason: format!(
                    "differs from the run's {}; resume with the same settings",
                    config_path.display()
                ),
            });
        }
    } else if config_path.exists() || checkpoints_state.exists() {
        return Err(Error::RunExists { path: out.clone() });
    }

    let vocab_path = out.join("vocab.json");
    let saved_vocab = if options.resume && config.base.is_none() {
        Some(WordVocab::load(&vocab_path)?)
    } else {
        None
    };
    let data = RunData::load(&options.data_dir, config, saved_vocab)?;
    let diseases = match &config.diseases {
        Some(path) => DiseaseSet::from_path(path)?,
        None => DiseaseSet::chexpert(),
    };

    std::fs::create_dir_all(out).map_err(|source| Error::Io {
        action: "cannot create",
        path: out.clone(),
        source,
    })?;
    if !options.resume {
        write_json(
            &config_path,
            &serde_json::to_value(config).unwrap_or_default(),
        )?;
        if let Some(words) = &data.words {
            words.save(&vocab_path)?;
        }
        write_json(
            &out.join("diseases.json"),
            &serde_json::to_value(&diseases).unwrap_or_default(),
        )?;
        let _ = std::fs::remove_file(out.join("log.jsonl"));
    }
    let checkpoints = Checkpoints::new(out)?;
    let log = JsonlLog::new(out);
    let mut state = checkpoints
        .read_state()?
        .unwrap_or_else(|| RunState::new(1));
    if options.resume {
        log.truncate_after(state.stage, state.step)?;
    }

    let model_config = config.model_config(data.reports.vocab_size())?;
    B::seed(device, config.seed);
    let paths = config.base.as_ref().map(|b| b.paths());
    let mut model: Trrg<B> = init_model(&model_config, paths.as_ref(), device)?;
    // A stage-2 checkpoint holds the stage-2 layout (LoRA adapters, frozen parts).
    if state.stage == 2 {
        model = prepare_stage2(model, config, device)?;
    }
    if !state.model_file.is_empty() {
        model = checkpoints.load_module(&state.model_file, model, device)?;
    }
    let train_batcher = ReportBatcher::new(config.image.clone(), true, data.reports.pad_id())?;
    let eval_batcher = ReportBatcher::new(config.image.clone(), false, data.reports.pad_id())?;
    let kind = if data.synthetic { "SYNTHETIC" } else { "real" };
    log::info!(
        "training on {} ({kind}): {} train / {} val / {} test studies, vocabulary {}",
        data.dir.display(),
        data.train.len(),
        data.val.len(),
        data.test.len(),
        data.reports.vocab_size()
    );

    let ctx = Context::<B> {
        config,
        data: &data,
        train_batcher: &train_batcher,
        eval_batcher: &eval_batcher,
        checkpoints: &checkpoints,
        log: &log,
        options,
        device,
        parallel: (devices.len() > 1).then_some(&parallel),
    };
    // The stage-1 zero-shot AUC of metrics.json; a resumed run reads it back from the log.
    let mut zero_shot = log.last_zero_shot_auc().unwrap_or(Value::Null);
    if state.stage == 1 && state.epochs_done < config.stage1.epochs {
        model = stage1(&ctx, &mut state, model, &diseases, &mut zero_shot)?;
    }
    if state.stage == 1 {
        state = RunState {
            best: None,
            ..RunState::new(2)
        };
        model = prepare_stage2(model, config, device)?;
    }

    let bank = (config.clues != ClueMode::Off)
        .then(|| {
            model.clue_bank_with(
                &diseases,
                &*data.sentences,
                &*data.reports,
                config.max_sentence_length,
            )
        })
        .transpose()?;
    let generation = config.generation(data.reports.eos_id());
    if !state.finished && state.epochs_done < config.stage2.epochs {
        model = stage2(&ctx, &mut state, model, bank.as_ref(), &generation)?;
    }

    // Test evaluation of the best checkpoint.
    let best = state.best.clone();
    let best_model = match &best {
        Some(b) => checkpoints.load_module(&b.model_file, model.clone(), device)?,
        None => model,
    };
    let inner = best_model.valid();
    let inner_bank = bank.as_ref().map(|b| valid_bank::<B>(b));
    let test_bank = decision_bank(&ctx, &inner, inner_bank.as_ref())?;
    let thresholds = test_bank.as_ref().map_or(Value::Null, thresholds_json);
    if !thresholds.is_null() {
        write_json(&out.join(CLUE_THRESHOLDS_FILE), &thresholds)?;
    }
    let bar = progress(data.test.len(), "test", options.quiet);
    let test = evaluate(
        &inner,
        &data.test,
        None,
        &eval_batcher,
        config.batch_size,
        test_bank.as_ref(),
        &*data.reports,
        &generation,
        data.label_source == LabelSource::File,
        device,
        &bar,
    )?;
    bar.finish_and_clear();
    if zero_shot.is_null() {
        if let Some(b) = &inner_bank {
            zero_shot = json!(zero_shot_auc(
                &inner,
                &data.val,
                &eval_batcher,
                config.batch_size,
                b,
                device
            )?);
        }
    }
    let metrics = json!({
        "dataset": format!("{} ({})", config.dataset.name(), match (&data.real_reports, data.synthetic) {
            (Some(_), _) => "semi-synthetic",
            (None, true) => "synthetic",
            (None, false) => "real",
        }),
        "synthetic": data.synthetic,
        "semi_synthetic_reports": data.real_reports,
        "data_dir": data.dir.display().to_string(),
        "preset": config.preset.to_string(),
        "clues": config.clues.to_string(),
        "consistency_loss": config.consistency_loss,
        "seed": config.seed,
        // Read from a parameter: what the run computed in.
        "float_dtype": format!("{:?}", inner.markers.val().dtype()),
        "best_epoch": best.as_ref().map(|b| b.epoch),
        "val_zero_shot_auc": zero_shot,
        "clue_thresholds": thresholds,
        "test": test.scores,
    });
    write_json(&out.join("metrics.json"), &metrics)?;
    write_samples(&out.join("samples.jsonl"), &test)?;
    plots(out, &log)?;
    state.finished = true;
    checkpoints.write_state(&state)?;
    Ok(RunSummary {
        metrics,
        out_dir: out.clone(),
    })
}

/// The model of a run: `config` with random weights, or, for the `base` preset, with the
/// pretrained parts loaded from `paths`.
fn init_model<B: Backend>(
    config: &trrg_model::TrrgConfig,
    paths: Option<&PretrainedPaths>,
    device: &B::Device,
) -> crate::Result<Trrg<B>> {
    Ok(match paths {
        Some(paths) => Trrg::from_pretrained(config, paths, device)?,
        None => config.init(device)?,
    })
}

/// Stage 2's trainable set: the text encoder frozen (the prompt embeddings are computed once),
/// the visual encoder as `stage2_vision` says, the LLM as `stage2_llm` says, and what the clue
/// ablation leaves unused.
fn prepare_stage2<B: AutodiffBackend>(
    model: Trrg<B>,
    config: &TrainConfig,
    device: &B::Device,
) -> crate::Result<Trrg<B>> {
    let mut model = model.freeze_for_stage2(config.stage2_vision == Freeze::Frozen);
    model.llm = match &config.stage2_llm {
        LlmTraining::Full => model.llm,
        LlmTraining::Frozen => model.llm.no_grad(),
        LlmTraining::Lora(lora) => model.llm.with_lora(lora, device)?,
    };
    Ok(model)
}

/// The clue bank that validation and test generate with: with `fit_clue_thresholds`, hard clues
/// whose thresholds are fitted on the validation split for `model`; else `bank` itself.
fn decision_bank<B: AutodiffBackend>(
    ctx: &Context<'_, B>,
    model: &Trrg<B::InnerBackend>,
    bank: Option<&ClueBank<B::InnerBackend>>,
) -> crate::Result<Option<ClueBank<B::InnerBackend>>> {
    match bank {
        Some(b) if ctx.config.fit_clue_thresholds => Ok(Some(fit_clue_thresholds(
            model,
            &ctx.data.val,
            ctx.eval_batcher,
            ctx.config.batch_size,
            b,
            ctx.device,
        )?)),
        other => Ok(other.cloned()),
    }
}

fn valid_bank<B: AutodiffBackend>(bank: &ClueBank<B>) -> ClueBank<B::InnerBackend> {
    ClueBank {
        names: bank.names.clone(),
        prompts: trrg_clue::PromptEmbeddings {
            positive: bank.prompts.positive.clone().inner(),
            negative: bank.prompts.negative.clone().inner(),
        },
        label_columns: bank.label_columns.clone(),
        padding: bank.padding.clone().map(|p| p.inner()),
        tokens: bank.tokens.map(|i| i.inner(), |w| w.inner()),
        thresholds: bank.thresholds.clone(),
    }
}

fn check_finite(stage: &'static str, step: usize, value: f32) -> crate::Result<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(Error::Diverged { stage, step, value })
    }
}

/// What both stages read.
struct Context<'a, B: AutodiffBackend> {
    config: &'a TrainConfig,
    data: &'a RunData,
    train_batcher: &'a ReportBatcher,
    eval_batcher: &'a ReportBatcher,
    checkpoints: &'a Checkpoints,
    log: &'a JsonlLog,
    options: &'a RunOptions,
    device: &'a B::Device,
    /// Stage 2's data-parallel workers (None: one device).
    parallel: Option<&'a DataParallel<B>>,
}

fn stage1<B: AutodiffBackend>(
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
        options,
        device,
        parallel: _,
    } = *ctx;
    let stage = &config.stage1;
    let per_epoch = data.train.len().div_ceil(config.batch_size);
    let total_steps = (per_epoch * stage.epochs).div_ceil(stage.accumulation);
    let mut optim = Optimizers::<B>::new(stage);
    if !state.optim_file.is_empty() {
        optim = optim.load(checkpoints, &state.optim_file, device)?;
    }
    for epoch in state.epochs_done..stage.epochs {
        B::seed(device, mix(config.seed, 1, epoch as u64));
        data.train.set_epoch(epoch as u64);
        let bar = progress(
            per_epoch,
            &format!("stage 1 {}/{}", epoch + 1, stage.epochs),
            options.quiet,
        );
        let started = Instant::now();
        let mut sum = 0.0;
        for (i, indices) in epoch_batches(
            data.train.len(),
            config.batch_size,
            config.seed,
            epoch as u64,
            true,
        )
        .iter()
        .enumerate()
        {
            let loss = contrastive_loss(
                &model,
                train_batcher,
                &items(&data.train, indices),
                config,
                &*data.sentences,
                device,
            )?;
            let value = loss.clone().into_scalar().elem::<f32>();
            check_finite("stage 1", state.step, value)?;
            optim.backward(loss, &model);
            if optim.pending() == stage.accumulation || i + 1 == per_epoch {
                let lr = learning_rate(stage, state.step, total_steps);
                model = optim.step(model, lr, stage.vision_lr_scale);
                state.step += 1;
                log.write(json!({"stage": 1, "epoch": epoch + 1, "step": state.step, "loss": value, "lr": lr}))?;
            }
            sum += value as f64;
            bar.inc(1);
            bar.set_message(format!("loss {:.3}", sum / (i + 1) as f64));
        }
        bar.finish_and_clear();
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
        log.write(json!({"stage": 1, "epoch": epoch + 1, "step": state.step, "split": "val", "loss": val_loss, "zero_shot_auc_mean": mean_auc, "zero_shot_auc": aucs}))?;
        if !options.quiet {
            eprintln!(
                "stage 1 epoch {}/{}: train loss {:.4}, val loss {:.4}, zero-shot AUC (mean of {}) {:.3}, {:.0} s",
                epoch + 1,
                stage.epochs,
                sum / per_epoch as f64,
                val_loss,
                known.len(),
                mean_auc,
                started.elapsed().as_secs_f64()
            );
        }
        state.epochs_done = epoch + 1;
        save(state, &model, &optim, checkpoints, config.keep_last)?;
    }
    Ok(model)
}

/// Stage-1 loss of a batch: its images against its deduplicated report sentences.
fn contrastive_loss<BB: Backend>(
    model: &Trrg<BB>,
    batcher: &ReportBatcher,
    items: &[trrg_data::StudyItem],
    config: &TrainConfig,
    vocab: &dyn ReportTokenizer,
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
    Ok(model.contrastive(batch.images, &sentences, positive)?.loss)
}

fn save<B: AutodiffBackend>(
    state: &mut RunState,
    model: &Trrg<B>,
    optim: &Optimizers<B>,
    checkpoints: &Checkpoints,
    keep_last: usize,
) -> crate::Result<()> {
    let stem = format!("stage{}-epoch{:03}", state.stage, state.epochs_done);
    let (model_file, optim_file) = (format!("{stem}.model.mpk"), format!("{stem}.optim.mpk"));
    checkpoints.save_record::<B, _>(&model_file, model.clone().into_record())?;
    optim.save(checkpoints, &optim_file)?;
    let previous = std::mem::replace(&mut state.model_file, model_file);
    state.optim_file = optim_file;
    checkpoints.write_state(state)?;
    // Keep the last `keep_last` model files (the newest is always kept).
    let keep: Vec<String> = (1..keep_last)
        .filter_map(|k| state.epochs_done.checked_sub(k))
        .map(|e| format!("stage{}-epoch{e:03}.model.mpk", state.stage))
        .chain((keep_last > 1).then_some(previous))
        .collect();
    checkpoints.prune(state, &keep);
    Ok(())
}

fn stage2<B: AutodiffBackend>(
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
        eval_batcher,
        checkpoints,
        log,
        options,
        device,
        parallel,
    } = *ctx;
    let stage = &config.stage2;
    let first_epoch = state.epochs_done;
    let per_epoch = data.train.len().div_ceil(config.batch_size);
    let total_steps = (per_epoch * stage.epochs).div_ceil(stage.accumulation);
    let mut optim = Optimizers::<B>::new(stage);
    if state.stage == 2 && !state.optim_file.is_empty() {
        optim = optim.load(checkpoints, &state.optim_file, device)?;
    }
    let inner_bank = bank.map(valid_bank::<B>);
    // Each worker's copy of the clue bank, on its device.
    let worker_banks: Vec<Option<ClueBank<B>>> = parallel
        .map(|p| {
            p.devices()
                .iter()
                .map(|d| bank.map(|b| b.to_device(d)))
                .collect()
        })
        .unwrap_or_default();
    for epoch in state.epochs_done..stage.epochs {
        B::seed(device, mix(config.seed, 2, epoch as u64));
        data.train.set_epoch(1000 + epoch as u64);
        let bar = progress(
            per_epoch,
            &format!("stage 2 {}/{}", epoch + 1, stage.epochs),
            options.quiet,
        );
        let started = Instant::now();
        let (mut sum, mut sum_cons) = (0.0, 0.0);
        for (i, indices) in epoch_batches(
            data.train.len(),
            config.batch_size,
            config.seed ^ 2,
            epoch as u64,
            true,
        )
        .iter()
        .enumerate()
        {
            // The loss, the LM loss and the consistency loss of a batch on a model replica.
            let forward = |model: &Trrg<B>, batch: ReportBatch<B>, bank: Option<&ClueBank<B>>| {
                let out = model.forward_train(
                    batch.images,
                    batch.token_ids,
                    batch.attention_mask,
                    batch.label_mask,
                    batch.labels.as_ref(),
                    bank,
                )?;
                let mut values = vec![
                    out.loss.clone().into_scalar().elem::<f32>(),
                    out.lm_loss.into_scalar().elem::<f32>(),
                ];
                values.extend(out.consistency_loss.map(|c| c.into_scalar().elem::<f32>()));
                crate::Result::Ok((out.loss, values))
            };
            let values = match parallel {
                None => {
                    let batch =
                        train_batcher.try_batch::<B>(&items(&data.train, indices), device)?;
                    let (loss, values) = forward(&model, batch, bank)?;
                    optim.backward(loss, &model);
                    values
                }
                Some(p) => {
                    let mut shards = Vec::new();
                    for (k, range) in p.shards(indices.len()).into_iter().enumerate() {
                        let batch = train_batcher.try_batch::<B>(
                            &items(&data.train, &indices[range.clone()]),
                            &p.devices()[k],
                        )?;
                        shards.push(((k, batch), range.len() as f32 / indices.len() as f32));
                    }
                    let grads = p.gradients(&model, shards, |replica, (k, batch)| {
                        forward(replica, batch, worker_banks[k].as_ref())
                    })?;
                    optim.accumulate(&model, grads.vision, grads.rest);
                    grads.values
                }
            };
            let (value, lm, cons) = (values[0], values[1], values.get(2).copied());
            check_finite("stage 2", state.step, value)?;
            if optim.pending() == stage.accumulation || i + 1 == per_epoch {
                let lr = learning_rate(stage, state.step, total_steps);
                model = optim.step(model, lr, stage.vision_lr_scale);
                state.step += 1;
                log.write(json!({"stage": 2, "epoch": epoch + 1, "step": state.step, "loss": value, "lm_loss": lm, "consistency_loss": cons, "lr": lr}))?;
            }
            sum += lm as f64;
            sum_cons += cons.unwrap_or(0.0) as f64;
            bar.inc(1);
            bar.set_message(format!(
                "lm {:.3} cons {:.3}",
                sum / (i + 1) as f64,
                sum_cons / (i + 1) as f64
            ));
        }
        bar.finish_and_clear();
        state.epochs_done = epoch + 1;
        let last = epoch + 1 == stage.epochs;
        let mut line = format!(
            "stage 2 epoch {}/{}: lm loss {:.4}, consistency {:.4}, {:.0} s",
            epoch + 1,
            stage.epochs,
            sum / per_epoch as f64,
            sum_cons / per_epoch as f64,
            started.elapsed().as_secs_f64()
        );
        if (epoch + 1) % config.eval.every_epochs == 0 || last {
            let inner = model.valid();
            let bar = progress(data.val.len(), "validation", options.quiet);
            let val_generation = generation.clone().with_num_beams(config.eval.val_num_beams);
            let val_bank = decision_bank(ctx, &inner, inner_bank.as_ref())?;
            let val = evaluate(
                &inner,
                &data.val,
                config.eval.val_limit,
                eval_batcher,
                config.batch_size,
                val_bank.as_ref(),
                &*data.reports,
                &val_generation,
                data.label_source == LabelSource::File,
                device,
                &bar,
            )?;
            bar.finish_and_clear();
            let score = match config.eval.selection {
                Selection::Bleu4Cider => 0.5 * val.bleu4 + 0.5 * val.cider,
                Selection::CeF1 => val.ce_f1,
            };
            let thresholds = val_bank.as_ref().map(thresholds_json);
            log.write(json!({"stage": 2, "epoch": epoch + 1, "step": state.step, "split": "val", "score": score, "scores": val.scores, "clue_thresholds": thresholds}))?;
            line += &format!(
                ", val BLEU_4 {:.3} CIDEr {:.3} CE F1 {:.3}",
                val.bleu4, val.cider, val.ce_f1
            );
            if state.best.as_ref().is_none_or(|b| score > b.score) {
                let file = format!("stage2-best-epoch{:03}.model.mpk", epoch + 1);
                checkpoints.save_record::<B, _>(&file, model.clone().into_record())?;
                state.best = Some(Best {
                    epoch: epoch + 1,
                    score,
                    model_file: file,
                });
                line += " (best)";
            }
        }
        if !options.quiet {
            eprintln!("{line}");
        }
        save(state, &model, &optim, checkpoints, config.keep_last)?;
        if options.stop_after_stage2_epochs == Some(epoch + 1 - first_epoch) && !last {
            return Err(Error::Stopped { epochs: epoch + 1 });
        }
    }
    Ok(model)
}

fn write_samples(path: &Path, eval: &Evaluation) -> crate::Result<()> {
    let mut text = String::new();
    for s in &eval.samples {
        text += &serde_json::to_string(s).unwrap_or_default();
        text.push('\n');
    }
    trrg_data::write_atomic(path, text.as_bytes())?;
    Ok(())
}

fn plots(out: &Path, log: &JsonlLog) -> crate::Result<()> {
    let records = log.read();
    let dir = out.join("plots");
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
    let loss = |r: &Value| r["loss"].as_f64();
    crate::plot::plot(
        &dir.join("stage1_train_loss.png"),
        &[series(1, None, &loss)],
    )?;
    crate::plot::plot(
        &dir.join("stage1_val_loss.png"),
        &[series(1, Some("val"), &loss)],
    )?;
    crate::plot::plot(
        &dir.join("stage2_train_lm_and_consistency_loss.png"),
        &[
            series(2, None, &|r| r["lm_loss"].as_f64()),
            series(2, None, &|r| r["consistency_loss"].as_f64()),
        ],
    )?;
    crate::plot::plot(
        &dir.join("stage2_val_bleu4_cider_ce_f1.png"),
        &[
            series(2, Some("val"), &|r| r["scores"]["BLEU_4"].as_f64()),
            series(2, Some("val"), &|r| r["scores"]["CIDEr"].as_f64()),
            series(2, Some("val"), &|r| r["scores"]["CE"]["f1"].as_f64()),
        ],
    )?;
    Ok(())
}
