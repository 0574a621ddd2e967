//! The streaming NLG evaluator: `update(id, refs, hyp)` per example, then `finalize()`.

use std::collections::HashSet;
use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::bleu::{bleu_stats, BleuStats};
use crate::cider::{cider_scores, CIDER_SIGMA};
use crate::meteor::{corpus_meteor, Meteor, MeteorStats};
use crate::ngrams::{count_ngrams, Interner, NGram};
use crate::rouge::example_rouge_l;
use crate::{Error, Result};

/// Corpus scores, pycocoevalcap's numbers (R2Gen convention: no PTB tokenizer).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NlgScores {
    /// BLEU-1..4 (cumulative, corpus level).
    pub bleu: [f64; 4],
    /// METEOR 1.5 (score of the pooled statistics, as pycocoevalcap).
    pub meteor: f64,
    /// The METEOR modules used, e.g. `"exact,stem,synonym,paraphrase"` (pycocoevalcap's set) or
    /// `"exact,stem"` without the jar's data.
    pub meteor_modules: String,
    /// ROUGE-L (mean of example F-scores, beta 1.2).
    pub rouge_l: f64,
    /// CIDEr-D (mean of example scores, df from this set's references).
    pub cider: f64,
    /// Per-example scores, in update order.
    pub per_example: Vec<ExampleScores>,
}

/// One example's scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExampleScores {
    /// Example id.
    pub id: String,
    /// BLEU-1..4 of this example alone.
    pub bleu: [f64; 4],
    /// METEOR of this example (against its best reference).
    pub meteor: f64,
    /// ROUGE-L.
    pub rouge_l: f64,
    /// CIDEr-D (relative to the whole set's document frequencies).
    pub cider: f64,
}

/// Accumulates examples; scores them all at [`NlgEvaluator::finalize`]. METEOR uses the exact
/// and stem modules unless [`NlgEvaluator::with_meteor`] gives it the full data.
///
/// ```
/// let mut eval = trrg_metrics::NlgEvaluator::new();
/// eval.update("1", &["heart size is normal ."], "heart size is normal .").unwrap();
/// eval.update("2", &["no pleural effusion ."], "small pleural effusion .").unwrap();
/// let scores = eval.finalize().unwrap();
/// assert!(scores.bleu[0] > 0.7 && scores.rouge_l > 0.7);
/// ```
pub struct NlgEvaluator {
    meteor: Arc<Meteor>,
    interner: Interner,
    ids: Vec<String>,
    seen: HashSet<String>,
    hyps: Vec<String>,
    refs: Vec<Vec<String>>,
    /// Interned tokens of each hypothesis and of its references.
    tokens: Vec<(Vec<u32>, Vec<Vec<u32>>)>,
}

impl Default for NlgEvaluator {
    fn default() -> Self {
        Self::with_meteor(Meteor::shared_exact_stem())
    }
}

impl NlgEvaluator {
    /// An empty evaluator; METEOR with the exact and stem modules.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty evaluator whose METEOR uses `meteor` (e.g. [`Meteor::from_jar`]).
    pub fn with_meteor(meteor: Arc<Meteor>) -> Self {
        Self {
            meteor,
            interner: Interner::default(),
            ids: Vec::new(),
            seen: HashSet::new(),
            hyps: Vec::new(),
            refs: Vec::new(),
            tokens: Vec::new(),
        }
    }

    /// Adds one example: its references (at least one non-empty) and its hypothesis (may be
    /// empty: a model can generate nothing, and that scores 0).
    pub fn update(&mut self, id: &str, refs: &[impl AsRef<str>], hyp: &str) -> Result<()> {
        let refs: Vec<String> = refs.iter().map(|r| r.as_ref().to_string()).collect();
        if refs.is_empty() || refs.iter().all(|r| r.trim().is_empty()) {
            return Err(Error::NoReference { id: id.to_string() });
        }
        if !self.seen.insert(id.to_string()) {
            return Err(Error::DuplicateId { id: id.to_string() });
        }
        let hyp_tokens = self.interner.tokens(hyp);
        let ref_tokens: Vec<Vec<u32>> = refs.iter().map(|r| self.interner.tokens(r)).collect();
        self.tokens.push((hyp_tokens, ref_tokens));
        self.ids.push(id.to_string());
        self.hyps.push(hyp.to_string());
        self.refs.push(refs);
        Ok(())
    }

    /// Number of examples so far.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no example was added.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// BLEU-1..4 of everything added, as pycocoevalcap's `Bleu(4).compute_score`.
    pub fn bleu(&self) -> BleuScores {
        let stats: Vec<BleuStats> = self
            .tokens
            .par_iter()
            .map(|(h, r)| bleu_stats(h, r))
            .collect();
        let totals = BleuStats::sum(&stats);
        BleuScores {
            corpus: totals.score(),
            per_example: stats.iter().map(BleuStats::score).collect(),
            totals,
        }
    }

    /// Per-example ROUGE-L (beta 1.2), as pycocoevalcap's `Rouge().compute_score`; the corpus
    /// score is their mean.
    pub fn rouge_l(&self) -> Vec<f64> {
        self.hyps
            .par_iter()
            .zip(&self.refs)
            .map(|(h, r)| example_rouge_l(h, r))
            .collect()
    }

    /// Per-example CIDEr-D (n-grams up to 4) with length penalty width `sigma`, as
    /// pycocoevalcap's `Cider(sigma=sigma).compute_score`; the corpus score is their mean.
    pub fn cider(&self, sigma: f64) -> Vec<f64> {
        type Counts = Vec<(NGram, u32)>;
        let (hyp_counts, ref_counts): (Vec<Counts>, Vec<Vec<Counts>>) = self
            .tokens
            .par_iter()
            .map(|(h, r)| {
                (
                    count_ngrams(h, 4),
                    r.iter().map(|r| count_ngrams(r, 4)).collect(),
                )
            })
            .unzip();
        cider_scores(&hyp_counts, &ref_counts, sigma)
    }

    /// METEOR of everything added: per-example scores and the corpus score of the pooled
    /// statistics, as pycocoevalcap's `Meteor().compute_score`.
    pub fn meteor(&self) -> MeteorScores {
        let stats: Vec<MeteorStats> = self.meteor.stats_many(&self.hyps, &self.refs);
        MeteorScores {
            corpus: corpus_meteor(&stats),
            per_example: stats.iter().map(MeteorStats::score).collect(),
            modules: self.meteor.modules(),
        }
    }

    /// Scores everything added.
    pub fn finalize(&self) -> Result<NlgScores> {
        if self.ids.is_empty() {
            return Err(Error::Empty);
        }
        let rouge = self.rouge_l();
        let meteor = self.meteor();
        let bleu = self.bleu();
        let cider = self.cider(CIDER_SIGMA);
        let n = self.ids.len() as f64;
        let per_example = (0..self.ids.len())
            .map(|i| ExampleScores {
                id: self.ids[i].clone(),
                bleu: bleu.per_example[i],
                meteor: meteor.per_example[i],
                rouge_l: rouge[i],
                cider: cider[i],
            })
            .collect();
        Ok(NlgScores {
            bleu: bleu.corpus,
            meteor: meteor.corpus,
            meteor_modules: meteor.modules,
            rouge_l: rouge.iter().sum::<f64>() / n,
            cider: cider.iter().sum::<f64>() / n,
            per_example,
        })
    }
}

/// BLEU-1..4 of a set ([`NlgEvaluator::bleu`]).
#[derive(Clone, Debug, PartialEq)]
pub struct BleuScores {
    /// Corpus BLEU-1..4.
    pub corpus: [f64; 4],
    /// BLEU-1..4 of each example alone, in update order.
    pub per_example: Vec<[f64; 4]>,
    /// The pooled counts behind the corpus score (what pycocoevalcap prints when verbose).
    pub totals: BleuStats,
}

/// METEOR of a set ([`NlgEvaluator::meteor`]).
#[derive(Clone, Debug, PartialEq)]
pub struct MeteorScores {
    /// The score of the pooled statistics.
    pub corpus: f64,
    /// Each example's score against its best reference, in update order.
    pub per_example: Vec<f64>,
    /// The modules used ([`Meteor::modules`]).
    pub modules: String,
}
