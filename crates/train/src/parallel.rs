//! Data-parallel gradients over several devices with burn-collective's all-reduce.
//!
//! One worker thread per device holds a replica of the model (`Module::fork`). A global batch is
//! split into one contiguous shard per device; each worker runs the forward pass and backward
//! pass of its shard, with its loss weighted by its share of the rows, and burn-collective sums
//! the gradients of the two parameter groups across the workers (`GradientsParams::all_reduce`).
//! The optimizer then steps once, on the first device, with the summed gradients; the next step
//! forks the updated model again. For losses that are a mean over rows this equals the gradient
//! of the global batch on one device; for the token-mean LM loss it is the usual DDP
//! approximation (exact when the shards hold equally many target tokens).
//!
//! Workers may share a device: two on the one CPU device keep two cores busy, where a single
//! batch's small kernels keep one. Given a step's seed (`draws`), each worker runs its forward
//! pass inside a random stream of its own (`trrg_io::random`, seeded by the step's seed and the
//! worker's index), so the workers run side by side and every run draws the same dropout masks.
//! Without one, they run their forward passes in shard order (their backward passes overlap), so
//! the backend's single random generator hands out the same masks in every run.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Condvar, Mutex, PoisonError};

use burn::collective::{self, CollectiveConfig, PeerId, ReduceOperation};
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::TensorData;
use trrg_kernels::{TrrgAutodiff, TrrgOps};
use trrg_model::{ContrastiveParts, Trrg};

use crate::Error;

struct Materialize;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<B: TrrgOps> ModuleVisitor<B> for Materialize {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let _ = param.val();
    }
}

/// Without a step's seed (`draws`), the order in which workers that share a device run their
/// forward passes: shard 0 first, then 1, and so on, so the backend's one random generator
/// (dropout) hands every shard the same masks in every run. Backward passes, which draw
/// nothing, still overlap.
struct Turns {
    next: Mutex<usize>,
    changed: Condvar,
}

/// Passes the turn to the next worker when dropped, even if the forward pass panicked.
struct Turn<'a>(&'a Turns);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        *lock(&self.0.next) += 1;
        self.0.changed.notify_all();
    }
}

impl Turns {
    fn new() -> Self {
        Self {
            next: Mutex::new(0),
            changed: Condvar::new(),
        }
    }

    /// Waits until it is `peer`'s turn.
    fn wait(&self, peer: usize) -> Turn<'_> {
        let next = lock(&self.next);
        drop(
            self.changed
                .wait_while(next, |next| *next < peer)
                .unwrap_or_else(PoisonError::into_inner),
        );
        Turn(self)
    }
}

/// Averages the workers' updates of running statistics (the stem's BatchNorm) into the model's.
/// Burn's `RunningState`, which the replicas share with the model, keeps one pending update per
/// thread and folds them in only when a thread that has one reads it again, or at
/// `into_record`/`valid`. Workers that share a device run on their own long-lived pool threads,
/// which fold at their next read; workers on distinct devices run on new threads every step,
/// whose reads would otherwise all see the value of the last fold (the last validation or
/// checkpoint), losing each step's update to the average over an epoch's pending ones.
fn sync_running_states<B: TrrgAutodiff>(model: &Trrg<B>) {
    drop(model.clone().into_record());
}

/// `rows` rows in at most `n` contiguous shards, as equal as possible (the first shards take
/// the remainder), none empty unless `rows` is 0.
pub fn split(rows: usize, n: usize) -> Vec<Range<usize>> {
    let n = n.min(rows.max(1)).max(1);
    let (base, extra) = (rows / n, rows % n);
    let mut start = 0;
    (0..n)
        .map(|i| {
            let len = base + usize::from(i < extra);
            start += len;
            start - len..start
        })
        .collect()
}

/// Gradients of one data-parallel step, summed over the devices, on the first device.
pub struct ParallelGrads {
    /// The visual encoder's gradients.
    pub vision: GradientsParams,
    /// Every other parameter's gradients.
    pub rest: GradientsParams,
    /// The scalars the forward pass reported (loss terms), weighted by shard size and summed:
    /// the global batch's values.
    pub values: Vec<f32>,
}

/// The devices of a data-parallel run; the first is the main device (optimizer, evaluation,
/// checkpoints).
#[derive(Clone, Debug)]
pub struct DataParallel<B: TrrgAutodiff> {
    devices: Vec<B::Device>,
    /// One thread pool per worker where workers share a device (None otherwise): the cores
    /// divided among them, so that the backend's parallel kernels neither oversubscribe the
    /// cores nor, with one thread each, sum in an order that depends on thread timing.
    pools: Option<Vec<Arc<rayon::ThreadPool>>>,
}

fn collective_error(what: &str, e: collective::CollectiveError) -> Error {
    Error::Parallel(format!("{what}: {e:?}"))
}

impl<B: TrrgAutodiff> DataParallel<B> {
    /// Workers on `devices` (the same device may appear twice: two workers share it).
    pub fn new(devices: Vec<B::Device>) -> crate::Result<Self> {
        if devices.is_empty() {
            return Err(Error::Parallel("no devices given".into()));
        }
        let shared = (1..devices.len()).any(|i| devices[..i].contains(&devices[i]));
        let pools = if shared {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let threads = (cores / devices.len()).max(1);
            let pools = (0..devices.len())
                .map(|i| {
                    rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .thread_name(move |t| format!("trrg-worker{i}-{t}"))
                        .build()
                        .map(Arc::new)
                        .map_err(|e| Error::Parallel(format!("cannot start worker threads: {e}")))
                })
                .collect::<crate::Result<_>>()?;
            Some(pools)
        } else {
            None
        };
        Ok(Self { devices, pools })
    }

    /// The workers' devices for `devices` and `workers` (at least 1): `max(workers,
    /// devices.len())` workers taking the devices in turn, so one device gives `workers`
    /// workers sharing it.
    pub fn workers(devices: &[B::Device], workers: usize) -> Vec<B::Device> {
        let n = workers.max(devices.len());
        devices.iter().cycle().take(n).cloned().collect()
    }

    /// The devices, main device first.
    pub fn devices(&self) -> &[B::Device] {
        &self.devices
    }

    /// Contiguous shards of `rows` rows, one per device, as equal as possible (the first
    /// shards take the remainder); a device gets no shard when there are fewer rows than
    /// devices.
    pub fn shards(&self, rows: usize) -> Vec<Range<usize>> {
        split(rows, self.devices.len())
    }

    /// Runs `forward` on every shard in parallel (shard `i`'s input on device `i`) and returns
    /// the summed gradients. `forward` returns the shard's loss (a mean over its rows) and
    /// scalars to log; `weights[i]` is shard `i`'s share of the global batch. With `draws`
    /// (the step's seed), worker `i` draws its random numbers from a stream seeded with
    /// `draws + i`, and workers sharing a device run their forward passes side by side; without,
    /// from the backend's generator, in shard order.
    pub fn gradients<T, F>(
        &self,
        model: &Trrg<B>,
        inputs: Vec<(T, f32)>,
        draws: Option<u64>,
        forward: F,
    ) -> crate::Result<ParallelGrads>
    where
        T: Send,
        F: Fn(&Trrg<B>, T) -> crate::Result<(Tensor<B, 1>, Vec<f32>)> + Sync,
    {
        self.gradients_gathered(
            model,
            inputs,
            draws,
            |replica, (input, weight)| Ok(((forward(replica, input)?, weight), Vec::new())),
            |_, _, ((loss, values), weight): ((Tensor<B, 1>, Vec<f32>), f32), _| {
                Ok((loss * weight, values.iter().map(|v| v * weight).collect()))
            },
        )
    }

    /// Stage 1's gradients with the InfoNCE over the global batch. `encode` runs
    /// [`Trrg::contrastive_parts`] on a shard (a contiguous range of the batch's studies and
    /// one of its sentences, in shard order) and returns it with the shard's share of the
    /// studies; `positive` is the global batch's `[studies, sentences]` mask. The workers
    /// exchange their embeddings, and each scores the whole batch's similarities with gradient
    /// through its own embeddings only (the first also through the temperature), so that the
    /// summed gradients are the one-worker InfoNCE's (open_clip's gather with the local part
    /// differentiable and `local_loss` off). The negation contrast, a mean over a shard's
    /// studies, is weighted by the share. The returned scalar is the global loss. `draws` as in
    /// [`DataParallel::gradients`].
    pub fn contrastive_gradients<T, E>(
        &self,
        model: &Trrg<B>,
        inputs: Vec<T>,
        draws: Option<u64>,
        positive: &TensorData,
        encode: E,
    ) -> crate::Result<ParallelGrads>
    where
        T: Send,
        E: Fn(&Trrg<B>, T) -> crate::Result<(ContrastiveParts<B>, f32)> + Sync,
    {
        let peers = inputs.len() as f32;
        let encode = |replica: &Trrg<B>, input: T| {
            let (parts, share) = encode(replica, input)?;
            let shared = vec![parts.studies.to_data(), parts.texts.to_data()];
            Ok(((parts, share), shared))
        };
        let finish = |replica: &Trrg<B>,
                      peer: usize,
                      (parts, share): (ContrastiveParts<B>, f32),
                      all: &[Vec<TensorData>]| {
            let device = parts.studies.device();
            let gather = |i: usize, mine: Tensor<B, 2>| {
                let parts = all.iter().enumerate().map(|(j, values)| match j == peer {
                    true => mine.clone(),
                    false => Tensor::from_data(values[i].clone(), &device),
                });
                Tensor::cat(parts.collect(), 0)
            };
            let studies = gather(0, parts.studies);
            let texts = gather(1, parts.texts);
            let positive = Tensor::<B, 2, Bool>::from_data(positive.clone(), &device);
            let negation = parts.negation_loss.map(|l| l * share);
            let out = replica.contrastive_loss(studies, texts, positive, negation, peer == 0);
            // The InfoNCE, the same on every worker, counts once in the sum of the scalars.
            let loss = out.loss.clone().into_scalar().elem::<f32>();
            let weighted = out.negation_loss.map_or(0.0, |l| {
                l.into_scalar().elem::<f32>() * replica.settings().clue.negation_weight as f32
            });
            Ok((out.loss, vec![(loss - weighted) / peers + weighted]))
        };
        self.gradients_gathered(model, inputs, draws, encode, finish)
    }

    /// [`DataParallel::gradients`] for a loss that needs every shard's values (stage 1's
    /// InfoNCE, whose negatives are the global batch's): each worker runs `encode` on its shard
    /// (side by side with `draws`, as in [`DataParallel::gradients`]; else in shard order where
    /// workers share a device), which returns what it keeps and the values it shares; then
    /// every worker receives every worker's shared values, in shard order, and `finish` (given
    /// the worker's index) turns them into the worker's loss and scalars to log, which are
    /// neither weighted nor averaged (the sum of the workers' losses is what is differentiated,
    /// and the sum of their scalars is what is returned). `finish` draws no random numbers:
    /// workers run it side by side.
    pub fn gradients_gathered<T, K, E, F>(
        &self,
        model: &Trrg<B>,
        inputs: Vec<T>,
        draws: Option<u64>,
        encode: E,
        finish: F,
    ) -> crate::Result<ParallelGrads>
    where
        T: Send,
        E: Fn(&Trrg<B>, T) -> crate::Result<(K, Vec<TensorData>)> + Sync,
        F: Fn(&Trrg<B>, usize, K, &[Vec<TensorData>]) -> crate::Result<(Tensor<B, 1>, Vec<f32>)>
            + Sync,
    {
        let peers = inputs.len();
        if peers == 0 || peers > self.devices.len() {
            return Err(Error::Parallel(format!(
                "{peers} shards for {} devices",
                self.devices.len()
            )));
        }
        // A lazy parameter's clone initializes on its own: read every parameter first so the
        // replicas copy the model's values.
        model.visit(&mut Materialize);
        let config = CollectiveConfig::default().with_num_devices(peers);
        let barrier = Barrier::new(peers);
        let failed = AtomicBool::new(false);
        let turns = Turns::new();
        let shared: Mutex<Vec<Vec<TensorData>>> = Mutex::new(vec![Vec::new(); peers]);
        let results: Vec<crate::Result<Option<ParallelGrads>>> = std::thread::scope(|s| {
            let handles: Vec<_> = inputs
                .into_iter()
                .enumerate()
                .map(|(peer, input)| {
                    let device = self.devices[peer].clone();
                    let replica = model.clone().fork(&device);
                    let (config, barrier, failed) = (&config, &barrier, &failed);
                    let (encode, finish, turns, shared) = (&encode, &finish, &turns, &shared);
                    let pool = self.pools.as_ref().map(|p| Arc::clone(&p[peer]));
                    let in_turn = pool.is_some() && draws.is_none();
                    // Every worker reaches both barriers, so none waits in an exchange or an
                    // all-reduce that a failed worker will never join.
                    let abandon = |error: bool| {
                        if error {
                            failed.store(true, Ordering::SeqCst);
                        }
                        barrier.wait();
                        failed.load(Ordering::SeqCst)
                    };
                    let work = move || {
                        let turn = in_turn.then(|| turns.wait(peer));
                        let encoded = match draws {
                            Some(seed) => {
                                trrg_io::random::with_stream(seed.wrapping_add(peer as u64), || {
                                    encode(&replica, input)
                                })
                            }
                            None => encode(&replica, input),
                        };
                        let kept = encoded.map(|(kept, values)| {
                            lock(shared)[peer] = values;
                            kept
                        });
                        drop(turn);
                        if abandon(kept.is_err()) {
                            return kept.map(|_| None);
                        }
                        let all = lock(shared).clone();
                        let out = kept.and_then(|kept| finish(&replica, peer, kept, &all));
                        if abandon(out.is_err()) {
                            return out.map(|_| None);
                        }
                        let (loss, values) = out?;
                        summed_gradients(&replica, loss, values, peer, device, config).map(Some)
                    };
                    s.spawn(move || match pool {
                        Some(pool) => pool.install(work),
                        None => work(),
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(Error::Parallel("a data-parallel worker panicked".into()))
                    })
                })
                .collect()
        });
        // Workers sharing a device run on long-lived pool threads, which fold at their next read.
        if self.pools.is_none() {
            sync_running_states(model);
        }
        first_with_summed_values(results)
    }
}

/// A worker's gradients of `loss`, summed over the workers by all-reduce (vision encoder and
/// the rest apart, for their optimizers), with the worker's `values` to log.
fn summed_gradients<B: TrrgAutodiff>(
    replica: &Trrg<B>,
    loss: Tensor<B, 1>,
    values: Vec<f32>,
    peer: usize,
    device: B::Device,
    config: &CollectiveConfig,
) -> crate::Result<ParallelGrads> {
    let id = PeerId::from(peer);
    collective::register::<B::InnerBackend>(id, device, config.clone())
        .map_err(|e| collective_error("register", e))?;
    let mut grads = loss.backward();
    let vision = GradientsParams::from_module(&mut grads, &replica.vision);
    let rest = GradientsParams::from_grads(grads, replica);
    let sum = ReduceOperation::Sum;
    let vision = vision
        .all_reduce::<B::InnerBackend>(id, sum)
        .map_err(|e| collective_error("all-reduce", e))?;
    let rest = rest
        .all_reduce::<B::InnerBackend>(id, sum)
        .map_err(|e| collective_error("all-reduce", e))?;
    collective::finish_collective::<B::InnerBackend>(id)
        .map_err(|e| collective_error("finish", e))?;
    Ok(ParallelGrads {
        vision,
        rest,
        values,
    })
}

/// The first worker's (all-reduced, so every worker's) gradients with the workers' logged
/// values summed; the first error of a worker, if any.
fn first_with_summed_values(
    results: Vec<crate::Result<Option<ParallelGrads>>>,
) -> crate::Result<ParallelGrads> {
    let mut main: Option<ParallelGrads> = None;
    let mut values: Vec<f32> = Vec::new();
    for result in results {
        let Some(grads) = result? else { continue };
        if values.is_empty() {
            values = vec![0.0; grads.values.len()];
        }
        for (sum, v) in values.iter_mut().zip(&grads.values) {
            *sum += v;
        }
        main.get_or_insert(grads);
    }
    let mut main = main.ok_or_else(|| Error::Parallel("no worker returned gradients".into()))?;
    main.values = values;
    Ok(main)
}
