//! Text generation: greedy, sampling and beam search, batched, with a KV cache.
//!
//! Logit processing follows HF `generate`: repetition penalty, then no-repeat n-grams, then the
//! EOS ban until `min_new_tokens`; sampling then applies temperature, top-k and top-p. Beam
//! search scores log-probabilities (processed the same way), keeps `num_beams` hypotheses per row
//! and ranks finished ones by `sum_logprobs / generated_len ^ length_penalty` (EOS counted, as in
//! transformers 5).

use burn::prelude::*;
use burn::tensor::TensorData;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use trrg_kernels::TrrgOps;

use crate::{Error, LlamaForCausalLM};

/// Decoding settings (HF `GenerationConfig` names).
#[derive(burn::config::Config, Debug)]
pub struct GenerationConfig {
    /// Most tokens to generate. Default 100 (R2GenGPT, IU-Xray).
    #[config(default = 100)]
    pub max_new_tokens: usize,
    /// EOS is forbidden before this many tokens. Default 0.
    #[config(default = 0)]
    pub min_new_tokens: usize,
    /// 1 = greedy or sampling; more = beam search. Default 1.
    #[config(default = 1)]
    pub num_beams: usize,
    /// Exponent of the generated length that divides a beam's log-probability. Default 1.
    #[config(default = 1.0)]
    pub length_penalty: f64,
    /// Stop a row's beam search as soon as `num_beams` hypotheses are finished. Default false.
    #[config(default = false)]
    pub early_stopping: bool,
    /// Penalty (> 1 discourages) on tokens already generated. Default 1 (off).
    #[config(default = 1.0)]
    pub repetition_penalty: f64,
    /// Forbid repeating any n-gram of this size; 0 = off. Default 0.
    #[config(default = 0)]
    pub no_repeat_ngram_size: usize,
    /// Sample instead of taking the best token (num_beams 1 only). Default false.
    #[config(default = false)]
    pub do_sample: bool,
    /// Sampling temperature. Default 1.
    #[config(default = 1.0)]
    pub temperature: f64,
    /// Keep the k most likely tokens when sampling; 0 = all. Default 0.
    #[config(default = 0)]
    pub top_k: usize,
    /// Nucleus sampling mass. Default 1 (off).
    #[config(default = 1.0)]
    pub top_p: f64,
    /// Tokens that end a sequence.
    #[config(default = "Vec::new()")]
    pub eos_token_ids: Vec<u32>,
    /// Seed of the sampler.
    #[config(default = 0)]
    pub seed: u64,
    /// Sequences returned per row, as transformers' `num_return_sequences`: beam search's best
    /// finished hypotheses, best first (at most `num_beams`). Default 1.
    #[config(default = 1)]
    pub num_return_sequences: usize,
}

impl GenerationConfig {
    /// Checks the settings.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |field, reason: String| Err(Error::InvalidConfig { field, reason });
        if self.num_beams == 0 {
            return bad("num_beams", "must be at least 1".into());
        }
        if self.do_sample && self.num_beams > 1 {
            return bad(
                "do_sample",
                "beam sampling is not supported; use num_beams 1".into(),
            );
        }
        if self.repetition_penalty <= 0.0 || !self.repetition_penalty.is_finite() {
            return bad(
                "repetition_penalty",
                format!("{} must be > 0", self.repetition_penalty),
            );
        }
        if self.temperature <= 0.0 {
            return bad("temperature", format!("{} must be > 0", self.temperature));
        }
        if !(0.0..=1.0).contains(&self.top_p) || self.top_p == 0.0 {
            return bad("top_p", format!("{} must be in (0, 1]", self.top_p));
        }
        if self.min_new_tokens > self.max_new_tokens {
            return bad("min_new_tokens", "exceeds max_new_tokens".into());
        }
        if self.num_return_sequences == 0 || self.num_return_sequences > self.num_beams {
            return bad(
                "num_return_sequences",
                format!(
                    "{} must be between 1 and num_beams ({})",
                    self.num_return_sequences, self.num_beams
                ),
            );
        }
        Ok(())
    }
}

/// Generates tokens after a prefix of input embeddings (soft prompt and/or embedded text).
///
/// Returns the generated ids of each row, without the EOS token; with
/// `num_return_sequences` n, n sequences per row, best first (row `b`'s are `b * n .. b * n +
/// n`).
///
/// # Shapes
/// - prefix_embeds: `[batch, prefix_len, d_model]`
/// - prefix_mask: `[batch, prefix_len]` (false = padding; left padding is supported)
pub fn generate<B: TrrgOps>(
    model: &LlamaForCausalLM<B>,
    prefix_embeds: Tensor<B, 3>,
    prefix_mask: Tensor<B, 2, Bool>,
    config: &GenerationConfig,
) -> crate::Result<Vec<Vec<u32>>> {
    let batch = prefix_embeds.dims()[0];
    run(
        model,
        prefix_embeds,
        prefix_mask,
        &vec![Vec::new(); batch],
        config,
    )
}

/// [`generate`] from prompt token ids, as HF `generate(input_ids, attention_mask)`: the
/// repetition penalty and no-repeat n-grams also see the prompt's ids (padding ids included, as
/// in HF).
///
/// # Shapes
/// - prompt_ids: `[batch, prompt_len]`
/// - prompt_mask: `[batch, prompt_len]`
pub fn generate_from_ids<B: TrrgOps>(
    model: &LlamaForCausalLM<B>,
    prompt_ids: Tensor<B, 2, Int>,
    prompt_mask: Tensor<B, 2, Bool>,
    config: &GenerationConfig,
) -> crate::Result<Vec<Vec<u32>>> {
    let [batch, len] = prompt_ids.dims();
    let ids: Vec<u32> = trrg_io::i64_values(prompt_ids.clone())
        .into_iter()
        .map(|t| t as u32)
        .collect();
    let prompts: Vec<Vec<u32>> = ids.chunks(len.max(1)).map(<[u32]>::to_vec).collect();
    debug_assert_eq!(prompts.len(), batch);
    run(
        model,
        model.embed(prompt_ids),
        prompt_mask,
        &prompts,
        config,
    )
}

fn run<B: TrrgOps>(
    model: &LlamaForCausalLM<B>,
    prefix_embeds: Tensor<B, 3>,
    prefix_mask: Tensor<B, 2, Bool>,
    prompts: &[Vec<u32>],
    config: &GenerationConfig,
) -> crate::Result<Vec<Vec<u32>>> {
    config.validate()?;
    let batch = prefix_embeds.dims()[0];
    let device = prefix_embeds.device();
    let mut cache = model.new_cache(batch);
    // Logits of the last prompt position only: the others would be thrown away.
    let hidden = model.forward_hidden(prefix_embeds, prefix_mask, Some(&mut cache))?;
    let seq_len = hidden.dims()[1];
    let last = last_logits(model.lm_head(hidden.narrow(1, seq_len - 1, 1)));
    if config.num_beams == 1 {
        decode_single(model, cache, last, prompts, config, &device)
    } else {
        beam_search(model, cache, last, prompts, config, &device)
    }
}

/// Last-position logits as host rows.
fn last_logits<B: TrrgOps>(logits: Tensor<B, 3>) -> Vec<Vec<f32>> {
    let [batch, seq_len, vocab] = logits.dims();
    let data = trrg_io::f32_values(logits.narrow(1, seq_len - 1, 1).reshape([batch * vocab]));
    data.chunks(vocab).map(<[f32]>::to_vec).collect()
}

fn step<B: TrrgOps>(
    model: &LlamaForCausalLM<B>,
    cache: &mut crate::KvCache<B>,
    tokens: &[u32],
    device: &B::Device,
) -> crate::Result<Vec<Vec<f32>>> {
    let n = tokens.len();
    let ids = Tensor::<B, 2, Int>::from_data(
        TensorData::new(tokens.iter().map(|&t| t as i64).collect::<Vec<_>>(), [n, 1]),
        device,
    );
    let mask = crate::real_mask(n, 1, device);
    Ok(last_logits(model.forward_embeds(
        model.embed(ids),
        mask,
        Some(cache),
    )?))
}

/// HF-order processing of one row's scores given the prompt ids and the generated ids.
fn process(scores: &mut [f32], prompt: &[u32], generated: &[u32], config: &GenerationConfig) {
    let history: Vec<u32> = prompt.iter().chain(generated).copied().collect();
    if config.repetition_penalty != 1.0 {
        let p = config.repetition_penalty as f32;
        let mut seen = history.clone();
        seen.sort_unstable();
        seen.dedup();
        for &t in &seen {
            if let Some(s) = scores.get_mut(t as usize) {
                *s = if *s < 0.0 { *s * p } else { *s / p };
            }
        }
    }
    let n = config.no_repeat_ngram_size;
    if n > 0 && history.len() + 1 >= n {
        let tail = &history[history.len() + 1 - n..];
        for window in history.windows(n) {
            if &window[..n - 1] == tail {
                if let Some(s) = scores.get_mut(window[n - 1] as usize) {
                    *s = f32::NEG_INFINITY;
                }
            }
        }
    }
    if generated.len() < config.min_new_tokens {
        for &e in &config.eos_token_ids {
            if let Some(s) = scores.get_mut(e as usize) {
                *s = f32::NEG_INFINITY;
            }
        }
    }
}

fn argmax(scores: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &s) in scores.iter().enumerate() {
        if s > scores[best] {
            best = i;
        }
    }
    best as u32
}

fn sample(scores: &mut [f32], config: &GenerationConfig, rng: &mut StdRng) -> u32 {
    let t = config.temperature as f32;
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    if config.top_k > 0 {
        order.truncate(config.top_k);
    }
    let max = scores[order[0]] / t;
    let mut probs: Vec<f32> = order.iter().map(|&i| (scores[i] / t - max).exp()).collect();
    let total: f32 = probs.iter().sum();
    probs.iter_mut().for_each(|p| *p /= total);
    if config.top_p < 1.0 {
        let mut mass = 0.0;
        let keep = probs
            .iter()
            .position(|&p| {
                mass += p;
                mass >= config.top_p as f32
            })
            .map_or(probs.len(), |i| i + 1);
        probs.truncate(keep);
        order.truncate(keep);
    }
    let total: f32 = probs.iter().sum();
    let mut u = rng.random::<f32>() * total;
    for (p, &i) in probs.iter().zip(&order) {
        if u < *p {
            return i as u32;
        }
        u -= p;
    }
    order[order.len() - 1] as u32
}

fn decode_single<B: TrrgOps>(
    model: &LlamaForCausalLM<B>,
    mut cache: crate::KvCache<B>,
    mut logits: Vec<Vec<f32>>,
    prompts: &[Vec<u32>],
    config: &GenerationConfig,
    device: &B::Device,
) -> crate::Result<Vec<Vec<u32>>> {
    let batch = logits.len();
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut out: Vec<Vec<u32>> = vec![Vec::new(); batch];
    // Row r of the cache (and of `logits`) decodes row `live[r]`; finished rows leave the batch.
    let mut live: Vec<usize> = (0..batch).collect();
    for _ in 0..config.max_new_tokens {
        let (mut keep, mut still, mut next) = (Vec::new(), Vec::new(), Vec::new());
        for (r, (&b, scores)) in live.iter().zip(logits.iter_mut()).enumerate() {
            process(scores, &prompts[b], &out[b], config);
            let token = if config.do_sample {
                sample(scores, config, &mut rng)
            } else {
                argmax(scores)
            };
            if !config.eos_token_ids.contains(&token) {
                out[b].push(token);
                keep.push(r);
                still.push(b);
                next.push(token);
            }
        }
        if still.is_empty() {
            break;
        }
        cache.reorder(&keep, device);
        live = still;
        logits = step(model, &mut cache, &next, device)?;
    }
    Ok(out)
}

struct Hypotheses {
    finished: Vec<(f64, Vec<u32>)>,
    done: bool,
}

impl Hypotheses {
    /// `generated_len` counts the EOS token of a hypothesis that ended with one (`tokens` does
    /// not hold it), as transformers 5 normalizes (`cur_len + 1 - prompt_len`).
    fn add(
        &mut self,
        tokens: Vec<u32>,
        generated_len: usize,
        sum_logprobs: f64,
        config: &GenerationConfig,
    ) {
        let score = sum_logprobs / (generated_len.max(1) as f64).powf(config.length_penalty);
        self.finished.push((score, tokens));
        self.finished.sort_by(|a, b| b.0.total_cmp(&a.0));
        self.finished.truncate(config.num_beams);
    }

    fn is_done(&self, best_running: f64, generated_len: usize, config: &GenerationConfig) -> bool {
        if self.finished.len() < config.num_beams {
            return false;
        }
        if config.early_stopping {
            return true;
        }
        let worst = self.finished.last().map_or(f64::NEG_INFINITY, |h| h.0);
        worst >= best_running / (generated_len.max(1) as f64).powf(config.length_penalty)
    }
}

fn log_softmax_row(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = max + row.iter().map(|&x| (x - max).exp()).sum::<f32>().ln();
    row.iter_mut().for_each(|x| *x -= lse);
}

fn beam_search<B: TrrgOps>(
    model: &LlamaForCausalLM<B>,
    mut cache: crate::KvCache<B>,
    logits: Vec<Vec<f32>>,
    prompts: &[Vec<u32>],
    config: &GenerationConfig,
    device: &B::Device,
) -> crate::Result<Vec<Vec<u32>>> {
    let batch = logits.len();
    let k = config.num_beams;
    let rows: Vec<usize> = (0..batch).flat_map(|b| std::iter::repeat_n(b, k)).collect();
    cache.reorder(&rows, device);
    let mut logits: Vec<Vec<f32>> = rows.iter().map(|&r| logits[r].clone()).collect();
    // Beam j of row b is `beams[b * k + j]`.
    let mut beams: Vec<Vec<u32>> = vec![Vec::new(); batch * k];
    // Only the first beam of a row is live at the start, as in HF.
    let mut beam_scores: Vec<f64> = (0..batch * k)
        .map(|i| if i % k == 0 { 0.0 } else { -1e9 })
        .collect();
    let mut hyps: Vec<Hypotheses> = (0..batch)
        .map(|_| Hypotheses {
            finished: Vec::new(),
            done: false,
        })
        .collect();
    // Cache rows `r * k..(r + 1) * k` (and those of `logits`) hold the beams of row `live[r]`;
    // a row leaves the batch once its hypotheses are done.
    let mut live: Vec<usize> = (0..batch).collect();
    for cur in 0..config.max_new_tokens {
        let (mut sources, mut next_tokens, mut still) = (Vec::new(), Vec::new(), Vec::new());
        for (r, &b) in live.iter().enumerate() {
            let hyp = &mut hyps[b];
            let mut candidates: Vec<(f64, usize, u32)> = Vec::new();
            for j in 0..k {
                let i = b * k + j;
                let row = &mut logits[r * k + j];
                log_softmax_row(row);
                process(row, &prompts[b], &beams[i], config);
                let mut order: Vec<usize> = (0..row.len()).collect();
                let take = (2 * k).min(row.len());
                order.select_nth_unstable_by(take - 1, |&x, &y| row[y].total_cmp(&row[x]));
                for &t in &order[..take] {
                    candidates.push((beam_scores[i] + row[t] as f64, j, t as u32));
                }
            }
            candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
            candidates.truncate(2 * k);
            let mut chosen: Vec<(f64, usize, u32)> = Vec::with_capacity(k);
            for (rank, &(score, j, token)) in candidates.iter().enumerate() {
                if config.eos_token_ids.contains(&token) {
                    if rank < k {
                        let tokens = beams[b * k + j].clone();
                        let len = tokens.len() + 1;
                        hyp.add(tokens, len, score, config);
                    }
                    continue;
                }
                chosen.push((score, j, token));
                if chosen.len() == k {
                    break;
                }
            }
            hyp.done = hyp.is_done(chosen[0].0, cur + 1, config);
            let grown: Vec<Vec<u32>> = chosen
                .iter()
                .map(|&(_, j, token)| {
                    let mut v = beams[b * k + j].clone();
                    v.push(token);
                    v
                })
                .collect();
            for (j, (v, &(score, src, token))) in grown.into_iter().zip(&chosen).enumerate() {
                beams[b * k + j] = v;
                beam_scores[b * k + j] = score;
                if !hyp.done {
                    sources.push(r * k + src);
                    next_tokens.push(token);
                }
            }
            if !hyp.done {
                still.push(b);
            }
        }
        if still.is_empty() || cur + 1 == config.max_new_tokens {
            break;
        }
        cache.reorder(&sources, device);
        live = still;
        logits = step(model, &mut cache, &next_tokens, device)?;
    }
    Ok(hyps
        .into_iter()
        .enumerate()
        .flat_map(|(b, mut h)| {
            if !h.done {
                for j in 0..k {
                    let tokens = beams[b * k + j].clone();
                    let len = tokens.len();
                    h.add(tokens, len, beam_scores[b * k + j], config);
                }
            }
            let mut best: Vec<Vec<u32>> = h
                .finished
                .into_iter()
                .take(config.num_return_sequences)
                .map(|x| x.1)
                .collect();
            best.resize(config.num_return_sequences, Vec::new());
            best
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{real_mask, LlamaConfig};
    use burn::backend::Flex;

    type B = Flex;

    #[test]
    fn greedy_with_cache_equals_argmax_of_full_recomputation() {
        let device = Default::default();
        let model = LlamaConfig::new(99, 32, 64, 2, 4)
            .with_num_key_value_heads(Some(2))
            .init::<B>(&device)
            .unwrap();
        let prompt = vec![4i64, 9, 13];
        let config = GenerationConfig::new().with_max_new_tokens(6);
        let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(prompt.clone(), [1, 3]), &device);
        let got = generate(&model, model.embed(ids), real_mask(1, 3, &device), &config).unwrap();
        let mut seq = prompt;
        for _ in 0..6 {
            let n = seq.len();
            let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(seq.clone(), [1, n]), &device);
            let logits = model
                .forward_embeds(model.embed(ids), real_mask(1, n, &device), None)
                .unwrap();
            seq.push(argmax(&last_logits(logits)[0]) as i64);
        }
        let want: Vec<u32> = seq[3..].iter().map(|&t| t as u32).collect();
        assert_eq!(got[0], want);
    }

    /// A random tiny model and a batch of two 3-token prompts.
    fn two_prompts() -> (LlamaForCausalLM<B>, Tensor<B, 2, Int>, Tensor<B, 2, Bool>) {
        let device = Default::default();
        let model = LlamaConfig::new(99, 32, 64, 2, 4)
            .init::<B>(&device)
            .unwrap();
        let ids = Tensor::<B, 2, Int>::from_data([[4, 9, 13], [7, 1, 2]], &device);
        let mask = real_mask(2, 3, &device);
        (model, ids, mask)
    }

    #[test]
    fn batched_beam_search_equals_one_row_at_a_time() {
        let (model, ids, mask) = two_prompts();
        let device = ids.device();
        let greedy = GenerationConfig::new().with_max_new_tokens(8);
        let a = generate(&model, model.embed(ids.clone()), mask.clone(), &greedy).unwrap();
        let beams = GenerationConfig::new()
            .with_max_new_tokens(8)
            .with_num_beams(3)
            .with_repetition_penalty(2.0)
            .with_length_penalty(2.0);
        let batched = generate(&model, model.embed(ids.clone()), mask, &beams).unwrap();
        for (row, want) in batched.iter().enumerate() {
            let one = ids.clone().narrow(0, row, 1);
            let single =
                generate(&model, model.embed(one), real_mask(1, 3, &device), &beams).unwrap();
            assert_eq!(&single[0], want, "row {row}");
        }
        assert_eq!(a[0].len(), 8);
        assert!(batched.iter().all(|r| !r.is_empty()));
    }

    #[test]
    fn beam_search_returns_its_best_hypotheses_best_first() {
        let (model, ids, mask) = two_prompts();
        let one = GenerationConfig::new()
            .with_max_new_tokens(8)
            .with_num_beams(4)
            .with_eos_token_ids(vec![5]);
        let best = generate(&model, model.embed(ids.clone()), mask.clone(), &one).unwrap();
        let three = one.clone().with_num_return_sequences(3);
        let all = generate(&model, model.embed(ids), mask, &three).unwrap();
        assert_eq!(all.len(), 2 * 3);
        for row in 0..2 {
            let group = &all[row * 3..row * 3 + 3];
            assert_eq!(group[0], best[row], "row {row}: the first is the one best");
            assert!(group[1..].iter().all(|h| h != &group[0]), "row {row}");
        }
        let too_many = GenerationConfig::new()
            .with_num_beams(2)
            .with_num_return_sequences(3);
        assert!(too_many.validate().is_err());
    }

    #[test]
    fn invalid_settings_are_errors() {
        assert!(GenerationConfig::new()
            .with_num_beams(0)
            .validate()
            .is_err());
        assert!(GenerationConfig::new().with_top_p(0.0).validate().is_err());
        assert!(GenerationConfig::new()
            .with_min_new_tokens(5)
            .with_max_new_tokens(2)
            .validate()
            .is_err());
    }

    #[test]
    fn no_repeat_ngram_bans_the_completion() {
        let config = GenerationConfig::new().with_no_repeat_ngram_size(2);
        let mut scores = vec![0.0f32; 10];
        process(&mut scores, &[], &[1, 2, 3, 1], &config);
        assert_eq!(scores[2], f32::NEG_INFINITY);
        assert_eq!(scores[3], 0.0);
    }
}
