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
//! batch's small kernels keep one. Such workers run their forward passes in shard order (their
//! backward passes overlap), so the backend's single random generator hands out the same dropout
//! masks in every run.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Condvar, Mutex, PoisonError};

use burn::collective::{self, CollectiveConfig, PeerId, ReduceOperation};
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use trrg_model::Trrg;

use crate::Error;

struct Materialize;

impl<B: Backend> ModuleVisitor<B> for Materialize {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let _ = param.val();
    }
}

/// The order in which workers that share a device run their forward passes: shard 0 first,
/// then 1, and so on, so the backend's one random generator (dropout) hands every shard the
/// same masks in every run. Backward passes, which draw nothing, still overlap.
struct Turns {
    next: Mutex<usize>,
    changed: Condvar,
}

/// Passes the turn to the next worker when dropped, even if the forward pass panicked.
struct Turn<'a>(&'a Turns);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        *self.0.next.lock().unwrap_or_else(PoisonError::into_inner) += 1;
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
        let next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        drop(
            self.changed
                .wait_while(next, |next| *next < peer)
                .unwrap_or_else(PoisonError::into_inner),
        );
        Turn(self)
    }
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
pub struct DataParallel<B: AutodiffBackend> {
    devices: Vec<B::Device>,
    /// One thread pool per worker where workers share a device (None otherwise): the cores
    /// divided among them, so that the backend's parallel kernels neither oversubscribe the
    /// cores nor, with one thread each, sum in an order that depends on thread timing.
    pools: Option<Vec<Arc<rayon::ThreadPool>>>,
}

fn collective_error(what: &str, e: collective::CollectiveError) -> Error {
    Error::Parallel(format!("{what}: {e:?}"))
}

impl<B: AutodiffBackend> DataParallel<B> {
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
        let n = self.devices.len().min(rows.max(1));
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

    /// Runs `forward` on every shard in parallel (shard `i`'s input on device `i`) and returns
    /// the summed gradients. `forward` returns the shard's loss (a mean over its rows) and
    /// scalars to log; `weights[i]` is shard `i`'s share of the global batch.
    pub fn gradients<T, F>(
        &self,
        model: &Trrg<B>,
        inputs: Vec<(T, f32)>,
        forward: F,
    ) -> crate::Result<ParallelGrads>
    where
        T: Send,
        F: Fn(&Trrg<B>, T) -> crate::Result<(Tensor<B, 1>, Vec<f32>)> + Sync,
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
        let results: Vec<crate::Result<Option<ParallelGrads>>> = std::thread::scope(|s| {
            let handles: Vec<_> = inputs
                .into_iter()
                .enumerate()
                .map(|(peer, (input, weight))| {
                    let device = self.devices[peer].clone();
                    let replica = model.clone().fork(&device);
                    let (config, barrier, failed, forward) = (&config, &barrier, &failed, &forward);
                    let turns = &turns;
                    let pool = self.pools.as_ref().map(|p| Arc::clone(&p[peer]));
                    let shared = pool.is_some();
                    let work = move || {
                        // Every worker reaches the barrier, so none waits in an all-reduce that a
                        // failed worker will never join.
                        let turn = shared.then(|| turns.wait(peer));
                        let out = forward(&replica, input);
                        drop(turn);
                        if out.is_err() {
                            failed.store(true, Ordering::SeqCst);
                        }
                        barrier.wait();
                        let (loss, values) = out?;
                        if failed.load(Ordering::SeqCst) {
                            return Ok(None);
                        }
                        let id = PeerId::from(peer);
                        collective::register::<B::InnerBackend>(id, device, config.clone())
                            .map_err(|e| collective_error("register", e))?;
                        let mut grads = (loss * weight).backward();
                        let vision = GradientsParams::from_module(&mut grads, &replica.vision);
                        let rest = GradientsParams::from_grads(grads, &replica);
                        let sum = ReduceOperation::Sum;
                        let vision = vision
                            .all_reduce::<B::InnerBackend>(id, sum)
                            .map_err(|e| collective_error("all-reduce", e))?;
                        let rest = rest
                            .all_reduce::<B::InnerBackend>(id, sum)
                            .map_err(|e| collective_error("all-reduce", e))?;
                        collective::finish_collective::<B::InnerBackend>(id)
                            .map_err(|e| collective_error("finish", e))?;
                        Ok(Some(ParallelGrads {
                            vision,
                            rest,
                            values: values.iter().map(|v| v * weight).collect(),
                        }))
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
        let mut main =
            main.ok_or_else(|| Error::Parallel("no worker returned gradients".into()))?;
        main.values = values;
        Ok(main)
    }
}
