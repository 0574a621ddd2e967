//! Spatial clue readout: each disease's own linear read of every view's patch tokens, averaged
//! to a coarse grid, so a finding drawn in a fixed place of the image is read in that place.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::module::{adaptive_avg_pool1d, adaptive_avg_pool2d};
use burn::tensor::TensorData;
use trrg_kernels::TrrgOps;

use crate::readout::{bias_param, slot_bias, slot_select};

/// Each view's patch tokens averaged to a `cells x cells` grid (adaptive average pooling over
/// the square patch grid; a sequence that is not a square grid is averaged in `cells * cells`
/// runs of consecutive tokens).
///
/// # Shapes
/// - patches: `[rows, n_patches, d_vision]` -> `[rows, cells * cells, d_vision]`
pub fn pool_patch_grid<B: TrrgOps>(patches: Tensor<B, 3>, cells: usize) -> Tensor<B, 3> {
    let [rows, n_patches, d_vision] = patches.dims();
    let n_cells = cells * cells;
    let side = (n_patches as f64).sqrt().round() as usize;
    let channels_first = patches.swap_dims(1, 2); // [rows, d_vision, n_patches]
    let pooled = if side * side == n_patches {
        adaptive_avg_pool2d(
            channels_first.reshape([rows, d_vision, side, side]),
            [cells, cells],
        )
        .reshape([rows, d_vision, n_cells])
    } else {
        adaptive_avg_pool1d(channels_first, n_cells)
    };
    pooled.swap_dims(1, 2)
}

/// Spatial readout settings.
#[derive(Config, Debug)]
pub struct ClueSpatialConfig {
    /// Number of diseases with weights of their own (the 14 CheXpert observations; a disease
    /// without a slot gets nothing from this term).
    pub n_slots: usize,
    /// The most views a study has (each view slot has its own weights).
    pub max_views: usize,
    /// Width of the visual encoder's patch tokens.
    pub d_vision: usize,
    /// Side of the grid the patch tokens are averaged to.
    #[config(default = 4)]
    pub cells: usize,
}

impl ClueSpatialConfig {
    /// Builds the readout at zero: it adds nothing until the consistency loss trains it.
    pub fn init<B: TrrgOps>(&self, device: &B::Device) -> ClueSpatial<B> {
        let n_cells = self.cells.max(1).pow(2);
        ClueSpatial {
            weight: Param::from_tensor(Tensor::zeros(
                [self.n_slots, self.max_views, n_cells, self.d_vision],
                device,
            )),
            bias: Param::from_tensor(Tensor::zeros([self.n_slots], device)),
        }
    }
}

/// A logit term per disease that is linear in the views' pooled patch grids:
/// `s_d = b_d + <W_d, g> / sqrt(|g|)`, where `g` holds each view's patch tokens averaged to a
/// `cells x cells` grid.
///
/// The other clue heads read the image through a pooled token or through attention whose query
/// is the disease's prompt embedding; neither has a weight per disease and place. The perception
/// probe (`linear probe (patch grid)`, docs/results.md) found that a logistic regression on this
/// grid separates the large findings of the synthetic set (0.99-1.00 AUC for Cardiomegaly,
/// Consolidation, Edema and Enlarged Cardiomediastinum on the stage-1 encoder) where the clue
/// logits after stage 2 reach 0.85-0.98. This term is that regression, trained with the model.
/// The `1 / sqrt(|g|)` keeps one optimizer step from moving a logit by more than about the
/// learning rate times `sqrt(|g|)`.
#[derive(Module, Debug)]
pub struct ClueSpatial<B: TrrgOps> {
    /// `W`, `[n_slots, max_views, cells * cells, d_vision]`
    pub weight: Param<Tensor<B, 4>>,
    /// `b`, `[n_slots]`
    pub bias: Param<Tensor<B, 1>>,
}

impl<B: TrrgOps> ClueSpatial<B> {
    /// Number of slots.
    pub fn n_slots(&self) -> usize {
        self.bias.dims()[0]
    }

    /// Each view's patch tokens averaged to the readout's grid (a sequence that is not a square
    /// grid is averaged in `cells * cells` runs of consecutive tokens).
    ///
    /// # Shapes
    /// - patches: `[batch * n_views, n_patches, d_vision]` -> `[batch * n_views, cells * cells, d_vision]`
    pub fn grid(&self, patches: Tensor<B, 3>) -> Tensor<B, 3> {
        pool_patch_grid(patches, self.cells())
    }

    /// Side of the grid the readout reads (its weights hold `cells * cells` cells per view).
    pub fn cells(&self) -> usize {
        (self.weight.dims()[2] as f64).sqrt().round() as usize
    }

    /// Sets every weight and bias (row-major, the shapes of [`ClueSpatial::weight`] and
    /// [`ClueSpatial::bias`]).
    pub fn with_values(mut self, weight: Vec<f32>, bias: &[f32]) -> crate::Result<Self> {
        let dims = self.weight.dims();
        if weight.len() != dims.iter().product::<usize>() {
            return Err(crate::Error::Shape {
                what: "spatial readout weights",
                reason: format!("{} values for {dims:?}", weight.len()),
            });
        }
        let device = self.weight.device();
        self.weight = Param::from_tensor(Tensor::from_data(TensorData::new(weight, dims), &device));
        self.with_bias(bias)
    }

    /// The logit term of the diseases whose slots are `slots` (in clue order; None or a slot
    /// past the end: zero).
    ///
    /// # Shapes
    /// - patches: `[batch * n_views, n_patches, d_vision]`, views of a study consecutive
    /// - output: `[batch, n_clues]`
    pub fn forward(
        &self,
        patches: Tensor<B, 3>,
        batch: usize,
        n_views: usize,
        slots: &[Option<usize>],
    ) -> Tensor<B, 2> {
        let [n_slots, max_views, n_cells, d_vision] = self.weight.dims();
        let n_views = n_views.min(max_views);
        let features = n_views * n_cells * d_vision;
        let grid = self
            .grid(patches)
            .reshape([batch, features])
            .div_scalar((features as f64).sqrt());
        let select = slot_select::<B>(slots, n_slots, &self.bias.device());
        let weight = self
            .weight
            .val()
            .slice([0..n_slots, 0..n_views])
            .reshape([n_slots, features]);
        let rows = select.clone().matmul(weight); // [n_clues, features]
        grid.matmul(rows.transpose()) + slot_bias(select, &self.bias)
    }

    /// Sets the biases, one per slot (the training log-odds of each disease).
    pub fn with_bias(mut self, bias: &[f32]) -> crate::Result<Self> {
        self.bias = bias_param(bias, &self.bias, "spatial readout biases")?;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    type B = Flex;

    #[test]
    fn grid_pools_square_cells_and_runs() {
        let device = Default::default();
        let spatial = ClueSpatialConfig::new(1, 1, 1)
            .with_cells(2)
            .init::<B>(&device);
        // One view, a 4x4 grid of 1-d tokens valued by their index.
        let patches = Tensor::<B, 1>::from_floats(
            TensorData::new((0..16).map(|v| v as f32).collect(), [16]),
            &device,
        )
        .reshape([1, 16, 1]);
        let grid = spatial.grid(patches).into_data().to_vec::<f32>().unwrap();
        // Top-left cell: tokens 0, 1, 4, 5.
        assert_eq!(grid, vec![2.5, 4.5, 10.5, 12.5]);
        // Not a square: 6 tokens averaged in 4 runs (0-1, 1-2, 3-4, 4-5).
        let run = Tensor::<B, 3>::from_data(
            TensorData::new((0..6).map(|v| v as f32).collect(), [1, 6, 1]),
            &device,
        );
        let pooled = pool_patch_grid(run, 2).into_data().to_vec::<f32>().unwrap();
        assert_eq!(pooled, vec![0.5, 1.5, 3.5, 4.5]);
        assert!(spatial.with_values(vec![0.0; 3], &[0.0]).is_err());
    }

    #[test]
    fn each_disease_reads_its_own_weights_in_its_place() {
        let device = Default::default();
        // 2 slots, 2 views, a 1x1 grid of 2-d tokens.
        let mut spatial = ClueSpatialConfig::new(2, 2, 2)
            .with_cells(1)
            .init::<B>(&device)
            .with_bias(&[0.5, -1.0])
            .unwrap();
        assert!(spatial.clone().with_bias(&[1.0]).is_err());
        // Slot 0 reads dimension 0 of view 0; slot 1 dimension 1 of view 1.
        spatial.weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(vec![2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0], [2, 2, 1, 2]),
            &device,
        ));
        // One study, two views, four patches each (the grid's mean is the mean token).
        let view0 = [3.0, 1.0];
        let view1 = [5.0, 7.0];
        let tokens: Vec<f32> = std::iter::repeat_n(view0, 4)
            .chain(std::iter::repeat_n(view1, 4))
            .flatten()
            .collect();
        let patches = Tensor::<B, 3>::from_data(TensorData::new(tokens, [2, 4, 2]), &device);
        // Clues: slot 1, no slot, slot 0. Features scale by 1 / sqrt(2 views * 1 cell * 2).
        let out = spatial
            .forward(patches, 1, 2, &[Some(1), None, Some(0)])
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        let expected = [-1.0 + 2.0 * 7.0 / 2.0, 0.0, 0.5 + 2.0 * 3.0 / 2.0];
        for (o, e) in out.iter().zip(expected) {
            assert!((o - e).abs() < 1e-5, "{out:?}");
        }
    }
}
