//! `ClueBank`: a disease set ready for the model (prompt embeddings, label columns, the LLM's
//! prompt tokens, per-row padding and per-disease decision thresholds).

use burn::prelude::*;
use burn::tensor::TensorData;
use trrg_clue::{DiseaseLabels, DiseaseSet, PromptEmbeddings};
use trrg_kernels::{TrrgAutodiff, TrrgOps};
use trrg_tokenize::ReportTokenizer;

use crate::Error;

/// A disease set ready for the model: prompt embeddings (computed once) and label columns.
///
/// For a batch whose studies use different disease sets, build the bank of their union and mark
/// each row's missing diseases with [`ClueBank::with_padding`]: a padded clue has no effect on
/// that row (not in the interaction, not in the LLM's soft prompt, not in the consistency loss).
#[derive(Clone, Debug)]
pub struct ClueBank<B: TrrgOps> {
    /// Disease names, in clue order.
    pub names: Vec<String>,
    /// Prompt embeddings from the text encoder, averaged over templates.
    pub prompts: PromptEmbeddings<B>,
    /// Column of each disease in a CheXpert label row, if it is one of the 14.
    pub label_columns: Vec<Option<usize>>,
    /// `[batch, n_clues]`, true where a row does not use the clue (None = every row uses all).
    pub padding: Option<Tensor<B, 2, Bool>>,
    /// The LLM's tokens of the positive prompts (for lexical clues).
    pub tokens: PromptTokens<B>,
    /// Per-disease decision thresholds: at inference each clue becomes hard, 1 where
    /// `p_d >= threshold_d`, else 0 (None = the model's `clue.hard_threshold`, else soft). Set
    /// with [`ClueBank::with_thresholds`]; training fits them on the validation split.
    pub thresholds: Option<Vec<f32>>,
    /// With hard clues, No Finding decided consistently with the other decisions
    /// (`clue.no_finding_gate`; None = each clue decided alone).
    pub gate: Option<NoFindingGate>,
}

/// CheXpert's No Finding rule applied to hard clue decisions: No Finding stays on only where no
/// finding other than Support Devices is on. Decided alone, per-disease thresholds let No
/// Finding be on beside a finding, a clue set that teacher forcing (whose labels follow the
/// rule) never shows the LLM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoFindingGate {
    /// No Finding's clue index.
    pub no_finding: usize,
    /// The clue indices of the findings that rule No Finding out (every CheXpert observation
    /// in the set but No Finding and Support Devices).
    pub findings: Vec<usize>,
}

impl NoFindingGate {
    /// The gate of a disease set with these CheXpert columns (None without a No Finding clue).
    pub fn of(label_columns: &[Option<usize>]) -> Option<Self> {
        let names = DiseaseSet::chexpert();
        let names = names.names();
        let column = |name: &str| names.iter().position(|n| *n == name);
        let (no_finding, devices) = (column("No Finding"), column("Support Devices"));
        Some(Self {
            no_finding: label_columns
                .iter()
                .position(|&c| c.is_some() && c == no_finding)?,
            findings: (0..label_columns.len())
                .filter(|&d| {
                    label_columns[d].is_some()
                        && label_columns[d] != no_finding
                        && label_columns[d] != devices
                })
                .collect(),
        })
    }

    /// Turns No Finding off where a finding is on.
    pub fn apply(&self, decisions: &mut [bool]) {
        if self.findings.iter().any(|&d| decisions[d]) {
            decisions[self.no_finding] = false;
        }
    }

    /// [`NoFindingGate::apply`] on the device, to 0/1 decisions.
    ///
    /// # Shapes
    /// - decisions: `[batch, n_clues]` -> `[batch, n_clues]`
    pub fn apply_tensor<B: TrrgOps>(&self, decisions: Tensor<B, 2>) -> Tensor<B, 2> {
        let [_, n] = decisions.dims();
        let device = decisions.device();
        let mut findings = vec![0.0f32; n];
        for &d in &self.findings {
            findings[d] = 1.0;
        }
        let mut no_finding = vec![0.0f32; n];
        no_finding[self.no_finding] = 1.0;
        let row = |v: Vec<f32>| {
            Tensor::<B, 1>::from_data(TensorData::new(v, [n]), &device).unsqueeze::<2>()
        };
        let any = (decisions.clone() * row(findings))
            .sum_dim(1)
            .greater_elem(0.5)
            .float(); // [batch, 1]
        decisions.clone() - decisions * row(no_finding) * any
    }
}

/// The LLM's token ids of each disease's positive prompts, and how to average their embeddings
/// per disease (each template counts equally, each token equally within its template).
#[derive(Clone, Debug)]
pub struct PromptTokens<B: TrrgOps> {
    /// Every positive prompt's token ids, concatenated, `[n_tokens]`.
    pub ids: Tensor<B, 1, Int>,
    /// Averaging weights, `[n_clues, n_tokens]`.
    pub weights: Tensor<B, 2>,
    /// Each disease's first positive prompt in the LLM's tokens: the words a present clue
    /// writes into the soft prompt with `clue.words`.
    pub statements: Vec<Vec<i64>>,
}

impl<B: TrrgOps> PromptTokens<B> {
    /// Tokenizes the positive prompts of `set` with the LLM's tokenizer; every id must be below
    /// `vocab_size` (the LLM's embedding table).
    pub fn new(
        set: &DiseaseSet,
        tokenizer: &dyn ReportTokenizer,
        vocab_size: usize,
        device: &B::Device,
    ) -> crate::Result<Self> {
        let mut ids = Vec::new();
        let mut entries = Vec::new(); // (disease, token index, weight)
        let mut statements = Vec::with_capacity(set.len());
        for (d, disease) in set.diseases.iter().enumerate() {
            let templates: Vec<Vec<u32>> = disease
                .positive
                .iter()
                .map(|p| tokenizer.tokenize(p))
                .collect::<Result<_, _>>()?;
            let used = templates.iter().filter(|t| !t.is_empty()).count().max(1);
            statements.push(
                templates
                    .first()
                    .map(|t| t.iter().map(|&id| i64::from(id)).collect())
                    .unwrap_or_default(),
            );
            for template in templates {
                let weight = 1.0 / (used * template.len().max(1)) as f32;
                for id in template {
                    if id as usize >= vocab_size {
                        return Err(Error::PromptToken {
                            disease: disease.name.clone(),
                            id,
                            vocab_size,
                        });
                    }
                    entries.push((d, ids.len(), weight));
                    ids.push(id as i64);
                }
            }
        }
        let n_tokens = ids.len();
        let mut weights = vec![0.0f32; set.len() * n_tokens];
        for (d, t, w) in entries {
            weights[d * n_tokens + t] = w;
        }
        Ok(Self {
            ids: Tensor::from_data(TensorData::new(ids, [n_tokens]), device),
            weights: Tensor::from_data(TensorData::new(weights, [set.len(), n_tokens]), device),
            statements,
        })
    }

    /// The same tokens on `device`, or on another backend through `map`.
    pub fn map<C: TrrgOps>(
        &self,
        ids: impl FnOnce(Tensor<B, 1, Int>) -> Tensor<C, 1, Int>,
        weights: impl FnOnce(Tensor<B, 2>) -> Tensor<C, 2>,
    ) -> PromptTokens<C> {
        PromptTokens {
            ids: ids(self.ids.clone()),
            weights: weights(self.weights.clone()),
            statements: self.statements.clone(),
        }
    }
}

impl<B: TrrgAutodiff> ClueBank<B> {
    /// The bank on the inner backend, for validation and inference (as `AutodiffModule::valid`
    /// is for the model).
    pub fn valid(&self) -> ClueBank<B::InnerBackend> {
        ClueBank {
            names: self.names.clone(),
            prompts: PromptEmbeddings {
                positive: self.prompts.positive.clone().inner(),
                negative: self.prompts.negative.clone().inner(),
            },
            label_columns: self.label_columns.clone(),
            padding: self.padding.clone().map(|p| p.inner()),
            tokens: self.tokens.map(|i| i.inner(), |w| w.inner()),
            thresholds: self.thresholds.clone(),
            gate: self.gate.clone(),
        }
    }
}

impl<B: TrrgOps> ClueBank<B> {
    /// The label columns of the disease set, with unknown (value 0, not known) for diseases
    /// outside the label set; selected on the device.
    ///
    /// # Shapes
    /// - labels: `[batch, n_labels]` -> two `[batch, n_clues]`
    pub fn select_labels(
        &self,
        labels: &DiseaseLabels<B>,
    ) -> crate::Result<(Tensor<B, 2>, Tensor<B, 2, Bool>)> {
        let columns = &self.label_columns;
        let [batch, n_labels] = labels.values.dims();
        if let Some(c) = columns.iter().flatten().find(|&&c| c >= n_labels) {
            return Err(Error::Shape {
                what: "labels",
                reason: format!("disease column {c} but label rows have {n_labels} values"),
            });
        }
        let device = labels.values.device();
        let n = columns.len();
        if n_labels == 0 || n == 0 {
            return Ok((
                Tensor::zeros([batch, n], &device),
                Tensor::<B, 2>::zeros([batch, n], &device).bool(),
            ));
        }
        let index: Vec<i64> = columns.iter().map(|c| c.unwrap_or(0) as i64).collect();
        let index = Tensor::<B, 1, Int>::from_data(TensorData::new(index, [n]), &device);
        // 1 where the disease has a label column, 0 where it has none.
        let present: Vec<f32> = columns
            .iter()
            .map(|c| f32::from(u8::from(c.is_some())))
            .collect();
        let present = Tensor::<B, 1>::from_data(TensorData::new(present, [n]), &device)
            .unsqueeze::<2>()
            .expand([batch, n]);
        let values = labels
            .values
            .clone()
            .select(1, index.clone())
            .mask_fill(present.clone().lower_elem(0.5), 0.0);
        let known = (labels.known.clone().float().select(1, index) * present).greater_elem(0.5);
        Ok((values, known))
    }

    /// The same bank on `device` (for data-parallel replicas).
    pub fn to_device(&self, device: &B::Device) -> Self {
        Self {
            names: self.names.clone(),
            prompts: PromptEmbeddings {
                positive: self.prompts.positive.clone().to_device(device),
                negative: self.prompts.negative.clone().to_device(device),
            },
            label_columns: self.label_columns.clone(),
            padding: self.padding.clone().map(|p| p.to_device(device)),
            tokens: self
                .tokens
                .map(|i| i.to_device(device), |w| w.to_device(device)),
            thresholds: self.thresholds.clone(),
            gate: self.gate.clone(),
        }
    }

    /// One study's hard clue decisions from its clue probabilities (clue order): each against
    /// its threshold, then the No Finding gate. None for soft clues (no thresholds).
    pub fn decide(&self, probs: &[f32]) -> Option<Vec<bool>> {
        let thresholds = self.thresholds.as_ref()?;
        let mut on: Vec<bool> = probs.iter().zip(thresholds).map(|(p, t)| p >= t).collect();
        if let Some(gate) = &self.gate {
            gate.apply(&mut on);
        }
        Some(on)
    }

    /// The same diseases with every clue forced at inference: on where `on` is true (threshold
    /// 0), off elsewhere (threshold infinity), whatever the image shows. The obedience probe
    /// reads what the LLM writes for such clue sets.
    pub fn forced(mut self, on: &[bool]) -> crate::Result<Self> {
        if on.len() != self.names.len() {
            return Err(Error::Shape {
                what: "forced clues",
                reason: format!("{} values for {} diseases", on.len(), self.names.len()),
            });
        }
        self.thresholds = Some(
            on.iter()
                .map(|&on| if on { 0.0 } else { f32::INFINITY })
                .collect(),
        );
        Ok(self)
    }

    /// The same diseases with hard clues at inference decided by one threshold per disease
    /// (clue order), each in `[0, 1]`.
    pub fn with_thresholds(mut self, thresholds: Vec<f32>) -> crate::Result<Self> {
        if thresholds.len() != self.names.len() {
            return Err(Error::Shape {
                what: "clue thresholds",
                reason: format!(
                    "{} thresholds for {} diseases",
                    thresholds.len(),
                    self.names.len()
                ),
            });
        }
        if let Some((name, t)) = self
            .names
            .iter()
            .zip(&thresholds)
            .find(|(_, t)| !(0.0..=1.0).contains(*t))
        {
            return Err(Error::Shape {
                what: "clue thresholds",
                reason: format!("{name}: {t} is not in [0, 1]"),
            });
        }
        self.thresholds = Some(thresholds);
        Ok(self)
    }

    /// The same diseases with per-row padding (`[batch, n_clues]`, true = the row does not use
    /// that disease). Each row must keep at least one clue.
    pub fn with_padding(mut self, padding: Tensor<B, 2, Bool>) -> crate::Result<Self> {
        let [batch, n] = padding.dims();
        if n != self.names.len() {
            return Err(Error::Shape {
                what: "clue padding",
                reason: format!("{n} columns for {} diseases", self.names.len()),
            });
        }
        let kept = trrg_io::i64_values(padding.clone().bool_not().int().sum_dim(1));
        if let Some(row) = kept.iter().position(|&k| k == 0) {
            return Err(Error::Shape {
                what: "clue padding",
                reason: format!("row {row} of {batch} pads every clue; give it at least one"),
            });
        }
        self.padding = Some(padding);
        Ok(self)
    }

    /// The bank of the diseases at `indices` (in that order), without padding.
    pub fn select(&self, indices: &[usize]) -> crate::Result<Self> {
        let n = self.names.len();
        if let Some(&i) = indices.iter().find(|&&i| i >= n) {
            return Err(Error::Shape {
                what: "clue indices",
                reason: format!("index {i} but the bank has {n} diseases"),
            });
        }
        let device = self.prompts.positive.device();
        let rows = Tensor::<B, 1, Int>::from_data(
            TensorData::new(indices.iter().map(|&i| i as i64).collect(), [indices.len()]),
            &device,
        );
        Ok(Self {
            names: indices.iter().map(|&i| self.names[i].clone()).collect(),
            prompts: PromptEmbeddings {
                positive: self.prompts.positive.clone().select(0, rows.clone()),
                negative: self.prompts.negative.clone().select(0, rows.clone()),
            },
            label_columns: indices.iter().map(|&i| self.label_columns[i]).collect(),
            padding: None,
            tokens: PromptTokens {
                ids: self.tokens.ids.clone(),
                weights: self.tokens.weights.clone().select(0, rows),
                statements: indices
                    .iter()
                    .map(|&i| self.tokens.statements[i].clone())
                    .collect(),
            },
            thresholds: self
                .thresholds
                .as_ref()
                .map(|t| indices.iter().map(|&i| t[i]).collect()),
            gate: self.gate.as_ref().and_then(|_| {
                NoFindingGate::of(
                    &indices
                        .iter()
                        .map(|&i| self.label_columns[i])
                        .collect::<Vec<_>>(),
                )
            }),
        })
    }

    /// The padding for a batch of `batch` rows, checked against it.
    pub(crate) fn padding_for(&self, batch: usize) -> crate::Result<Option<Tensor<B, 2, Bool>>> {
        match &self.padding {
            Some(p) if p.dims()[0] != batch => Err(Error::Shape {
                what: "clue padding",
                reason: format!("{} rows for a batch of {batch}", p.dims()[0]),
            }),
            other => Ok(other.clone()),
        }
    }
}
