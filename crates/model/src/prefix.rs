//! The soft prompt of a batch, in four named steps:
//!
//! ```text
//! images ─encode─> patch and global tokens per view
//!        ─fuse_views─> visual tokens in the interaction width, views fused   [batch, *, d]
//!        ─clue_tokens─> clue probabilities p_d -> clue embeddings             [batch, n_clues, d]
//!        ─(interaction: visual <-> clue cross-attention, ClueMode::Full only)─
//!        ─pool_patches─> the LLM's k x k patch grid per view
//!        ─assemble_prefix─> <img> visual </img> <clue> clue tokens </clue>    [batch, len, d_llm]
//! ```
//!
//! [`Mode`] says whether the pass trains or infers; it is explicit, never read from the backend.

use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::TensorData;
use trrg_kernels::TrrgOps;
use trrg_llm::real_mask;
use trrg_vision::VisionOutput;

use crate::{ClueBank, ClueMode, Error, Prefix, Trrg, ViewFusion};

/// Clue teacher forcing: `values` replace the perceived probabilities where `used`.
///
/// # Shapes
/// - values, used: `[batch, n_clues]`
#[derive(Clone, Debug)]
pub(crate) struct Forced<B: TrrgOps> {
    pub values: Tensor<B, 2>,
    pub used: Tensor<B, 2, Bool>,
}

/// Whether a pass trains or infers.
#[derive(Clone, Debug)]
pub(crate) enum Mode<B: TrrgOps> {
    /// Training: soft clue probabilities, with teacher forcing where given.
    Train(Option<Forced<B>>),
    /// Inference: hard clue decisions where the bank or the config has thresholds.
    Infer,
}

/// Visual tokens in the interaction width, views fused.
struct FusedViews<B: TrrgOps> {
    /// `[batch, n_fused * n_patches, d]`
    patches: Tensor<B, 3>,
    /// `[batch, n_fused, d]`
    global: Tensor<B, 3>,
    /// Views after fusion (all of them for concat, 1 for average).
    n_fused: usize,
}

/// A batch's clue tokens.
struct ClueTokens<B: TrrgOps> {
    /// Clue logits, `[batch, n_clues]`.
    logits: Tensor<B, 2>,
    /// Clue embeddings in the interaction width, `[batch, n_clues, d]`.
    embeddings: Tensor<B, 3>,
    /// The probabilities (or decisions) embedded, `[batch, n_clues]`.
    p: Tensor<B, 2>,
}

impl<B: TrrgOps> Trrg<B> {
    /// The soft prompt (see the module docs).
    ///
    /// # Shapes
    /// - images: `[batch, n_views, channels, height, width]`
    /// - output: see [`Prefix`]
    pub(crate) fn prefix_with(
        &self,
        images: Tensor<B, 5>,
        bank: Option<&ClueBank<B>>,
        mode: Mode<B>,
    ) -> crate::Result<Prefix<B>> {
        let [batch, n_views, ..] = images.dims();
        let padding = match bank {
            Some(bank) => bank.padding_for(batch)?,
            None => None,
        };
        let out = self.encode_views(images)?;
        // Visual-token dropout (training only): the rows whose visual tokens the LLM does not
        // see, drawn before anything else in the pass.
        let dropout = self.settings.clue.visual_dropout;
        let keep = (matches!(mode, Mode::Train(_)) && dropout > 0.0).then(|| {
            trrg_io::random::bernoulli::<B, 3>([batch, 1, 1], 1.0 - dropout, &out.global.device())
        });
        let n_patches = out.patch_tokens.dims()[1];
        let views = self.fuse_views(&out, batch, n_views);
        let (global, patches, clues) = match (self.settings.clue.mode, bank) {
            (ClueMode::Off, _) => (views.global, views.patches, None),
            (_, None) => return Err(Error::MissingClueBank),
            (mode_, Some(bank)) => {
                let clues = self.clue_tokens(&out, batch, n_views, bank, mode);
                if mode_ == ClueMode::Full {
                    let fused = self.interaction.forward(
                        views.global,
                        views.patches,
                        clues.embeddings,
                        padding.clone(),
                    );
                    let clues = ClueTokens {
                        embeddings: fused.clues,
                        ..clues
                    };
                    (fused.global, fused.patches, Some((clues, bank)))
                } else {
                    (views.global, views.patches, Some((clues, bank)))
                }
            }
        };
        let patches = self.pool_patches(patches, batch, views.n_fused, n_patches)?;
        Ok(self.assemble_prefix(global, patches, clues, padding, keep))
    }

    /// Projects the visual tokens to the interaction width and fuses the views: concat adds
    /// each view's learned embedding and keeps every view's tokens; average means them.
    ///
    /// # Shapes
    /// - out: patch tokens `[batch * n_views, n_patches, d_vision]`, global `[batch * n_views, d_vision]`
    fn fuse_views(&self, out: &VisionOutput<B>, batch: usize, n_views: usize) -> FusedViews<B> {
        let [_, n_patches, _] = out.patch_tokens.dims();
        let d = self.view_embed.dims()[1];
        let patches = self
            .visual_proj
            .forward(out.patch_tokens.clone())
            .reshape([batch, n_views, n_patches, d]); // [batch, n_views, n_patches, d_interact]
        let global = self
            .visual_proj
            .forward(out.global.clone())
            .reshape([batch, n_views, d]); // [batch, n_views, d_interact]
        match self.settings.view_fusion {
            ViewFusion::Concat => {
                let views = self.view_embed.val().narrow(0, 0, n_views);
                let patches = (patches + views.clone().reshape([1, n_views, 1, d])).reshape([
                    batch,
                    n_views * n_patches,
                    d,
                ]);
                FusedViews {
                    patches,
                    global: global + views.unsqueeze::<3>(),
                    n_fused: n_views,
                }
            }
            ViewFusion::Average => FusedViews {
                patches: patches.mean_dim(1).reshape([batch, n_patches, d]),
                global: global.mean_dim(1),
                n_fused: 1,
            },
        }
    }

    /// Clue logits, the probabilities the LLM is shown (teacher-forced in training, hard
    /// decisions at inference where thresholds exist), and their embeddings.
    fn clue_tokens(
        &self,
        out: &VisionOutput<B>,
        batch: usize,
        n_views: usize,
        bank: &ClueBank<B>,
        mode: Mode<B>,
    ) -> ClueTokens<B> {
        let device = out.global.device();
        let d = self.view_embed.dims()[1];
        // An empty disease set gives no clues (burn's linear layers reject zero rows).
        if bank.prompts.n_clues() == 0 {
            return ClueTokens {
                logits: Tensor::zeros([batch, 0], &device),
                embeddings: Tensor::zeros([batch, 0, d], &device),
                p: Tensor::zeros([batch, 0], &device),
            };
        }
        let logits = self.clue_logits_of(out, batch, n_views, bank);
        let mut p = sigmoid(logits.clone());
        match mode {
            Mode::Train(Some(Forced { values, used })) => p = p.mask_where(used, values),
            Mode::Train(None) => {}
            Mode::Infer => {
                let hard = if let Some(t) = &bank.thresholds {
                    let n = t.len();
                    let t = Tensor::<B, 1>::from_floats(t.as_slice(), &device);
                    Some(
                        p.clone()
                            .greater_equal(t.unsqueeze::<2>().expand([batch, n])),
                    )
                } else {
                    (self.settings.clue.hard_threshold).map(|t| p.clone().greater_equal_elem(t))
                };
                if let Some(hard) = hard {
                    p = match &bank.gate {
                        Some(gate) => gate.apply_tensor(hard.float()),
                        None => hard.float(),
                    };
                }
            }
        }
        let embeddings = self.clue_embedder.forward(p.clone(), &bank.prompts);
        ClueTokens {
            logits,
            embeddings,
            p,
        }
    }

    /// The patch tokens the LLM gets: all of them (`llm_patch_grid` 0), or each view's grid
    /// average-pooled to `k x k`.
    ///
    /// # Shapes
    /// - patches: `[batch, n_fused * n_patches, d]` -> `[batch, n_fused * k * k, d]`
    fn pool_patches(
        &self,
        patches: Tensor<B, 3>,
        batch: usize,
        n_fused: usize,
        n_patches: usize,
    ) -> crate::Result<Tensor<B, 3>> {
        let k = self.settings.llm_patch_grid;
        if k == 0 {
            return Ok(patches);
        }
        let d = patches.dims()[2];
        let side = (n_patches as f64).sqrt().round() as usize;
        if side * side != n_patches {
            return Err(Error::Shape {
                what: "llm_patch_grid",
                reason: format!("{n_patches} patches per view are not a square grid"),
            });
        }
        let grid = patches
            .reshape([batch * n_fused, side, side, d])
            .permute([0, 3, 1, 2]); // [batch * views, d_interact, side, side]
        Ok(adaptive_avg_pool2d(grid, [k, k])
            .reshape([batch * n_fused, d, k * k])
            .swap_dims(1, 2)
            .reshape([batch, n_fused * k * k, d])) // [batch, views * k * k, d_interact]
    }

    /// `<img> visual tokens </img> <clue> clue tokens [clue words] </clue>` in the LLM's width,
    /// with lexical clues added, and its mask (false at padded clue tokens and at the padding of
    /// the clue words).
    ///
    /// # Shapes
    /// - global: `[batch, n_global, d]`, patches: `[batch, n_patch_tokens, d]`
    fn assemble_prefix(
        &self,
        global: Tensor<B, 3>,
        patches: Tensor<B, 3>,
        clues: Option<(ClueTokens<B>, &ClueBank<B>)>,
        padding: Option<Tensor<B, 2, Bool>>,
        keep: Option<Tensor<B, 3>>,
    ) -> Prefix<B> {
        let batch = global.dims()[0];
        let mut visual = self
            .visual_to_llm
            .forward(Tensor::cat(vec![global, patches], 1)); // [batch, n_visual, d_llm]
        if let Some(keep) = keep {
            visual = visual * keep; // [batch, n_visual, d_llm], zero in dropped rows
        }
        let d_llm = visual.dims()[2];
        let marker = |i: usize| {
            self.markers
                .val()
                .narrow(0, i, 1)
                .reshape([1, 1, d_llm])
                .expand([batch, 1, d_llm])
        };
        let device = visual.device();
        let n_visual = visual.dims()[1];
        let mut parts = vec![marker(0), visual, marker(1)];
        let mut mask = vec![real_mask(batch, n_visual + 2, &device)];
        let mut clue_logits = None;
        if let Some((clues, bank)) = clues {
            let n_clues = clues.embeddings.dims()[1];
            let mut tokens = self.clue_to_llm.forward(clues.embeddings); // [batch, n_clues, d_llm]
            let n_tokens = bank.tokens.ids.dims()[0];
            if self.settings.clue.lexical && n_clues > 0 && n_tokens > 0 {
                let words = self
                    .llm
                    .embed(bank.tokens.ids.clone().reshape([1, n_tokens]))
                    .reshape([n_tokens, d_llm]);
                let words = bank.tokens.weights.clone().matmul(words); // [n_clues, d_llm]
                tokens = tokens
                    + clues.p.clone().reshape([batch, n_clues, 1])
                        * words.reshape([1, n_clues, d_llm]);
            }
            let words = if self.settings.clue.words {
                clue_words(&clues.p, padding.as_ref(), &bank.tokens.statements)
            } else {
                None
            };
            parts.extend([marker(2), tokens]);
            mask.extend([
                real_mask(batch, 1, &device),
                match padding {
                    Some(p) => p.bool_not(),
                    None => real_mask(batch, n_clues, &device),
                },
            ]);
            if let Some((ids, real)) = words {
                parts.push(self.llm.embed(ids));
                mask.push(real);
            }
            parts.push(marker(3));
            mask.push(real_mask(batch, 1, &device));
            clue_logits = Some(clues.logits);
        }
        Prefix {
            embeds: Tensor::cat(parts, 1),
            clue_logits,
            mask: Tensor::cat(mask, 1),
        }
    }
}

/// The clue words of a batch: per row, the statement tokens of every clue that is on
/// (`p >= 0.5`, not padded), in clue order, left-aligned and padded to the batch's longest
/// (None when no row has any). The decisions are read back from the device once per batch.
///
/// # Shapes
/// - p: `[batch, n_clues]`, padding: `[batch, n_clues]`
/// - output: ids `[batch, n_words]`, mask `[batch, n_words]` (true at real words)
fn clue_words<B: TrrgOps>(
    p: &Tensor<B, 2>,
    padding: Option<&Tensor<B, 2, Bool>>,
    statements: &[Vec<i64>],
) -> Option<(Tensor<B, 2, Int>, Tensor<B, 2, Bool>)> {
    let [batch, n_clues] = p.dims();
    let device = p.device();
    let on = trrg_io::f32_values(p.clone());
    let padded = match padding {
        Some(m) => trrg_io::bool_values(m.clone()),
        None => vec![false; batch * n_clues],
    };
    let rows: Vec<Vec<i64>> = (0..batch)
        .map(|b| {
            (0..n_clues)
                .filter(|&d| {
                    let i = b * n_clues + d;
                    on[i] >= 0.5 && !padded[i]
                })
                .flat_map(|d| statements.get(d).into_iter().flatten().copied())
                .collect()
        })
        .collect();
    let n_words = rows.iter().map(Vec::len).max().unwrap_or(0);
    if n_words == 0 {
        return None;
    }
    let mut ids = vec![0i64; batch * n_words];
    let mut real = vec![false; batch * n_words];
    for (b, row) in rows.iter().enumerate() {
        ids[b * n_words..b * n_words + row.len()].copy_from_slice(row);
        real[b * n_words..b * n_words + row.len()].fill(true);
    }
    Some((
        Tensor::from_data(TensorData::new(ids, [batch, n_words]), &device),
        Tensor::from_data(TensorData::new(real, [batch, n_words]), &device),
    ))
}
