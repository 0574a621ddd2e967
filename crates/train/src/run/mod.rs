//! A training run end to end: stage 1, stage 2 with validation, test evaluation, outputs.

//!
//! - `epoch.rs`: one epoch of either stage (order, accumulation, steps, log, progress);
//! - `stage1.rs`, `stage2.rs`: what each stage computes per batch and validates per epoch;
//! - `test.rs`: the best checkpoint on the test split and the run's result files;
//! - `probe.rs`: the end of a stage-1-only run (`stage2.epochs = 0`), the perception probe.

mod epoch;
mod probe;
mod stage1;
mod stage2;
mod test;

use std::path::PathBuf;

use burn::data::dataset::Dataset;
use burn::module::Module;
use serde_json::Value;
use trrg_clue::DiseaseSet;
use trrg_data::{ReportBatcher, ReportDataset};
use trrg_kernels::{TrrgAutodiff, TrrgOps};
use trrg_llm::GenerationConfig;
use trrg_model::{ClueBank, ClueMode, PretrainedPaths, Trrg};

use crate::data::{corpus_prompts, positive_log_odds, LabelSource, RunData};
use crate::evaluate::{fit_clue_thresholds, EvalContext};
use crate::log::JsonlLog;
use crate::optim::Optimizers;
use crate::parallel::DataParallel;
use crate::{Checkpoints, Error, Freeze, LlmTraining, RunDir, RunState, TrainConfig};

use probe::perception_probe;
use stage1::stage1;
use stage2::stage2;
use test::test;

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
    /// Set it (from another thread or a signal handler) to end the run after the epoch in
    /// progress is saved, with [`Error::Stopped`]; the run then continues with `resume`.
    pub stop: StopFlag,
}

/// A request to stop a running [`train`] at the next epoch boundary: checked after each
/// epoch's checkpoint is written (not after the last stage-2 epoch, whose run goes on to its
/// test). Clones share one flag. `trrg train` sets it on the first Ctrl-C.
#[derive(Clone, Debug, Default)]
pub struct StopFlag(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl StopFlag {
    /// A flag that is not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the run to stop after the epoch in progress.
    pub fn stop(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    pub fn is_set(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// [`Error::Stopped`] when a stop was asked for after epoch `epochs` of `stage`.
    pub(crate) fn check(&self, stage: u8, epochs: usize) -> crate::Result<()> {
        match self.is_set() {
            true => Err(Error::Stopped { stage, epochs }),
            false => Ok(()),
        }
    }
}

/// What a finished run produced.
#[derive(Clone, Debug)]
pub struct RunSummary {
    /// The content of `metrics.json`.
    pub metrics: Value,
    /// The run directory.
    pub out_dir: PathBuf,
}

/// Trains TRRG as `config` says on `options.data_dir`, writing everything to `options.out_dir`.
pub fn train<B: TrrgAutodiff>(
    config: &TrainConfig,
    options: &RunOptions,
    device: &B::Device,
) -> crate::Result<RunSummary> {
    train_parallel::<B>(config, options, std::slice::from_ref(device))
}

/// [`train`] data-parallel over `devices` (see [`DataParallel`]): in stage 2 at least
/// `config.stage2_workers` workers, one per device when there are more devices, taking the
/// devices in turn, and in stage 1 likewise with `config.stage1_workers` (whose InfoNCE
/// gathers every worker's embeddings). The first device holds the optimizer and runs
/// validation, test and checkpoints. With `config.parallel_forward`, the workers run their
/// forward passes side by side, each drawing from a random stream of its own, so every run
/// repeats exactly. Otherwise (or where an encoder's burn `TransformerEncoder` has a dropout),
/// workers that share a device run their forward passes in shard order, so such a run repeats
/// exactly, and workers on distinct devices draw their dropout masks from the backend's
/// generator in thread order, so a multi-device run repeats only up to that order.
pub fn train_parallel<B: TrrgAutodiff>(
    config: &TrainConfig,
    options: &RunOptions,
    devices: &[B::Device],
) -> crate::Result<RunSummary> {
    config.validate()?;
    let config = &*with_local_paths(config)?;
    for device in devices {
        config.precision.apply::<B>(device)?;
    }
    let parallel =
        DataParallel::<B>::new(DataParallel::<B>::workers(devices, config.stage2_workers))?;
    let parallel1 =
        DataParallel::<B>::new(DataParallel::<B>::workers(devices, config.stage1_workers))?;
    let device = &devices[0];
    let run = RunDir::new(&options.out_dir);
    check_resume(&run, config, options.resume)?;

    let saved_vocab = if options.resume && config.base.is_none() {
        Some(run.read_vocab()?)
    } else {
        None
    };
    let data = RunData::load(&options.data_dir, config, saved_vocab)?;
    let diseases = run_diseases(config, &data)?;
    let (checkpoints, log, mut state) = open_run(&run, config, options, &data, &diseases)?;
    let mut model = initial_model::<B>(config, &data, &state, &checkpoints, device)?;
    let train_batcher = ReportBatcher::new(config.image.clone(), true, data.reports.pad_id())?;
    let eval_batcher = ReportBatcher::new(config.image.clone(), false, data.reports.pad_id())?;
    log::info!("training on {}", data.summary());

    let ctx = Context::<B> {
        config,
        data: &data,
        train_batcher: &train_batcher,
        eval_batcher: &eval_batcher,
        checkpoints: &checkpoints,
        log: &log,
        options,
        device,
        parallel: (parallel.devices().len() > 1).then_some(&parallel),
        parallel1: (parallel1.devices().len() > 1).then_some(&parallel1),
    };
    // The stage-1 zero-shot AUC of metrics.json; a resumed run reads it back from the log.
    let mut zero_shot = log.last_zero_shot_auc()?.unwrap_or(Value::Null);
    if state.stage == 1 && state.epochs_done < config.stage1.epochs {
        model = stage1(&ctx, &mut state, model, &diseases, &mut zero_shot)?;
    }
    if config.stage2.epochs == 0 {
        let metrics = perception_probe(&ctx, &run, &model, &diseases)?;
        return finish(&ctx, state, metrics);
    }
    if state.stage == 1 {
        state = RunState {
            best: None,
            ..RunState::new(2)
        };
        model = prepare_stage2(model, config, device)?;
        if config.clue.spatial_fit && config.clue.mode != ClueMode::Off {
            model = fit_spatial_readout(&ctx, model, &diseases)?;
        }
    }

    let bank = (config.clue.mode != ClueMode::Off)
        .then(|| ctx.bank(&model, &diseases))
        .transpose()?;
    let generation = config.generation(data.reports.eos_id());
    if !state.finished && state.epochs_done < config.stage2.epochs {
        model = stage2(&ctx, &mut state, model, bank.as_ref(), &generation)?;
    }
    let metrics = test(
        &ctx,
        &run,
        &state,
        model,
        bank.as_ref(),
        &generation,
        zero_shot,
    )?;
    finish(&ctx, state, metrics)
}

/// `config` with the `base` preset's hub ids replaced by the local paths they resolve to.
fn with_local_paths(config: &TrainConfig) -> crate::Result<std::borrow::Cow<'_, TrainConfig>> {
    Ok(match &config.base {
        Some(base) => std::borrow::Cow::Owned(TrainConfig {
            base: Some(base.resolve_hub_ids()?),
            ..config.clone()
        }),
        None => std::borrow::Cow::Borrowed(config),
    })
}

/// Marks the run finished in its state and returns its summary.
fn finish<B: TrrgAutodiff>(
    ctx: &Context<'_, B>,
    mut state: RunState,
    metrics: Value,
) -> crate::Result<RunSummary> {
    state.finished = true;
    ctx.checkpoints.write_state(&state)?;
    Ok(RunSummary {
        metrics,
        out_dir: ctx.options.out_dir.clone(),
    })
}

/// Creates the run directory (a new run writes its config, vocabulary, disease set and data
/// directory there) and returns its checkpoints, its log (a resumed run's cut after the
/// state's step) and the state to start from.
fn open_run(
    run: &RunDir,
    config: &TrainConfig,
    options: &RunOptions,
    data: &RunData,
    diseases: &DiseaseSet,
) -> crate::Result<(Checkpoints, JsonlLog, RunState)> {
    run.create()?;
    if !options.resume {
        run.write_config(config)?;
        if let Some(words) = &data.words {
            run.write_vocab(words)?;
        }
        run.write_diseases(diseases)?;
        run.write_data_dir(&options.data_dir)?;
        let _ = std::fs::remove_file(run.path("log.jsonl"));
    }
    let checkpoints = run.checkpoints()?;
    let log = JsonlLog::new(run.root());
    let state = run.read_state(config)?.unwrap_or_else(|| RunState::new(1));
    if options.resume {
        log.truncate_after(state.stage, state.step)?;
    }
    Ok((checkpoints, log, state))
}

/// The run's disease set: the config's file or CheXpert's, led by the training corpus's
/// phrasing with `corpus_prompts`.
fn run_diseases(config: &TrainConfig, data: &RunData) -> crate::Result<DiseaseSet> {
    let diseases = match &config.diseases {
        Some(path) => DiseaseSet::from_path(path)?,
        None => DiseaseSet::chexpert(),
    };
    Ok(if config.corpus_prompts {
        let reports: Vec<String> = (0..data.train.len())
            .filter_map(|i| data.train.get(i))
            .map(|item| item.report)
            .collect();
        corpus_prompts(reports.iter().map(String::as_str), &diseases)
    } else {
        diseases
    })
}

/// The model a run starts or resumes from: initialized under the seed (from the pretrained
/// parts of `base`), the per-disease readout at each observation's training base rate, in
/// the stage-2 layout (LoRA adapters, frozen parts) for a stage-2 state, with the state's
/// checkpoint loaded.
fn initial_model<B: TrrgAutodiff>(
    config: &TrainConfig,
    data: &RunData,
    state: &RunState,
    checkpoints: &Checkpoints,
    device: &B::Device,
) -> crate::Result<Trrg<B>> {
    let model_config = config.model_config(data.reports.vocab_size())?;
    B::seed(device, config.seed);
    let paths = config.base.as_ref().map(|b| b.paths());
    let mut model: Trrg<B> = init_model(&model_config, paths.as_ref(), device)?;
    if let Some(readout) = model.clue_readout.take() {
        let bias = positive_log_odds(&data.train, readout.n_slots());
        model.clue_readout = Some(readout.with_bias(&bias)?);
    } else if let Some(spatial) = model.clue_spatial.take() {
        let bias = positive_log_odds(&data.train, spatial.n_slots());
        model.clue_spatial = Some(spatial.with_bias(&bias)?);
    }
    if state.stage == 2 {
        model = prepare_stage2(model, config, device)?;
    }
    if !state.model_file.is_empty() {
        model = checkpoints.load_module(&state.model_file, model, device)?;
    }
    Ok(model)
}

/// A new run needs an empty directory; a resumed one a checkpoint and the same config.
fn check_resume(run: &RunDir, config: &TrainConfig, resume: bool) -> crate::Result<()> {
    if !resume {
        if run.holds_run() {
            return Err(Error::RunExists {
                path: run.root().to_path_buf(),
            });
        }
        return Ok(());
    }
    let state = run.state_path();
    if !state.is_file() {
        return Err(Error::Checkpoint {
            path: state,
            reason: "nothing to resume: the run has no checkpoint yet".into(),
        });
    }
    if run.read_config()? != *config {
        return Err(Error::InvalidConfig {
            field: "config".into(),
            reason: format!(
                "differs from the run's {}; resume with the same settings",
                run.config_path().display()
            ),
        });
    }
    Ok(())
}

/// The model of a run: `config` with random weights, or, for the `base` preset, with the
/// pretrained parts loaded from `paths`.
fn init_model<B: TrrgOps>(
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
fn prepare_stage2<B: TrrgAutodiff>(
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

/// The model with its spatial readout at the perception probe's fit on the training split
/// ([`crate::probe::fit_spatial`]).
fn fit_spatial_readout<B: TrrgAutodiff>(
    ctx: &Context<'_, B>,
    mut model: Trrg<B>,
    diseases: &DiseaseSet,
) -> crate::Result<Trrg<B>> {
    let inner = burn::module::AutodiffModule::valid(&model);
    let bank = ctx.bank(&inner, diseases)?;
    let start = std::time::Instant::now();
    let fit = crate::probe::fit_spatial(
        &inner,
        &ctx.data.train,
        ctx.eval_batcher,
        ctx.config.batch_size,
        &bank,
        ctx.device,
    )?;
    if let (Some((weight, bias)), Some(spatial)) = (fit, model.clue_spatial.take()) {
        model.clue_spatial = Some(spatial.with_values(weight, &bias)?);
        ctx.report(format!(
            "spatial readout fitted on the training split's patch grids in {:.0} s",
            start.elapsed().as_secs_f64()
        ));
    }
    Ok(model)
}

/// The clue bank that validation and test generate with: with `clue.fit_thresholds`, hard clues
/// whose thresholds are fitted on the validation split for `model`; else `bank` itself.
fn decision_bank<B: TrrgAutodiff>(
    ctx: &Context<'_, B>,
    model: &Trrg<B::InnerBackend>,
    bank: Option<&ClueBank<B::InnerBackend>>,
) -> crate::Result<Option<ClueBank<B::InnerBackend>>> {
    match bank {
        Some(b) if ctx.config.clue.fit_thresholds => Ok(Some(fit_clue_thresholds(
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

/// What both stages read.
struct Context<'a, B: TrrgAutodiff> {
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
    /// Stage 1's (None: one worker).
    parallel1: Option<&'a DataParallel<B>>,
}

impl<B: TrrgAutodiff> Context<'_, B> {
    /// The evaluation of `dataset`'s first `limit` studies (None: all) with the run's batcher,
    /// tokenizer and labels, the clue `bank` and the decoding settings `generation`.
    fn eval_context<'a>(
        &'a self,
        dataset: &'a ReportDataset,
        limit: Option<usize>,
        bank: Option<&'a ClueBank<B::InnerBackend>>,
        generation: &'a GenerationConfig,
    ) -> EvalContext<'a, B::InnerBackend> {
        EvalContext {
            dataset,
            limit,
            batcher: self.eval_batcher,
            batch_size: self.config.batch_size,
            bank,
            tokenizer: &*self.data.reports,
            generation,
            ground_truth: self.data.label_source == LabelSource::File,
            device: self.device,
        }
    }

    /// `diseases`' clue bank for `model` (on either backend), with the run's tokenizers.
    fn bank<BB: TrrgOps>(
        &self,
        model: &Trrg<BB>,
        diseases: &DiseaseSet,
    ) -> crate::Result<ClueBank<BB>> {
        Ok(model.clue_bank_with(
            diseases,
            &*self.data.sentences,
            &*self.data.reports,
            self.config.max_sentence_length,
        )?)
    }

    /// An epoch's summary line, logged at `info` under [`crate::PROGRESS_TARGET`]: the
    /// program's logger shows it (trrg's programs do unless `--quiet`).
    fn report(&self, line: String) {
        log::info!(target: crate::PROGRESS_TARGET, "{line}");
    }
}

fn save<B: TrrgAutodiff>(
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
