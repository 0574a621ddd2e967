//! Spatial clue evidence: where in the image the visual features are, not only what they are.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

use crate::{ClueRefiner, ClueRefinerConfig, PromptEmbeddings};

/// [`ClueSpatial`]'s sizes.
#[derive(Config, Debug)]
pub struct ClueSpatialConfig {
    /// Width of the visual tokens.
    pub d_vision: usize,
    /// Width of the prompt embeddings.
    pub d_text: usize,
    /// Grid cells over all views (`max_views * grid * grid`).
    pub n_cells: usize,
    /// Features kept per cell. Default 8.
    #[config(default = 8)]
    pub d_cell: usize,
    /// Rank of the bilinear disease map. Default 64.
    #[config(default = 64)]
    pub d_refine: usize,
}

impl ClueSpatialConfig {
    /// Random cell projection; the disease side starts at zero, so a new model's clue logits
    /// are unchanged until training moves it.
    pub fn init<B: Backend>(&self, device: &B::Device) -> ClueSpatial<B> {
        ClueSpatial {
            cell: LinearConfig::new(self.d_vision, self.d_cell).init(device),
            refiner: ClueRefinerConfig::new(self.n_cells * self.d_cell, self.d_text)
                .with_d_refine(self.d_refine)
                .init(device),
        }
    }
}

/// Spatial clue evidence: each grid cell's visual feature is projected to a few numbers, the
/// cells are concatenated in a fixed order (view, row, column), and the disease's logit gets
/// `<A s, C e_d>` of that layout `s` and the disease's mean prompt embedding `e_d` (a
/// [`ClueRefiner`] on `s`). Position is kept, so "bright at the left base" and "bright at the
/// right apex" differ, which the global token and the attention pooling of the locator blur;
/// a linear read of the pixel layout is what separates most synthetic findings. No
/// per-disease parameter: any disease set works.
#[derive(Module, Debug)]
pub struct ClueSpatial<B: Backend> {
    /// Cell feature -> `d_cell`.
    pub cell: Linear<B>,
    /// The bilinear map of the layout and the disease.
    pub refiner: ClueRefiner<B>,
}

impl<B: Backend> ClueSpatial<B> {
    /// Logit contributions.
    ///
    /// # Shapes
    /// - cells: `[batch, n_cells, d_vision]` (zeros for absent views)
    /// - output: `[batch, n_clues]`
    pub fn forward(&self, cells: Tensor<B, 3>, prompts: &PromptEmbeddings<B>) -> Tensor<B, 2> {
        let [batch, n_cells, _] = cells.dims();
        let layout = self.cell.forward(cells); // [batch, n_cells, d_cell]
        let d_cell = layout.dims()[2];
        self.refiner
            .forward(layout.reshape([batch, n_cells * d_cell]), prompts)
    }
}
