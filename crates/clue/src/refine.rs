//! Disease-aware refinement of the zero-shot clue logits.

use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;
use trrg_kernels::TrrgOps;

/// Refiner settings.
#[derive(Config, Debug)]
pub struct ClueRefinerConfig {
    /// Width of the visual global token.
    pub d_vision: usize,
    /// Width of the prompt (text) embeddings.
    pub d_text: usize,
    /// Width of the bilinear space. Default 64.
    #[config(default = 64)]
    pub d_refine: usize,
}

impl ClueRefinerConfig {
    /// Builds the refiner; its text side starts at zero, so the refined logits start equal to
    /// the zero-shot ones.
    pub fn init<B: TrrgOps>(&self, device: &B::Device) -> ClueRefiner<B> {
        ClueRefiner {
            image: LinearConfig::new(self.d_vision, self.d_refine).init(device),
            disease: LinearConfig::new(self.d_text, self.d_refine)
                .with_initializer(Initializer::Zeros)
                .init(device),
        }
    }
}

/// A bilinear correction `<A g, C (pos_d + neg_d) / 2>` between the study's global visual
/// feature `g` and each disease's identity (the mean of its prompt embeddings).
///
/// Zero-shot logits are differences of cosines with prompt directions that are nearly parallel
/// across diseases ("X" versus "no X" differ mostly by the word "no"), so one image embedding
/// cannot move them independently. The refiner gives each disease its own direction, still
/// without per-disease parameters (any disease set works), and the consistency loss trains it.
#[derive(Module, Debug)]
pub struct ClueRefiner<B: TrrgOps> {
    /// `A`, `[d_vision, d_refine]`
    pub image: Linear<B>,
    /// `C`, `[d_text, d_refine]`
    pub disease: Linear<B>,
}

impl<B: TrrgOps> ClueRefiner<B> {
    /// The correction to add to the zero-shot logits.
    ///
    /// # Shapes
    /// - global: `[batch, d_vision]`
    /// - identity: `[n_clues, d_text]`, the disease identities
    ///   ([`crate::PromptEmbeddings::identity`], or whitened)
    /// - output: `[batch, n_clues]`
    pub fn forward(&self, global: Tensor<B, 2>, identity: Tensor<B, 2>) -> Tensor<B, 2> {
        self.score(global, self.disease_vectors(identity))
    }

    /// Each disease's vector `C e_d` in the bilinear space.
    ///
    /// # Shapes
    /// - identity: `[n_clues, d_text]` -> `[n_clues, d_refine]`
    pub fn disease_vectors(&self, identity: Tensor<B, 2>) -> Tensor<B, 2> {
        self.disease.forward(identity)
    }

    /// [`ClueRefiner::forward`] with the disease vectors given (`C e_d`, plus a
    /// [`crate::ClueReadout`]'s own offsets).
    ///
    /// # Shapes
    /// - global: `[batch, d_vision]`
    /// - vectors: `[n_clues, d_refine]`
    /// - output: `[batch, n_clues]`
    pub fn score(&self, global: Tensor<B, 2>, vectors: Tensor<B, 2>) -> Tensor<B, 2> {
        self.image.forward(global).matmul(vectors.transpose())
    }
}
