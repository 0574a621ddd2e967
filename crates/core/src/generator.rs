//! `ReportGenerator`: a trained run directory in, reports and clue probabilities out.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::TensorData;
use trrg_clue::DiseaseSet;
use trrg_data::{load_gray, ReportTokenizer, WordVocab};
use trrg_llm::GenerationConfig;
use trrg_model::{ClueBank, ClueMode, Trrg};
use trrg_train::{read_clue_thresholds, Checkpoints, RunTokenizers, TrainConfig};

/// Errors of [`ReportGenerator`].
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum Error {
    /// The run directory lacks a file or it is malformed.
    #[error(transparent)]
    Train(#[from] trrg_train::Error),
    /// An input image or the vocabulary could not be read.
    #[error(transparent)]
    Data(#[from] trrg_data::Error),
    /// The model failed.
    #[error(transparent)]
    Model(#[from] trrg_model::Error),
    /// The disease set failed.
    #[error(transparent)]
    Clue(#[from] trrg_clue::Error),
    /// The request itself is wrong.
    #[error("{0}")]
    Request(String),
}

/// A generated report.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Report {
    /// The report text (R2Gen-cleaned style: lower case, ` .` between sentences).
    pub text: String,
    /// Clue probability per disease, in disease-set order (empty when the model has no clues).
    pub clues: Vec<(String, f32)>,
}

/// A trained model ready to write reports.
pub struct ReportGenerator<B: Backend> {
    model: Trrg<B>,
    bank: Option<ClueBank<B>>,
    vocab: Arc<dyn ReportTokenizer>,
    config: TrainConfig,
    generation: GenerationConfig,
    device: B::Device,
}

impl<B: Backend> ReportGenerator<B> {
    /// Loads a run directory written by [`trrg_train::train`]: `config.json`, `vocab.json` (the
    /// `base` preset reads its tokenizers from its checkpoints instead), `diseases.json`, the
    /// best (else the latest) checkpoint and, for a run that fits its clue thresholds,
    /// `clue_thresholds.json` (hard clues with those thresholds).
    pub fn from_dir(run_dir: impl AsRef<Path>, device: &B::Device) -> Result<Self, Error> {
        let dir = run_dir.as_ref();
        let config = TrainConfig::from_path(&dir.join("config.json"))?;
        let RunTokenizers {
            reports: vocab,
            sentences,
            ..
        } = RunTokenizers::for_config(&config, || Ok(WordVocab::load(dir.join("vocab.json"))?))?;
        let checkpoints = Checkpoints::new(dir)?;
        let state = checkpoints.read_state()?.ok_or_else(|| {
            Error::Request(format!(
                "{} has no checkpoint (checkpoints/state.json)",
                dir.display()
            ))
        })?;
        let file = state.best.map(|b| b.model_file).unwrap_or(state.model_file);
        let model: Trrg<B> = config.model_config(vocab.vocab_size())?.init(device)?;
        let model = checkpoints.load_module(&file, model, device)?;
        let bank = if config.clues == ClueMode::Off {
            None
        } else {
            let set = DiseaseSet::from_path(dir.join("diseases.json"))?;
            let bank =
                model.clue_bank_with(&set, &*sentences, &*vocab, config.max_sentence_length)?;
            Some(if config.fit_clue_thresholds {
                let thresholds = read_clue_thresholds(dir, &bank.names)?;
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

    /// Decoding settings (the run's evaluation settings unless changed).
    pub fn generation_mut(&mut self) -> &mut GenerationConfig {
        &mut self.generation
    }

    fn load_views(&self, views: &[PathBuf]) -> Result<Tensor<B, 5>, Error> {
        let want = self.config.dataset.n_views();
        if views.len() != want {
            return Err(Error::Request(format!(
                "this model takes {want} view(s) per study, {} given",
                views.len()
            )));
        }
        let transform = &self.config.image;
        let mut pixels = Vec::with_capacity(want * transform.output_len());
        for path in views {
            let image = load_gray(path, &path.display().to_string())?;
            pixels.extend(transform.apply(&image, false, 0));
        }
        let side = transform.crop;
        Ok(Tensor::from_data(
            TensorData::new(pixels, [1, want, transform.channels, side, side]),
            &self.device,
        ))
    }

    /// Disease probabilities of one study: zero-shot perception (positive vs negative prompt per
    /// disease), refined as in stage 2 when the model has a refiner.
    pub fn perceive(&self, views: &[PathBuf]) -> Result<Vec<(String, f32)>, Error> {
        let bank = self.bank.as_ref().ok_or_else(|| {
            Error::Request("this run was trained without clues (clues: off)".into())
        })?;
        let logits = self.model.clue_logits(self.load_views(views)?, bank)?;
        let p = burn::tensor::activation::sigmoid(logits)
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .unwrap_or_default();
        Ok(bank.names.iter().cloned().zip(p).collect())
    }

    /// Writes the report of one study from its view images (PNG or JPEG; as many views as the
    /// model was trained with).
    pub fn generate(&self, views: &[PathBuf]) -> Result<Report, Error> {
        let images = self.load_views(views)?;
        let out = self
            .model
            .generate(
                images,
                self.bank.as_ref(),
                &self.generation,
                self.vocab.bos_id(),
            )?
            .remove(0);
        let names = self
            .bank
            .as_ref()
            .map(|b| b.names.clone())
            .unwrap_or_default();
        Ok(Report {
            text: self.vocab.decode(&out.ids),
            clues: names.into_iter().zip(out.clue_probabilities).collect(),
        })
    }
}
