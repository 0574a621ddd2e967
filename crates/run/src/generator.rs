//! `ReportGenerator`: a trained run directory in, reports and clue probabilities out.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::prelude::*;
use trrg_data::{load_gray, GrayImage};
use trrg_kernels::TrrgOps;
use trrg_llm::GenerationConfig;
use trrg_model::{ClueBank, ClueMode, Trrg};
use trrg_tokenize::ReportTokenizer;

use crate::{Error, LlmTraining, RunDir, RunTokenizers, TrainConfig};

/// A generated report.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Report {
    /// The report text (R2Gen-cleaned style: lower case, ` .` between sentences).
    pub text: String,
    /// Clue probability per disease, in disease-set order (empty when the model has no clues).
    pub clues: Vec<(String, f32)>,
}

/// A trained model ready to write reports.
pub struct ReportGenerator<B: TrrgOps> {
    model: Trrg<B>,
    bank: Option<ClueBank<B>>,
    vocab: Arc<dyn ReportTokenizer>,
    /// Labels the beams' reports for `eval.clue_rerank` (its patterns are compiled once).
    labeler: Arc<trrg_labeler::Labeler>,
    config: TrainConfig,
    generation: GenerationConfig,
    device: B::Device,
}

impl<B: TrrgOps> ReportGenerator<B> {
    /// Loads a run directory written by `trrg_train::train`: `config.json`, `vocab.json` (the
    /// `base` preset reads its tokenizers from its checkpoints instead), `diseases.json`, the
    /// best (else the latest) checkpoint and, for a run that fits its clue thresholds,
    /// `clue_thresholds.json` (hard clues with those thresholds). An exported directory
    /// ([`crate::export_run`]) is read the same way, its weights from safetensors.
    pub fn from_dir(run_dir: impl AsRef<Path>, device: &B::Device) -> Result<Self, Error> {
        let path = run_dir.as_ref();
        if path.is_file() {
            return Err(Error::Checkpoint {
                path: path.to_path_buf(),
                reason: "is a file; --checkpoint expects a run directory (from trrg train) or an \
                         export directory (from trrg export)"
                    .into(),
            });
        }
        let dir = RunDir::new(path);
        let (model, config, tokenizers) = if dir.path(crate::EXPORT_FILE).is_file() {
            let config = crate::export::resolve_exported_paths(dir.root(), dir.read_config()?);
            let tokenizers = dir.tokenizers(&config)?;
            let model: Trrg<B> = config
                .model_config(tokenizers.reports.vocab_size())?
                .init(device)?;
            let model = crate::export::load_exported(dir.root(), model, &config, device)?;
            (model, config, tokenizers)
        } else {
            let (model, config, tokenizers, _) = load_run_model(&dir, device)?;
            (model, config, tokenizers)
        };
        let RunTokenizers {
            reports: vocab,
            sentences,
            ..
        } = tokenizers;
        let bank = if config.clue.mode == ClueMode::Off {
            None
        } else {
            let set = dir.read_diseases()?;
            let bank =
                model.clue_bank_with(&set, &*sentences, &*vocab, config.max_sentence_length)?;
            Some(if config.clue.fit_thresholds {
                let thresholds = dir.read_clue_thresholds(&bank.names)?;
                bank.with_thresholds(thresholds)?
            } else {
                bank
            })
        };
        let generation = config.generation(vocab.eos_id());
        Ok(Self {
            model,
            bank,
            vocab,
            labeler: Arc::new(trrg_labeler::Labeler::new()),
            config,
            generation,
            device: device.clone(),
        })
    }

    /// The per-disease thresholds of hard clues, in disease order (None = soft clues or no
    /// clues): a disease counts as present, and its clue as 1, where its probability reaches
    /// the threshold.
    pub fn clue_thresholds(&self) -> Option<&[f32]> {
        self.bank.as_ref()?.thresholds.as_deref()
    }

    /// The clue bank reports are written with (None for a run without clues).
    pub fn clue_bank(&self) -> Option<&ClueBank<B>> {
        self.bank.as_ref()
    }

    /// The model.
    pub fn model(&self) -> &Trrg<B> {
        &self.model
    }

    /// A report's hard clue decisions (disease order): each clue probability against its
    /// threshold, then the No Finding gate when the model has one ([`ClueBank::decide`]).
    /// None = soft clues or no clues.
    pub fn clue_decisions(&self, report: &Report) -> Option<Vec<bool>> {
        let probs: Vec<f32> = report.clues.iter().map(|(_, p)| *p).collect();
        self.bank.as_ref()?.decide(&probs)
    }

    /// The same model with every clue forced at inference: on where `on` (disease order) is
    /// true, off elsewhere ([`ClueBank::forced`]); for the obedience probe.
    pub fn with_forced_clues(&self, on: &[bool]) -> Result<Self, Error> {
        let bank = self.bank.clone().ok_or(Error::NoClues)?.forced(on)?;
        Ok(Self {
            model: self.model.clone(),
            bank: Some(bank),
            vocab: Arc::clone(&self.vocab),
            labeler: Arc::clone(&self.labeler),
            config: self.config.clone(),
            generation: self.generation.clone(),
            device: self.device.clone(),
        })
    }

    /// Decoding settings (the run's evaluation settings unless changed).
    pub fn generation_mut(&mut self) -> &mut GenerationConfig {
        &mut self.generation
    }

    /// Views per study the model was trained with.
    pub fn n_views(&self) -> usize {
        self.config.dataset.n_views()
    }

    /// The run's training config.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The disease names of the clues, in order (empty without clues).
    pub fn disease_names(&self) -> &[String] {
        self.bank.as_ref().map_or(&[], |b| b.names.as_slice())
    }

    /// Decodes the studies' views (PNG, JPEG or DICOM), in parallel.
    fn decode_studies(&self, studies: &[&[PathBuf]]) -> Result<Vec<Vec<GrayImage>>, Error> {
        use rayon::prelude::*;
        studies
            .par_iter()
            .map(|views| {
                views
                    .iter()
                    .map(|path| Ok(load_gray(path, &path.display().to_string())?))
                    .collect()
            })
            .collect()
    }

    /// One batch of studies' decoded views, through the run's image transform.
    ///
    /// # Shapes
    /// - output: `[studies.len(), n_views, channels, crop, crop]`
    fn batch(&self, studies: &[Vec<GrayImage>]) -> Result<Tensor<B, 5>, Error> {
        let want = self.n_views();
        if let Some(bad) = studies.iter().find(|views| views.len() != want) {
            return Err(Error::WrongViewCount {
                want,
                got: bad.len(),
            });
        }
        Ok(self
            .config
            .image
            .stack(studies, want, false, |_, _| 0, &self.device))
    }

    fn load_studies(&self, studies: &[&[PathBuf]]) -> Result<Tensor<B, 5>, Error> {
        self.batch(&self.decode_studies(studies)?)
    }

    /// Disease probabilities of one study: zero-shot perception (positive vs negative prompt per
    /// disease), refined as in stage 2 when the model has a refiner.
    pub fn perceive(&self, views: &[PathBuf]) -> Result<Vec<(String, f32)>, Error> {
        let bank = self.bank.as_ref().ok_or(Error::NoClues)?;
        let logits = self.model.clue_logits(self.load_studies(&[views])?, bank)?;
        let p = trrg_io::f32_values(burn::tensor::activation::sigmoid(logits));
        Ok(bank.names.iter().cloned().zip(p).collect())
    }

    /// Writes the report of one study from its view images (PNG or JPEG; as many views as the
    /// model was trained with).
    pub fn generate(&self, views: &[PathBuf]) -> Result<Report, Error> {
        Ok(self.generate_batch(&[views])?.remove(0))
    }

    /// Writes the reports of several studies in one batch (their images decoded in parallel);
    /// one report per study, in order.
    pub fn generate_batch(&self, studies: &[&[PathBuf]]) -> Result<Vec<Report>, Error> {
        if studies.is_empty() {
            return Ok(Vec::new());
        }
        self.generate_images(&self.decode_studies(studies)?)
    }

    /// Writes the reports of studies given as decoded views ([`trrg_data::decode_gray`]).
    pub fn generate_images(&self, studies: &[Vec<GrayImage>]) -> Result<Vec<Report>, Error> {
        if studies.is_empty() {
            return Ok(Vec::new());
        }
        let out = self.model.generate(
            self.batch(studies)?,
            self.bank.as_ref(),
            &self.generation,
            self.vocab.bos_id(),
        )?;
        out.into_iter()
            .map(|g| {
                Ok(Report {
                    text: crate::report_text(&g, self.bank.as_ref(), &self.labeler, &*self.vocab)?,
                    clues: self
                        .disease_names()
                        .iter()
                        .cloned()
                        .zip(g.clue_probabilities)
                        .collect(),
                })
            })
            .collect()
    }

    /// The clue locator's patch-level evidence for one study's decoded views (None for a model
    /// without clues or without a locator).
    pub fn evidence(&self, views: &[GrayImage]) -> Result<Option<Evidence>, Error> {
        let Some(bank) = self.bank.as_ref() else {
            return Ok(None);
        };
        let Some(maps) = self
            .model
            .clue_evidence(self.batch(&[views.to_vec()])?, bank)?
        else {
            return Ok(None);
        };
        let [_, n_clues, n_views, n_patches] = maps.dims();
        let values = trrg_io::f32_values(maps);
        let side = (n_patches as f64).sqrt().round() as usize;
        let grid = if side * side == n_patches {
            [side, side]
        } else {
            [1, n_patches]
        };
        let per_disease = bank
            .names
            .iter()
            .take(n_clues)
            .enumerate()
            .map(|(d, name)| {
                let maps = (0..n_views)
                    .map(|v| {
                        let start = (d * n_views + v) * n_patches;
                        values[start..start + n_patches].to_vec()
                    })
                    .collect();
                (name.clone(), maps)
            })
            .collect();
        Ok(Some(Evidence { grid, per_disease }))
    }
}

/// The clue locator's attention for one study: per disease and view, a weight per patch of the
/// encoder's grid (row-major); each disease's weights over all views sum to 1.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Evidence {
    /// Patch grid `[rows, columns]` over the (cropped) input image.
    pub grid: [usize; 2],
    /// `(disease, [view][patch])`, in disease-set order.
    pub per_disease: Vec<(String, Vec<Vec<f32>>)>,
}

/// The trained model of a run directory: its config, tokenizers, and the best (else the latest)
/// checkpoint, with LoRA adapters attached first for a LoRA run; returns the checkpoint's name too.
pub(crate) fn load_run_model<B: TrrgOps>(
    dir: &RunDir,
    device: &B::Device,
) -> Result<(Trrg<B>, TrainConfig, RunTokenizers, String), Error> {
    let config = dir.read_config()?;
    let tokenizers = dir.tokenizers(&config)?;
    let state = dir
        .read_state(&config)?
        .ok_or_else(|| Error::NoCheckpoint {
            dir: dir.root().to_path_buf(),
        })?;
    let file = state.best.map(|b| b.model_file).unwrap_or(state.model_file);
    let model = load_checkpoint(dir, &config, &tokenizers, &file, device)?;
    Ok((model, config, tokenizers, file))
}

/// The model of the run's checkpoint `file` (in `checkpoints/`): built from the run's config,
/// with the LLM's LoRA adapters where the file is a stage-2 checkpoint of a LoRA run.
pub(crate) fn load_checkpoint<B: TrrgOps>(
    dir: &RunDir,
    config: &TrainConfig,
    tokenizers: &RunTokenizers,
    file: &str,
    device: &B::Device,
) -> Result<Trrg<B>, Error> {
    let mut model: Trrg<B> = config
        .model_config(tokenizers.reports.vocab_size())?
        .init(device)?;
    if let (LlmTraining::Lora(lora), true) = (&config.stage2_llm, file.starts_with("stage2")) {
        model.llm = model.llm.with_lora(lora, device)?;
    }
    dir.checkpoints()?.load_module(file, model, device)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `tests/fixtures/micro-run` (written by `scripts/make-run-fixture.sh` with the code of
    /// 2026-12-07): a trained run directory, two studies' views and what that code wrote for
    /// them. Any later code must read the directory and write the same reports, byte for byte,
    /// and the same clue probabilities up to float summation order across CPUs.
    #[test]
    fn fixture_run_generates_its_committed_reports() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/micro-run");
        let expected: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap())
                .unwrap();
        let device = Default::default();
        let generator = ReportGenerator::<burn::backend::Flex>::from_dir(&dir, &device).unwrap();
        let studies: Vec<Vec<PathBuf>> = expected
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                s["views"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| dir.join("views").join(v.as_str().unwrap()))
                    .collect()
            })
            .collect();
        let refs: Vec<&[PathBuf]> = studies.iter().map(Vec::as_slice).collect();
        let reports = generator.generate_batch(&refs).unwrap();
        assert_eq!(reports.len(), studies.len());
        for (report, want) in reports.iter().zip(expected.as_array().unwrap()) {
            let want = &want["generated"];
            assert_eq!(report.text, want["report"].as_str().unwrap());
            let clues = want["clues"].as_object().unwrap();
            assert_eq!(report.clues.len(), clues.len());
            for (name, p) in &report.clues {
                let w = clues[name].as_f64().unwrap() as f32;
                assert!((p - w).abs() < 1e-4, "{name}: {p} against {w}");
            }
        }
        let thresholds: Vec<f32> = expected[0]["generated"]["clue_thresholds"]
            .as_object()
            .unwrap()
            .values()
            .map(|t| t.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(generator.clue_thresholds().unwrap(), thresholds.as_slice());
    }
}
