//! `Trrg<B>`: the assembled model.

use burn::module::Param;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use burn::tensor::TensorData;
use trrg_clue::DiseaseLabels;
use trrg_clue::{
    consistency_loss, info_nce, zero_shot_logits, AlignmentConfig, AlignmentHead, ClueEmbedder,
    ClueEmbedderConfig, ClueLocator, ClueLocatorConfig, ClueReadout, ClueReadoutConfig,
    ClueRefiner, ClueRefinerConfig, ClueSpatial, ClueSpatialConfig, DiseaseSet, PromptEmbeddings,
};
use trrg_interact::ClueInteraction;
use trrg_kernels::TrrgOps;
use trrg_llm::{masked_cross_entropy, real_mask, GenerationConfig, LlamaForCausalLM};
use trrg_text::{mean_pool, Bert, SentenceBatch};
use trrg_tokenize::ReportTokenizer;
use trrg_vision::VisionEncoder;

use crate::prefix::{Forced, Mode};
use crate::{
    ClueBank, ClueMode, ClueOptions, Error, NoFindingGate, PromptTokens, TrrgConfig, ViewFusion,
};

/// Settings the forward pass reads (from [`TrrgConfig`]).
#[derive(Clone, Debug)]
pub struct Settings {
    /// The clue path's options.
    pub clue: ClueOptions,
    /// Multi-view fusion.
    pub view_fusion: ViewFusion,
    /// Pooled patch grid for the LLM (0 = all patches).
    pub llm_patch_grid: usize,
}

/// The TRRG model: visual encoder -> projector -> clue interaction -> soft prompt -> LLM, plus
/// the text encoder and alignment head of stage 1 and zero-shot perception.
#[derive(Module, Debug)]
pub struct Trrg<B: TrrgOps> {
    /// Visual encoder.
    pub vision: VisionEncoder<B>,
    /// Text encoder.
    pub text: Bert<B>,
    /// Image-text alignment head (projections + temperature).
    pub align: AlignmentHead<B>,
    /// Visual tokens to the interaction width, `[d_vision, d_interact]`.
    pub visual_proj: Linear<B>,
    /// Learned view embeddings, `[max_views, d_interact]`.
    pub view_embed: Param<Tensor<B, 2>>,
    /// Disease-aware refinement of the zero-shot clue logits (None when off).
    pub clue_refiner: Option<ClueRefiner<B>>,
    /// Patch-level evidence for the clue logits (None when off).
    pub clue_locator: Option<ClueLocator<B>>,
    /// Each CheXpert observation's own clue parameters on top of the heads (None when off).
    pub clue_readout: Option<ClueReadout<B>>,
    /// Each CheXpert observation's own linear read of the pooled patch grid (None when off).
    pub clue_spatial: Option<ClueSpatial<B>>,
    /// Clue injector.
    pub clue_embedder: ClueEmbedder<B>,
    /// Cross-modal clue interaction.
    pub interaction: ClueInteraction<B>,
    /// Visual tokens to the LLM width.
    pub visual_to_llm: Linear<B>,
    /// Clue tokens to the LLM width.
    pub clue_to_llm: Linear<B>,
    /// Learned `<img>`, `</img>`, `<clue>`, `</clue>` embeddings, `[4, d_llm]`.
    pub markers: Param<Tensor<B, 2>>,
    /// The LLM.
    pub llm: LlamaForCausalLM<B>,
    #[module(skip)]
    pub(crate) settings: Settings,
}

/// The soft prompt of a batch.
#[derive(Clone, Debug)]
pub struct Prefix<B: TrrgOps> {
    /// `[batch, prefix_len, d_llm]`
    pub embeds: Tensor<B, 3>,
    /// Zero-shot clue logits, `[batch, n_clues]` (None when clues are off).
    pub clue_logits: Option<Tensor<B, 2>>,
    /// `[batch, prefix_len]`, false at padded clue tokens.
    pub mask: Tensor<B, 2, Bool>,
}

/// Stage-2 losses.
#[derive(Clone, Debug)]
pub struct TrrgOutput<B: TrrgOps> {
    /// `lm + lambda * consistency`, `[1]`
    pub loss: Tensor<B, 1>,
    /// Report-token cross-entropy, `[1]`
    pub lm_loss: Tensor<B, 1>,
    /// Disease-aware consistency loss, `[1]` (None when off or without labels).
    pub consistency_loss: Option<Tensor<B, 1>>,
    /// Clue logits, `[batch, n_clues]`.
    pub clue_logits: Option<Tensor<B, 2>>,
}

/// Stage-1 outputs.
#[derive(Clone, Debug)]
pub struct ContrastiveOutput<B: TrrgOps> {
    /// Sentence-level InfoNCE (+ `clue.negation_weight` times the negation contrast), `[1]`
    pub loss: Tensor<B, 1>,
    /// Scaled similarities, `[batch, n_sentences]`
    pub logits: Tensor<B, 2>,
    /// Stage 1's negation contrast, `[1]` (None when not asked for).
    pub negation_loss: Option<Tensor<B, 1>>,
}

/// A shard's share of stage 1's loss ([`Trrg::contrastive_parts`]).
#[derive(Clone, Debug)]
pub struct ContrastiveParts<B: TrrgOps> {
    /// Unit-norm study embeddings, `[batch, d_embed]`
    pub studies: Tensor<B, 2>,
    /// Unit-norm sentence embeddings, `[n_sentences, d_embed]`
    pub texts: Tensor<B, 2>,
    /// The negation contrast of the shard's studies, unweighted, `[1]` (None when not asked for).
    pub negation_loss: Option<Tensor<B, 1>>,
}

/// What stage 1's negation contrast (`clue.negation_weight`) needs for a batch.
#[derive(Clone, Copy, Debug)]
pub struct NegationContrast<'a, B: TrrgOps> {
    /// The disease set.
    pub set: &'a DiseaseSet,
    /// Its prompts (`DiseaseSet::prompts` order) for the text encoder, encoded with gradient at
    /// every step, since stage 1 trains the text encoder too.
    pub prompts: &'a SentenceBatch<B>,
    /// A bank of the set (its label columns select the labels).
    pub bank: &'a ClueBank<B>,
    /// The batch's labels.
    pub labels: &'a DiseaseLabels<B>,
}

/// The labels of a stage-2 batch ([`Trrg::forward_train`]).
#[derive(Clone, Copy, Debug)]
pub struct BatchLabels<'a, B: TrrgOps> {
    /// What the images show: the consistency loss scores the clue logits against these.
    pub truth: &'a DiseaseLabels<B>,
    /// What the teacher-forced clues say, and what the target reports state: `truth`, unless
    /// the batch's reports were edited to disagree with their images (trrg-train's
    /// `stage2_report_edits`).
    pub forced: &'a DiseaseLabels<B>,
}

impl<'a, B: TrrgOps> From<&'a DiseaseLabels<B>> for BatchLabels<'a, B> {
    /// The labels of a batch whose reports say what its images show.
    fn from(labels: &'a DiseaseLabels<B>) -> Self {
        Self {
            truth: labels,
            forced: labels,
        }
    }
}

/// One generated report.
#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    /// Generated token ids (no BOS/EOS).
    pub ids: Vec<u32>,
    /// With `num_return_sequences` n above 1, beam search's next n - 1 hypotheses, best first
    /// (empty otherwise).
    pub alternatives: Vec<Vec<u32>>,
    /// Clue probability per disease (empty when clues are off; NaN for a clue the bank pads in
    /// this row).
    pub clue_probabilities: Vec<f32>,
}

impl<B: TrrgOps> Trrg<B> {
    pub(crate) fn new(config: &TrrgConfig, device: &B::Device) -> crate::Result<Self> {
        Self::assemble(
            config,
            config.vision.init(device)?,
            config.text.init(device)?,
            config.llm.init(device)?,
            device,
        )
    }

    /// The model around given encoders and LLM (random or pretrained); the TRRG-specific parts
    /// start from their initializers.
    pub(crate) fn assemble(
        config: &TrrgConfig,
        vision: VisionEncoder<B>,
        text: Bert<B>,
        llm: LlamaForCausalLM<B>,
        device: &B::Device,
    ) -> crate::Result<Self> {
        let d_vision = config.vision.d_vision();
        let d_text = config.text.hidden_size;
        let d = config.interaction.d_model;
        let d_llm = config.llm.hidden_size;
        let normal = Initializer::Normal {
            mean: 0.0,
            std: 0.02,
        };
        Ok(Self {
            vision,
            text,
            align: AlignmentConfig::new(d_vision, d_text)
                .with_d_embed(config.d_embed)
                .with_temperature_init(config.temperature_init)
                .init(device),
            visual_proj: LinearConfig::new(d_vision, d).init(device),
            view_embed: normal.init([config.max_views, d], device),
            clue_refiner: config
                .clue
                .refinement
                .then(|| ClueRefinerConfig::new(d_vision, d_text).init(device)),
            clue_locator: config
                .clue
                .localization
                .then(|| ClueLocatorConfig::new(d_vision, d_text).init(device)),
            clue_readout: config
                .clue
                .readout
                .then(|| ClueReadoutConfig::new(DiseaseSet::chexpert().len()).init(device)),
            clue_spatial: config.clue.spatial.then(|| {
                ClueSpatialConfig::new(DiseaseSet::chexpert().len(), config.max_views, d_vision)
                    .with_cells(config.clue.spatial_grid)
                    .init(device)
            }),
            clue_embedder: ClueEmbedderConfig::new(d_text, d).init(device),
            interaction: config.interaction.init(device),
            visual_to_llm: LinearConfig::new(d, d_llm).init(device),
            clue_to_llm: LinearConfig::new(d, d_llm).init(device),
            markers: normal.init([4, d_llm], device),
            llm,
            settings: Settings {
                clue: config.clue.clone(),
                view_fusion: config.view_fusion,
                llm_patch_grid: config.llm_patch_grid,
            },
        })
    }

    /// Freezes what stage 2 does not train: the text encoder (its prompt embeddings are
    /// computed once), the visual encoder when `freeze_vision`, and whatever the clue ablation
    /// setting leaves unused (all clue parts when clues are off, the interaction module without
    /// interaction).
    pub fn freeze_for_stage2(mut self, freeze_vision: bool) -> Self {
        self.text = self.text.no_grad();
        if freeze_vision {
            self.vision = self.vision.no_grad();
        }
        match self.settings.clue.mode {
            ClueMode::Off => {
                self.align = self.align.no_grad();
                self.clue_refiner = self.clue_refiner.map(|r| r.no_grad());
                self.clue_locator = self.clue_locator.map(|l| l.no_grad());
                self.clue_readout = self.clue_readout.map(|r| r.no_grad());
                self.clue_spatial = self.clue_spatial.map(|s| s.no_grad());
                self.clue_embedder = self.clue_embedder.no_grad();
                self.interaction = self.interaction.no_grad();
                self.clue_to_llm = self.clue_to_llm.no_grad();
            }
            ClueMode::NoInteraction => self.interaction = self.interaction.no_grad(),
            ClueMode::Full => {}
        }
        self
    }

    /// The forward-pass settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The dropout rates inside the encoders' burn `TransformerEncoder`s, `(vision, text)` (0
    /// for a vision encoder without one): the only random draws of a training pass that come
    /// from the backend's generator rather than from [`trrg_io::random`]'s streams. Where they
    /// are 0, passes can run side by side on streams of their own and still repeat.
    pub fn backend_dropout(&self) -> (f64, f64) {
        let vision = match &self.vision {
            VisionEncoder::Vit(vit) => vit.encoder.dropout,
            _ => 0.0,
        };
        (vision, self.text.encoder.dropout)
    }

    /// Per-view encoder outputs.
    ///
    /// # Shapes
    /// - images: `[batch, n_views, channels, height, width]`
    /// - output: patch tokens `[batch * n_views, n_patches, d_vision]`, global `[batch * n_views, d_vision]`
    pub(crate) fn encode_views(
        &self,
        images: Tensor<B, 5>,
    ) -> crate::Result<trrg_vision::VisionOutput<B>> {
        let [batch, n_views, channels, height, width] = images.dims();
        let max_views = self.view_embed.dims()[0];
        if n_views == 0 || n_views > max_views {
            return Err(Error::Shape {
                what: "images",
                reason: format!("{n_views} views; the model takes 1..={max_views}"),
            });
        }
        Ok(self.vision.forward_features(images.reshape([
            batch * n_views,
            channels,
            height,
            width,
        ]))?)
    }

    /// Unit-norm study embeddings in the shared space (global tokens averaged over views).
    ///
    /// # Shapes
    /// - images: `[batch, n_views, channels, height, width]` -> `[batch, d_embed]`
    pub fn image_embeddings(&self, images: Tensor<B, 5>) -> crate::Result<Tensor<B, 2>> {
        let [batch, n_views, ..] = images.dims();
        let global = self.encode_views(images)?.global;
        Ok(self.study_embedding(global, batch, n_views))
    }

    /// Each view's global token and patch tokens from the visual encoder, before any
    /// projection: the features the clue heads pool and the locator attends over (a linear probe
    /// reads them, `trrg_train`'s perception probe).
    ///
    /// # Shapes
    /// - images: `[batch, n_views, channels, height, width]`
    /// - output: global `[batch, n_views, d_vision]`, patches `[batch, n_views, n_patches, d_vision]`
    pub fn view_features(
        &self,
        images: Tensor<B, 5>,
    ) -> crate::Result<(Tensor<B, 3>, Tensor<B, 4>)> {
        let [batch, n_views, ..] = images.dims();
        let out = self.encode_views(images)?;
        let [_, n_patches, d_vision] = out.patch_tokens.dims();
        Ok((
            out.global.reshape([batch, n_views, d_vision]),
            out.patch_tokens
                .reshape([batch, n_views, n_patches, d_vision]),
        ))
    }

    fn study_embedding(&self, global: Tensor<B, 2>, batch: usize, n_views: usize) -> Tensor<B, 2> {
        self.align
            .embed_images(study_global(global, batch, n_views))
    }

    /// Clue logits: zero-shot, plus the refinement and the patch-level evidence when the model
    /// has them.
    ///
    /// # Shapes
    /// - out: patch tokens `[batch * n_views, n_patches, d_vision]`, global `[batch * n_views, d_vision]`
    /// - output: `[batch, n_clues]`
    pub(crate) fn clue_logits_of(
        &self,
        out: &trrg_vision::VisionOutput<B>,
        batch: usize,
        n_views: usize,
        bank: &ClueBank<B>,
    ) -> Tensor<B, 2> {
        let pooled = study_global(out.global.clone(), batch, n_views);
        let mut logits = zero_shot_logits(
            &self.align,
            self.align.embed_images(pooled.clone()),
            &bank.prompts,
        );
        if let Some(spatial) = &self.clue_spatial {
            logits = logits
                + spatial.forward(
                    out.patch_tokens.clone(),
                    batch,
                    n_views,
                    &bank.label_columns,
                );
        }
        if self.clue_refiner.is_none() && self.clue_locator.is_none() && self.clue_readout.is_none()
        {
            return logits;
        }
        // Once for both heads: whitening is a chain of matrix products.
        let identity = self.clue_identity(bank); // [n_clues, d_text]
        let rows = self.readout_rows(bank);
        if let Some(refiner) = &self.clue_refiner {
            let mut vectors = refiner.disease_vectors(identity.clone()); // [n_clues, d_refine]
            if let Some(rows) = &rows {
                vectors = vectors + rows.refine.clone();
            }
            logits = logits
                + if self.settings.clue.view_max && n_views > 1 {
                    let per_view = refiner.score(out.global.clone(), vectors); // [batch * n_views, n_clues]
                    let n_clues = per_view.dims()[1];
                    per_view
                        .reshape([batch, n_views, n_clues])
                        .max_dim(1)
                        .reshape([batch, n_clues])
                } else {
                    refiner.score(pooled, vectors)
                };
        }
        if let Some(locator) = &self.clue_locator {
            let [_, n_patches, d_vision] = out.patch_tokens.dims();
            let patches = out
                .patch_tokens
                .clone()
                .reshape([batch, n_views * n_patches, d_vision]); // [batch, n_views * n_patches, d_vision]
            let (query, readout) = Self::locator_vectors(locator, identity, rows.as_ref());
            logits = logits + locator.forward_with(patches, query, readout);
        }
        if let Some(rows) = rows {
            logits = logits + rows.bias;
        }
        logits
    }

    /// The per-disease readout's rows for the bank's diseases (None without a readout).
    fn readout_rows(&self, bank: &ClueBank<B>) -> Option<trrg_clue::ReadoutRows<B>> {
        self.clue_readout
            .as_ref()
            .map(|r| r.rows(&bank.label_columns))
    }

    /// The locator's query and readout per disease: from the identities, plus the readout's
    /// own offsets.
    ///
    /// # Shapes
    /// - identity: `[n_clues, d_text]` -> two `[n_clues, d_locate]`
    fn locator_vectors(
        locator: &ClueLocator<B>,
        identity: Tensor<B, 2>,
        rows: Option<&trrg_clue::ReadoutRows<B>>,
    ) -> (Tensor<B, 2>, Tensor<B, 2>) {
        let (query, readout) = locator.disease_vectors(identity);
        match rows {
            Some(rows) => (query + rows.query.clone(), readout + rows.readout.clone()),
            None => (query, readout),
        }
    }

    /// The disease identities the clue heads read: the prompts' identities, whitened across the
    /// disease set with `clue.whiten`.
    ///
    /// # Shapes
    /// - output: `[n_clues, d_text]`
    fn clue_identity(&self, bank: &ClueBank<B>) -> Tensor<B, 2> {
        if self.settings.clue.whiten {
            bank.prompts.whitened_identity()
        } else {
            bank.prompts.identity()
        }
    }

    /// The clue logits stage 2 uses (zero-shot + refinement); `sigmoid` gives p_d.
    ///
    /// # Shapes
    /// - images: `[batch, n_views, channels, height, width]` -> `[batch, n_clues]`
    pub fn clue_logits(
        &self,
        images: Tensor<B, 5>,
        bank: &ClueBank<B>,
    ) -> crate::Result<Tensor<B, 2>> {
        let [batch, n_views, ..] = images.dims();
        let out = self.encode_views(images)?;
        Ok(self.clue_logits_of(&out, batch, n_views, bank))
    }

    /// The clue locator's attention over every view's patches, per disease (None for a model
    /// without a locator): the patch-level evidence map of each finding.
    ///
    /// # Shapes
    /// - images: `[batch, n_views, channels, height, width]`
    /// - output: `[batch, n_clues, n_views, n_patches]` (each disease's weights over all views'
    ///   patches sum to 1; patches in row-major order of the encoder's grid)
    pub fn clue_evidence(
        &self,
        images: Tensor<B, 5>,
        bank: &ClueBank<B>,
    ) -> crate::Result<Option<Tensor<B, 4>>> {
        let Some(locator) = &self.clue_locator else {
            return Ok(None);
        };
        let [batch, n_views, ..] = images.dims();
        let out = self.encode_views(images)?;
        let [_, n_patches, d_vision] = out.patch_tokens.dims();
        let patches = out
            .patch_tokens
            .reshape([batch, n_views * n_patches, d_vision]);
        let rows = self.readout_rows(bank);
        let (query, _) = Self::locator_vectors(locator, self.clue_identity(bank), rows.as_ref());
        let attention = locator.attention_with(patches, query); // [batch, n_clues, n_views * n_patches]
        let n_clues = attention.dims()[1];
        Ok(Some(
            attention.reshape([batch, n_clues, n_views, n_patches]),
        ))
    }

    /// Mean-pooled text-encoder outputs.
    ///
    /// # Shapes
    /// - sentences: `[n, seq_len]` ids and mask -> `[n, d_text]`
    pub fn pooled_text(&self, sentences: &SentenceBatch<B>) -> crate::Result<Tensor<B, 2>> {
        let hidden = self.text.forward(
            sentences.token_ids.clone(),
            sentences.attention_mask.clone(),
        )?;
        Ok(mean_pool(hidden, sentences.attention_mask.clone(), false))
    }

    /// Stage 1: sentence-level InfoNCE between studies and (deduplicated) report sentences.
    ///
    /// # Shapes
    /// - images: `[batch, n_views, channels, height, width]`
    /// - sentences: `[n_sentences, seq_len]`
    /// - positive: `[batch, n_sentences]`, true where the sentence is in the study's report
    pub fn contrastive(
        &self,
        images: Tensor<B, 5>,
        sentences: &SentenceBatch<B>,
        positive: Tensor<B, 2, Bool>,
    ) -> crate::Result<ContrastiveOutput<B>> {
        self.contrastive_with(images, sentences, positive, None)
    }

    /// [`Trrg::contrastive`] plus, when `negation` is given, the negation contrast: for each
    /// study and disease with a known label, the clue logit (the zero-shot contrast of positive
    /// prompts against negated ones, prompts encoded with gradient, plus whatever refinement
    /// and locator evidence the model has) scored by BCE against the label, blanks and
    /// uncertain labels as in the consistency loss; weighted by `clue.negation_weight`.
    ///
    /// # Shapes
    /// - as [`Trrg::contrastive`]; negation's labels `[batch, n_labels]`
    pub fn contrastive_with(
        &self,
        images: Tensor<B, 5>,
        sentences: &SentenceBatch<B>,
        positive: Tensor<B, 2, Bool>,
        negation: Option<NegationContrast<'_, B>>,
    ) -> crate::Result<ContrastiveOutput<B>> {
        let parts = self.contrastive_parts(images, sentences, negation)?;
        Ok(self.contrastive_loss(
            parts.studies,
            parts.texts,
            positive,
            parts.negation_loss,
            true,
        ))
    }

    /// The part of [`Trrg::contrastive_with`] that reads a shard of the batch: its studies'
    /// and its sentences' embeddings, and its studies' negation contrast (unweighted). A
    /// data-parallel stage 1 gathers the embeddings of every shard and scores them with
    /// [`Trrg::contrastive_loss`].
    ///
    /// # Shapes
    /// - images: `[batch, n_views, channels, height, width]`; sentences: `[n_sentences, seq_len]`
    /// - studies: `[batch, d_embed]`; texts: `[n_sentences, d_embed]` (unit norm)
    pub fn contrastive_parts(
        &self,
        images: Tensor<B, 5>,
        sentences: &SentenceBatch<B>,
        negation: Option<NegationContrast<'_, B>>,
    ) -> crate::Result<ContrastiveParts<B>> {
        let [batch, n_views, ..] = images.dims();
        let out = self.encode_views(images)?;
        let studies = self.study_embedding(out.global.clone(), batch, n_views);
        let texts = self.align.embed_texts(self.pooled_text(sentences)?);
        let negation_loss = match negation {
            Some(n) => {
                let bank = ClueBank {
                    prompts: PromptEmbeddings::from_pooled(n.set, self.pooled_text(n.prompts)?)?,
                    ..n.bank.clone()
                };
                let clue_logits = self.clue_logits_of(&out, batch, n_views, &bank);
                let (values, known) = n.bank.select_labels(n.labels)?;
                let clue = &self.settings.clue;
                Some(consistency_loss(
                    clue_logits,
                    values,
                    known,
                    &clue.consistency(),
                ))
            }
            None => None,
        };
        Ok(ContrastiveParts {
            studies,
            texts,
            negation_loss,
        })
    }

    /// Stage 1's loss from embeddings: the InfoNCE of `studies` against `texts`, plus
    /// `clue.negation_weight` times `negation_loss` when given. With `scale_grad` false the
    /// temperature gets a zero gradient from this loss (a data-parallel worker other than the first
    /// scores the same gathered logits, whose temperature gradient the first one already has).
    ///
    /// # Shapes
    /// - studies: `[batch, d_embed]`, texts: `[n_sentences, d_embed]`, positive: `[batch, n_sentences]`
    pub fn contrastive_loss(
        &self,
        studies: Tensor<B, 2>,
        texts: Tensor<B, 2>,
        positive: Tensor<B, 2, Bool>,
        negation_loss: Option<Tensor<B, 1>>,
        scale_grad: bool,
    ) -> ContrastiveOutput<B> {
        let logits = match scale_grad {
            true => self.align.similarity(studies, texts),
            false => {
                // The same value, and a zero gradient: every worker's gradients hold the same
                // parameters, as an all-reduce needs.
                let scale = self.align.scale();
                let scale = scale.clone() * 0.0 + scale.detach();
                self.align.similarity_with_scale(studies, texts, scale)
            }
        };
        let mut loss = info_nce(logits.clone(), positive);
        if let Some(l) = &negation_loss {
            loss = loss + l.clone() * self.settings.clue.negation_weight;
        }
        ContrastiveOutput {
            loss,
            logits,
            negation_loss,
        }
    }

    /// Encodes a disease set's prompts with the text encoder (no gradient), for a model whose
    /// text encoder and LLM share `tokenizer` (the `tiny` and `micro` presets).
    pub fn clue_bank(
        &self,
        set: &DiseaseSet,
        tokenizer: &dyn ReportTokenizer,
        max_len: usize,
    ) -> crate::Result<ClueBank<B>> {
        self.clue_bank_with(set, tokenizer, tokenizer, max_len)
    }

    /// [`Trrg::clue_bank`] with separate tokenizers for the text encoder and the LLM (the
    /// `base` preset).
    pub fn clue_bank_with(
        &self,
        set: &DiseaseSet,
        tokenizer: &dyn ReportTokenizer,
        llm_tokenizer: &dyn ReportTokenizer,
        max_len: usize,
    ) -> crate::Result<ClueBank<B>> {
        let device = self.markers.device();
        let tokens = PromptTokens::new(set, llm_tokenizer, self.llm.vocab_size(), &device)?;
        let d_text = self.text.d_model();
        let pooled = if set.is_empty() {
            Tensor::zeros([0, d_text], &device)
        } else {
            let prompts: Vec<&str> = set.prompts().into_iter().map(|p| p.2).collect();
            let batch = sentence_batch(tokenizer, &prompts, max_len, &device)?;
            self.pooled_text(&batch)?.detach()
        };
        Ok(ClueBank {
            padding: None,
            thresholds: None,
            tokens,
            names: set.names().into_iter().map(String::from).collect(),
            prompts: PromptEmbeddings::from_pooled(set, pooled)?,
            gate: self
                .settings
                .clue
                .no_finding_gate
                .then(|| NoFindingGate::of(&set.chexpert_columns()))
                .flatten(),
            label_columns: set.chexpert_columns(),
        })
    }

    /// Zero-shot clue logits; `sigmoid` gives p_d.
    ///
    /// # Shapes
    /// - images: `[batch, n_views, channels, height, width]` -> `[batch, n_clues]`
    pub fn zero_shot(
        &self,
        images: Tensor<B, 5>,
        bank: &ClueBank<B>,
    ) -> crate::Result<Tensor<B, 2>> {
        let studies = self.image_embeddings(images)?;
        Ok(zero_shot_logits(&self.align, studies, &bank.prompts))
    }

    /// The soft prompt: `<img> visual tokens </img> <clue> clue tokens </clue>`.
    ///
    /// # Shapes
    /// - images: `[batch, n_views, channels, height, width]`
    /// - output: see [`Prefix`]
    pub fn prefix(
        &self,
        images: Tensor<B, 5>,
        bank: Option<&ClueBank<B>>,
    ) -> crate::Result<Prefix<B>> {
        self.prefix_with(images, bank, Mode::Infer)
    }

    /// The soft prompt as training builds it: soft clue probabilities (no hard decisions), and
    /// no teacher forcing. [`Trrg::prefix`] is inference's, on any backend.
    ///
    /// # Shapes
    /// - images: `[batch, n_views, channels, height, width]`
    /// - output: see [`Prefix`]
    pub fn prefix_train(
        &self,
        images: Tensor<B, 5>,
        bank: Option<&ClueBank<B>>,
    ) -> crate::Result<Prefix<B>> {
        self.prefix_with(images, bank, Mode::Train(None))
    }

    /// Stage 2: report cross-entropy (+ lambda * consistency loss).
    ///
    /// The clues are teacher-forced from `labels.forced` and the consistency loss scores
    /// `labels.truth` (one set for an unedited batch: `Some((&labels).into())`).
    ///
    /// # Shapes
    /// - images: `[batch, n_views, channels, height, width]`
    /// - token_ids, attention_mask, label_mask: `[batch, seq_len]` (as `trrg_data::ReportBatch` holds them)
    pub fn forward_train(
        &self,
        images: Tensor<B, 5>,
        token_ids: Tensor<B, 2, Int>,
        attention_mask: Tensor<B, 2, Bool>,
        label_mask: Tensor<B, 2, Bool>,
        labels: Option<BatchLabels<'_, B>>,
        bank: Option<&ClueBank<B>>,
    ) -> crate::Result<TrrgOutput<B>> {
        let [batch, seq_len] = token_ids.dims();
        let resolve = |labels: &DiseaseLabels<B>, bank: &ClueBank<B>| -> crate::Result<_> {
            let (values, known) = bank.select_labels(labels)?;
            let (values, known) = self
                .settings
                .clue
                .consistency()
                .resolve_blanks(values, known);
            // A padded clue is neither scored nor forced.
            let known = match bank.padding_for(batch)? {
                Some(p) => known.bool_and(p.bool_not()),
                None => known,
            };
            Ok((values, known))
        };
        // (truth, forced): the consistency loss's targets and the forced clues' values.
        let resolved = match (labels, bank) {
            (Some(labels), Some(bank)) if self.settings.clue.mode != ClueMode::Off => {
                let truth = resolve(labels.truth, bank)?;
                let forced = if std::ptr::eq(labels.truth, labels.forced) {
                    truth.clone()
                } else {
                    resolve(labels.forced, bank)?
                };
                Some((truth, forced))
            }
            _ => None,
        };
        let rate = self.settings.clue.teacher_forcing;
        let forced = match &resolved {
            Some((_, (values, known))) if rate > 0.0 => {
                let coin =
                    trrg_io::random::bernoulli::<B, 2>(known.dims(), rate, &token_ids.device())
                        .bool();
                // Uncertain labels (-1) are never forced.
                let usable = known
                    .clone()
                    .bool_and(values.clone().greater_equal_elem(0.0));
                Some(Forced {
                    values: values.clone().clamp_min(0.0),
                    used: coin.bool_and(usable),
                })
            }
            _ => None,
        };
        let (token_ids, attention_mask, label_mask, forced) =
            match (self.settings.clue.counterfactual, forced) {
                (rate, Some(forced)) if rate > 0.0 && batch > 1 => {
                    counterfactual_rows(rate, token_ids, attention_mask, label_mask, forced)
                }
                (_, forced) => (token_ids, attention_mask, label_mask, forced),
            };
        let prefix = self.prefix_with(images, bank, Mode::Train(forced))?;
        let prefix_len = prefix.embeds.dims()[1];
        let embeds = Tensor::cat(vec![prefix.embeds, self.llm.embed(token_ids.clone())], 1);
        let mask = Tensor::cat(vec![prefix.mask, attention_mask], 1);
        let hidden = self.llm.forward_hidden(embeds, mask, None)?;
        // Position prefix_len - 1 + t predicts report token t.
        let logits = self.llm.lm_head(hidden.narrow(1, prefix_len - 1, seq_len));
        let lm_loss = masked_cross_entropy(logits, token_ids, label_mask);
        let consistency = match (&prefix.clue_logits, resolved) {
            (Some(logits), Some(((values, known), _))) if self.settings.clue.consistency_loss => {
                Some(consistency_loss(
                    logits.clone(),
                    values,
                    known,
                    &self.settings.clue.consistency(),
                ))
            }
            _ => None,
        };
        let loss = match &consistency {
            Some(c) => lm_loss.clone() + c.clone() * self.settings.clue.consistency_weight,
            None => lm_loss.clone(),
        };
        Ok(TrrgOutput {
            loss,
            lm_loss,
            consistency_loss: consistency,
            clue_logits: prefix.clue_logits,
        })
    }

    /// Generates reports (token ids) and clue probabilities.
    ///
    /// # Shapes
    /// - images: `[batch, n_views, channels, height, width]`
    pub fn generate(
        &self,
        images: Tensor<B, 5>,
        bank: Option<&ClueBank<B>>,
        config: &GenerationConfig,
        bos_id: u32,
    ) -> crate::Result<Vec<Generation>> {
        let batch = images.dims()[0];
        let device = images.device();
        let prefix = self.prefix(images, bank)?;
        let bos = Tensor::<B, 2, Int>::from_data(
            TensorData::new(vec![bos_id as i64; batch], [batch, 1]),
            &device,
        );
        let embeds = Tensor::cat(vec![prefix.embeds, self.llm.embed(bos)], 1);
        let mask = Tensor::cat(vec![prefix.mask, real_mask(batch, 1, &device)], 1);
        let ids = trrg_llm::generate(&self.llm, embeds, mask, config)?;
        let probabilities = match prefix.clue_logits {
            Some(logits) => {
                let n = logits.dims()[1];
                let probs = sigmoid(logits);
                let probs = match bank.and_then(|b| b.padding.clone()) {
                    Some(p) => probs.mask_fill(p, f32::NAN),
                    None => probs,
                };
                let flat = trrg_io::f32_values(probs);
                flat.chunks(n.max(1)).map(<[f32]>::to_vec).collect()
            }
            None => vec![Vec::new(); batch],
        };
        let per_row = config.num_return_sequences;
        Ok(ids
            .chunks(per_row)
            .zip(probabilities)
            .map(|(group, clue_probabilities)| Generation {
                ids: group[0].clone(),
                alternatives: group[1..].to_vec(),
                clue_probabilities,
            })
            .collect())
    }
}

/// [`ClueOptions::counterfactual`](crate::ClueOptions): each row with probability `rate`
/// takes the target report (tokens and masks) and the forced clues of the next row (the last
/// row the first's); the images, and the labels the consistency loss scores, stay.
#[allow(clippy::type_complexity)]
fn counterfactual_rows<B: TrrgOps>(
    rate: f64,
    token_ids: Tensor<B, 2, Int>,
    attention_mask: Tensor<B, 2, Bool>,
    label_mask: Tensor<B, 2, Bool>,
    forced: Forced<B>,
) -> (
    Tensor<B, 2, Int>,
    Tensor<B, 2, Bool>,
    Tensor<B, 2, Bool>,
    Option<Forced<B>>,
) {
    let [batch, seq_len] = token_ids.dims();
    let n_clues = forced.values.dims()[1];
    let swap = trrg_io::random::bernoulli::<B, 2>([batch, 1], rate, &token_ids.device()).bool();
    let rows = swap.clone().expand([batch, seq_len]);
    let clues = swap.expand([batch, n_clues]);
    let pick_bool = |x: Tensor<B, 2, Bool>, rows: &Tensor<B, 2, Bool>| {
        let other = roll_rows(x.clone());
        x.bool_and(rows.clone().bool_not())
            .bool_or(other.bool_and(rows.clone()))
    };
    (
        token_ids
            .clone()
            .mask_where(rows.clone(), roll_rows(token_ids)),
        pick_bool(attention_mask, &rows),
        pick_bool(label_mask, &rows),
        Some(Forced {
            values: forced
                .values
                .clone()
                .mask_where(clues.clone(), roll_rows(forced.values)),
            used: pick_bool(forced.used, &clues),
        }),
    )
}

/// `x` with its rows moved up by one: the result's row `r` is `x`'s row `r + 1`, and its last
/// row is `x`'s first.
fn roll_rows<B: TrrgOps, K: burn::tensor::BasicOps<B>>(x: Tensor<B, 2, K>) -> Tensor<B, 2, K> {
    let n = x.dims()[0];
    Tensor::cat(vec![x.clone().narrow(0, 1, n - 1), x.narrow(0, 0, 1)], 0)
}

/// Global tokens averaged over views.
///
/// # Shapes
/// - global: `[batch * n_views, d_vision]` -> `[batch, d_vision]`
fn study_global<B: TrrgOps>(global: Tensor<B, 2>, batch: usize, n_views: usize) -> Tensor<B, 2> {
    let d = global.dims()[1];
    global
        .reshape([batch, n_views, d])
        .mean_dim(1)
        .reshape([batch, d])
}

/// `sentences` tokenized for the text encoder (`[bos] tokens [eos]`, at most `max_len` tokens
/// each) and padded into one batch.
pub fn sentence_batch<B: TrrgOps>(
    tokenizer: &dyn ReportTokenizer,
    sentences: &[&str],
    max_len: usize,
    device: &B::Device,
) -> crate::Result<SentenceBatch<B>> {
    let rows = tokenizer.encode_all(sentences, max_len)?;
    Ok(SentenceBatch::from_rows(&rows, tokenizer.pad_id(), device)?)
}
