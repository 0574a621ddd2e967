//! `TrrgConfig`: every part of the model, the presets and the ablation switches.

use burn::config::Config;
use serde::{Deserialize, Serialize};
use trrg_clue::{BlankLabel, ConsistencyConfig};
use trrg_interact::InteractionConfig;
use trrg_kernels::TrrgOps;
use trrg_llm::LlamaConfig;
use trrg_text::BertConfig;
use trrg_vision::{VisionEncoderConfig, VitConfig};

use crate::{Error, Trrg};

/// How disease clues enter the model (the paper's ablation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClueMode {
    /// No clues: visual tokens -> LLM (the R2GenGPT-style baseline).
    Off,
    /// Clue tokens go to the LLM beside the visual tokens, without the interaction module.
    NoInteraction,
    /// Clues and visual tokens interact, then both go to the LLM (TRRG).
    #[default]
    Full,
}

impl std::fmt::Display for ClueMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Off => "off",
            Self::NoInteraction => "no_interaction",
            Self::Full => "full",
        })
    }
}

/// How the views of a study are combined.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViewFusion {
    /// Tokens of every view, each with a learned view embedding, concatenated (default).
    #[default]
    Concat,
    /// Tokens averaged over views (R2GenGPT).
    Average,
}

/// TRRG's clue options: every switch and weight of the clue path, with one default and one
/// validation each. `TrrgConfig::clue` and `TrainConfig::clue` (as `"clue": {...}` in a config
/// file; missing fields take these defaults) are this struct.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClueOptions {
    /// The clue ablation switch (the paper's). Default full.
    pub mode: ClueMode,
    /// Add the disease-aware consistency loss in stage 2. Default true.
    pub consistency_loss: bool,
    /// Its weight lambda. Default 1.
    pub consistency_weight: f64,
    /// How blank (unmentioned) labels count in the consistency loss and in teacher forcing.
    /// Default negative.
    pub consistency_blank: BlankLabel,
    /// BCE weight of positive labels in the consistency loss (rare findings against the many
    /// negatives); 1 = unweighted (default).
    pub consistency_pos_weight: f64,
    /// Add the disease-aware bilinear refinement to the zero-shot clue logits in stage 2
    /// (trained by the consistency loss). Default true.
    pub refinement: bool,
    /// Add patch-level evidence to the clue logits in stage 2: each disease attends over every
    /// view's patch tokens with its prompt embedding as the query ([`trrg_clue::ClueLocator`];
    /// trained by the consistency loss). Not in the paper, which does not say how perception
    /// reaches small findings; trrg's choice. Default true.
    pub localization: bool,
    /// Clue teacher forcing: in training, each clue whose label is known takes the label
    /// (1 present, 0 absent; uncertain labels never) instead of its perceived probability with
    /// this probability, so the LLM learns to state what the clues say while perception is
    /// still poor; perception still learns from the consistency loss. Default 1.
    pub teacher_forcing: f64,
    /// Hard clues at inference: each clue probability becomes 1 where `p >= threshold` and 0
    /// elsewhere before it is embedded, the discrete states the LLM saw under teacher forcing
    /// (PromptMRG turns its classifier's output into such tokens). None = soft probabilities
    /// (default). Excludes `fit_thresholds`.
    pub hard_threshold: Option<f64>,
    /// Hard clues with one threshold per disease, fitted on the validation split to maximize
    /// the micro-F1 of the clue decisions against the labels; the best checkpoint's go to
    /// `clue_thresholds.json`, which inference reads. Default true.
    pub fit_thresholds: bool,
    /// Shrinks each fitted threshold toward 0.5 as if `k` more validation positives had voted
    /// for 0.5: `t = (n t_fit + k 0.5) / (n + k)`, with `n` the disease's validation positives.
    /// A threshold fitted on the 2-15 positives of a 120-study split follows those few studies;
    /// the shrunk one holds better on studies it was not fitted on (docs/results.md). A disease
    /// without validation positives gets 0.5; 0 keeps the fitted thresholds as they are. Default
    /// 20 since 2026-12-07 (chosen by cross-validation on the validation split; a run directory
    /// without the field was fitted with 0 and is read with 0).
    pub threshold_shrinkage: f64,
    /// Lexical clues: each clue token in the LLM's width also gets `p_d` times the mean of the
    /// LLM's own input embeddings of disease `d`'s positive prompts ("pleural effusion"), so a
    /// present clue carries the words the report should state, in the space the LLM reads and
    /// writes; an absent clue adds nothing. Not in the paper (which leaves the clue embedding
    /// open): trrg's choice, made because the tiny LLM stated some clues and ignored others
    /// (docs/results.md). Default true.
    pub lexical: bool,
    /// Clue words: after the clue tokens, the soft prompt also holds, for every clue that is on
    /// (its hard decision at inference, its teacher-forced label in training, `p >= 0.5`
    /// otherwise), the LLM's tokens of the disease's first positive prompt ("pleural
    /// effusion"), so the LLM can copy the decided findings instead of decoding them from a
    /// vector; PromptMRG writes its classifier's decisions into the prompt the same way. The
    /// prompts are the disease set's own, so any set works. Default true since 2026-12-03
    /// (false before; docs/results.md).
    pub words: bool,
    /// Weight of stage 1's negation contrast: besides the sentence-level InfoNCE, each study
    /// with a known label for disease `d` contrasts `d`'s positive prompts against its negated
    /// ones: the clue logit (the zero-shot two-way softmax plus the refinement and locator terms
    /// the model has) is scored by BCE against the label, blank and uncertain
    /// labels as in the consistency loss. The visual encoder and the clue heads thus learn the
    /// negation that separates "pneumothorax" from "no pneumothorax" from the start, not only
    /// in stage 2. 0 = off (default).
    pub negation_weight: f64,
    /// Whiten the disease identities `(pos_d + neg_d) / 2` across the disease set before the
    /// refinement and the locator read them ([`trrg_clue::whiten`]). The identities of the
    /// prompts are nearly parallel (mean cosine 0.97-0.98 after stage 1 on the default synthetic
    /// set), so heads that read them learn one shared "abnormal" direction far faster than a
    /// direction per disease; whitened, they are nearly orthonormal, which gives each disease its
    /// own direction without per-disease parameters (any disease set still works). Default false.
    pub whiten: bool,
    /// The refinement reads each view's global token and keeps each disease's largest logit
    /// over the views, instead of reading the views' mean: a finding drawn on one view only
    /// (pneumothorax, rib fracture on the frontal view) is not diluted by the other. Default
    /// false.
    pub view_max: bool,
    /// Visual-token dropout for the LLM in stage 2: in training, each row's visual tokens
    /// reach the LLM zeroed with this probability (the interaction and the clue heads still
    /// read them), so the findings a report states have to come from the clues, as at
    /// inference they should. 0 = off (default).
    pub visual_dropout: f64,
    /// Per-disease clue readout: each CheXpert observation gets its own offsets of the
    /// refiner's disease vector and of the locator's query and readout, and its own logit bias
    /// ([`trrg_clue::ClueReadout`]), all starting at zero (the bias at the training log-odds),
    /// so each disease learns its direction and base rate from its own gradient instead of
    /// through nearly parallel prompt embeddings. A disease outside the 14 reads its prompts
    /// only, so any disease set still works. Default false.
    pub readout: bool,
    /// Spatial clue readout: each CheXpert observation gets its own linear read of every
    /// view's patch tokens averaged to a `spatial_grid` x `spatial_grid` grid, and its own bias
    /// ([`trrg_clue::ClueSpatial`]), starting at zero (the bias at the training log-odds when
    /// `readout` is off), so a finding drawn in one place is read in that place. A disease
    /// outside the 14 gets nothing from it, so any disease set still works. Default true since
    /// 2026-12-07 with `spatial_fit` (docs/results.md); a run directory without the field was
    /// trained without it and is read with false.
    pub spatial: bool,
    /// With `spatial`: at the start of stage 2, each CheXpert observation's spatial weights
    /// and bias are set to the perception probe's logistic regression on the training split's
    /// patch grids (`trrg_train::probe::fit_spatial`), so the head starts at the probe's
    /// optimum on the stage-1 encoder instead of at zero. Nothing is fitted with
    /// `mode = "off"`. Default true since 2026-12-07.
    pub spatial_fit: bool,
    /// Side of the grid that the spatial readout, and the perception probe's patch column,
    /// average each view's patch tokens to (the tiny preset's encoder has 8 x 8 patches, so 8
    /// reads every patch). Default 8 since 2026-12-07 (docs/results.md); a run directory
    /// without the field was trained with 4 and is read with 4.
    pub spatial_grid: usize,
    /// With hard clues (fitted or fixed thresholds), No Finding is decided as the labels
    /// decide it: on only where its own threshold passes and no finding other than Support
    /// Devices is on ([`crate::NoFindingGate`]), at inference and when the thresholds are
    /// fitted, so the LLM never sees No Finding beside a finding, which teacher forcing never
    /// shows it. Default false.
    pub no_finding_gate: bool,
    /// Counterfactual clue rows in stage 2: in training, each row with this probability takes
    /// its teacher-forced clues and its target report from the next row of the batch, while
    /// its image stays (and the consistency loss still scores the image's own labels). The LLM
    /// then sees clue sets that the image contradicts, and can only write them by following
    /// the clues: a reader that states what the clues decide. Needs teacher forcing. 0 = off
    /// (default).
    pub counterfactual: f64,
}

impl Default for ClueOptions {
    fn default() -> Self {
        Self {
            mode: ClueMode::Full,
            consistency_loss: true,
            consistency_weight: 1.0,
            consistency_blank: BlankLabel::Negative,
            consistency_pos_weight: 1.0,
            refinement: true,
            localization: true,
            teacher_forcing: 1.0,
            hard_threshold: None,
            fit_thresholds: true,
            threshold_shrinkage: 20.0,
            lexical: true,
            words: true,
            negation_weight: 0.0,
            whiten: false,
            view_max: false,
            visual_dropout: 0.0,
            readout: false,
            spatial: true,
            spatial_fit: true,
            spatial_grid: 8,
            no_finding_gate: false,
            counterfactual: 0.0,
        }
    }
}

impl ClueOptions {
    /// The consistency loss's details.
    pub fn consistency(&self) -> ConsistencyConfig {
        ConsistencyConfig::new()
            .with_blank(self.consistency_blank)
            .with_pos_weight(self.consistency_pos_weight)
    }

    /// Checks every option; errors name it as `clue.<option>`.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |field, reason: String| Err(Error::InvalidConfig { field, reason });
        if !(self.consistency_weight >= 0.0 && self.consistency_weight.is_finite()) {
            return bad(
                "clue.consistency_weight",
                format!("{} must be >= 0", self.consistency_weight),
            );
        }
        if !(self.consistency_pos_weight > 0.0 && self.consistency_pos_weight.is_finite()) {
            return bad(
                "clue.consistency_pos_weight",
                format!("{} must be > 0", self.consistency_pos_weight),
            );
        }
        if !(0.0..1.0).contains(&self.visual_dropout) {
            return bad(
                "clue.visual_dropout",
                format!("{} is not in [0, 1)", self.visual_dropout),
            );
        }
        if !(0.0..1.0).contains(&self.counterfactual) {
            return bad(
                "clue.counterfactual",
                format!("{} is not in [0, 1)", self.counterfactual),
            );
        }
        if self.counterfactual > 0.0 && self.teacher_forcing == 0.0 {
            return bad(
                "clue.counterfactual",
                "swaps the teacher-forced clues, so it needs clue.teacher_forcing > 0".into(),
            );
        }
        if self.spatial_fit && !self.spatial {
            return bad(
                "clue.spatial_fit",
                "fits the spatial readout, so it needs clue.spatial".into(),
            );
        }
        if self.spatial_grid == 0 {
            return bad("clue.spatial_grid", "must be at least 1".into());
        }
        if !(self.threshold_shrinkage >= 0.0 && self.threshold_shrinkage.is_finite()) {
            return bad(
                "clue.threshold_shrinkage",
                format!("{} must be >= 0", self.threshold_shrinkage),
            );
        }
        if !(self.negation_weight >= 0.0 && self.negation_weight.is_finite()) {
            return bad(
                "clue.negation_weight",
                format!("{} must be >= 0", self.negation_weight),
            );
        }
        if !(0.0..=1.0).contains(&self.teacher_forcing) {
            return bad(
                "clue.teacher_forcing",
                format!("{} is not a probability", self.teacher_forcing),
            );
        }
        if let Some(t) = self.hard_threshold {
            if !(0.0..=1.0).contains(&t) {
                return bad("clue.hard_threshold", format!("{t} is not in [0, 1]"));
            }
            if self.fit_thresholds {
                return bad(
                    "clue.hard_threshold",
                    "is a fixed threshold but clue.fit_thresholds (default true) fits one per \
                     disease; set clue.fit_thresholds to false to use it"
                        .into(),
                );
            }
        }
        Ok(())
    }
}

/// The whole model's configuration.
#[derive(Config, Debug)]
pub struct TrrgConfig {
    /// Visual encoder.
    pub vision: VisionEncoderConfig,
    /// Text encoder (stage 1 and prompt embeddings).
    pub text: BertConfig,
    /// The LLM.
    pub llm: LlamaConfig,
    /// Clue interaction; its `d_model` is the width visual and clue tokens are projected to.
    pub interaction: InteractionConfig,
    /// Shared image-text embedding width. Default 256.
    #[config(default = 256)]
    pub d_embed: usize,
    /// Initial contrastive temperature. Default 0.07.
    #[config(default = 0.07)]
    pub temperature_init: f64,
    /// The clue path's options.
    #[config(default = "ClueOptions::default()")]
    pub clue: ClueOptions,
    /// Multi-view fusion. Default concat.
    #[config(default = "ViewFusion::Concat")]
    pub view_fusion: ViewFusion,
    /// Most views per study (size of the view-embedding table). Default 2.
    #[config(default = 2)]
    pub max_views: usize,
    /// Patch tokens per view given to the LLM, as a `k x k` average-pooled grid; 0 = all
    /// patches. The interaction always sees every patch. Default 0.
    #[config(default = 0)]
    pub llm_patch_grid: usize,
}

impl TrrgConfig {
    /// The CPU preset: a ViT of width 128 (4 blocks, a 3-convolution stem with BatchNorm) on
    /// 128 px gray images, a 2-block BERT of
    /// width 128, interaction width 128 (2 blocks), a 3-layer LLaMA of width 192 (GQA 4/2),
    /// patch tokens pooled to 2x2 per view for the LLM. `vocab_size` is the report tokenizer's.
    pub fn tiny(vocab_size: usize) -> Self {
        Self::new(
            VisionEncoderConfig::Vit(
                VitConfig::tiny()
                    .with_conv_stem(vec![16, 32, 64])
                    .with_conv_stem_norm(true),
            ),
            BertConfig::tiny(vocab_size),
            LlamaConfig::new(vocab_size, 192, 512, 3, 4)
                .with_num_key_value_heads(Some(2))
                .with_max_position_embeddings(256)
                .with_dropout(0.1),
            InteractionConfig::new(128)
                .with_n_layers(2)
                .with_d_ff_override(Some(256)),
        )
        .with_d_embed(128)
        .with_llm_patch_grid(2)
    }

    /// The smallest working model (width 32, one block each; 64 px images, 16 px patches) for
    /// tests and smoke runs.
    pub fn micro(vocab_size: usize) -> Self {
        Self::new(
            VisionEncoderConfig::Vit(
                VitConfig::tiny()
                    .with_image_size(64)
                    .with_hidden_size(32)
                    .with_num_hidden_layers(1)
                    .with_intermediate_size(64),
            ),
            BertConfig::tiny(vocab_size)
                .with_hidden_size(32)
                .with_num_hidden_layers(1)
                .with_intermediate_size(64),
            LlamaConfig::new(vocab_size, 32, 64, 1, 4)
                .with_num_key_value_heads(Some(2))
                .with_max_position_embeddings(256),
            InteractionConfig::new(32)
                .with_n_layers(1)
                .with_d_ff_override(Some(64)),
        )
        .with_d_embed(32)
        .with_llm_patch_grid(2)
    }

    /// Checks the parts fit together.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |field, reason: String| Err(Error::InvalidConfig { field, reason });
        if self.text.vocab_size == 0 || self.llm.vocab_size == 0 {
            return bad("vocab_size", "must be positive".into());
        }
        if self.max_views == 0 {
            return bad("max_views", "must be at least 1".into());
        }
        let d = self.interaction.d_model;
        if self.interaction.n_heads == 0 || !d.is_multiple_of(self.interaction.n_heads) {
            return bad(
                "interaction.n_heads",
                format!("{} must divide d_model {d}", self.interaction.n_heads),
            );
        }
        self.clue.validate()?;
        if self.d_embed == 0 || self.temperature_init.is_nan() || self.temperature_init <= 0.0 {
            return bad("d_embed/temperature_init", "must be positive".into());
        }
        self.llm.validate()?;
        Ok(())
    }

    /// Builds the model with random weights.
    pub fn init<B: TrrgOps>(&self, device: &B::Device) -> crate::Result<Trrg<B>> {
        self.validate()?;
        Trrg::new(self, device)
    }
}
