//! The two matrix products of docs/performance.md on the selected backend, next to the CPU's
//! peak: `[1576,768] x [768,3072]` (ViT-B/16's MLP at batch 8) and `[1040,128] x [128,128]`
//! (the tiny preset's width-128 projections).
//!
//! `cargo run --release --example matmul_speed [-- seconds per product]` prints one JSON object:
//! the CPU, its vector features, the core clock measured with a dependent chain of integer adds
//! (one add per cycle) on every thread at once, the peak worked out from them, and each product's
//! median time and GFLOP/s. `scripts/bench-vs-pytorch.sh` runs it beside PyTorch.
//!
//! The peak assumes two fused multiply-add pipes per core of the widest width the CPU reports
//! (AVX-512: 16 floats, AVX2 + FMA: 8), except on AMD's Zen 4 (family 25 with AVX-512), which
//! runs a 512-bit FMA as two 256-bit halves. Threads: rayon's pool (`RAYON_NUM_THREADS`).

use std::time::{Duration, Instant};

use anyhow::Context;
use burn::prelude::*;
use burn::tensor::Distribution;
use trrg::backend::{device, Backend, Device};

fn main() -> anyhow::Result<()> {
    let seconds: f64 = match std::env::args().nth(1) {
        Some(s) => s.parse().context("the argument is seconds per product")?,
        None => 2.0,
    };
    let threads = rayon::current_num_threads();
    let cpu = Cpu::detect();
    let clock = clock_ghz(threads);
    let peak = clock.map(|ghz| ghz * cpu.flops_per_cycle as f64 * threads as f64);
    let device = device()?;
    let products: Vec<_> = [[1576, 768, 3072], [1040, 128, 128]]
        .iter()
        .map(|&[m, k, n]| {
            let seconds = product_seconds(m, k, n, seconds, &device);
            serde_json::json!({
                "shape": format!("[{m},{k}] x [{k},{n}]"),
                "median_ms": round(seconds * 1e3, 4),
                "gflops": round(2.0 * (m * k * n) as f64 / seconds / 1e9, 1),
            })
        })
        .collect();
    let report = serde_json::json!({
        "cpu": cpu.name,
        "features": cpu.features,
        "threads": threads,
        "clock_ghz": clock.map(|c| round(c, 2)),
        "flops_per_cycle_per_core": cpu.flops_per_cycle,
        "peak_gflops": peak.map(|p| round(p, 1)),
        "products": products,
    });
    println!("{report}");
    Ok(())
}

fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

/// The median time of `[m,k] x [k,n]` over repeated runs for about `budget` seconds.
fn product_seconds(m: usize, k: usize, n: usize, budget: f64, device: &Device) -> f64 {
    let a = Tensor::<Backend, 2>::random([m, k], Distribution::Default, device);
    let b = Tensor::<Backend, 2>::random([k, n], Distribution::Default, device);
    let run = || {
        let start = Instant::now();
        // Reading the result back waits for backends that compute asynchronously.
        let _ = a.clone().matmul(b.clone()).into_data();
        start.elapsed()
    };
    run(); // warm-up
    let start = Instant::now();
    let mut times: Vec<Duration> = Vec::new();
    while times.len() < 5 || (start.elapsed().as_secs_f64() < budget && times.len() < 1000) {
        times.push(run());
    }
    times.sort();
    times[times.len() / 2].as_secs_f64()
}

/// What the peak is worked out from.
struct Cpu {
    name: String,
    features: String,
    flops_per_cycle: usize,
}

impl Cpu {
    #[cfg(target_arch = "x86_64")]
    fn detect() -> Self {
        // CPUID leaves 0 and 1 exist on every x86-64 CPU.
        let (vendor, family) = {
            use std::arch::x86_64::__cpuid;
            let v = __cpuid(0);
            let vendor: Vec<u8> = [v.ebx, v.edx, v.ecx]
                .iter()
                .flat_map(|r| r.to_le_bytes())
                .collect();
            let eax = __cpuid(1).eax;
            let base = (eax >> 8) & 0xf;
            let family = if base == 0xf {
                base + ((eax >> 20) & 0xff)
            } else {
                base
            };
            (String::from_utf8_lossy(&vendor).into_owned(), family)
        };
        let avx512 = std::arch::is_x86_feature_detected!("avx512f");
        let avx2 = std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma");
        // Zen 4 (AMD family 25 with AVX-512) splits a 512-bit FMA into two 256-bit halves.
        let zen4 = vendor == "AuthenticAMD" && family == 25 && avx512;
        let (features, lanes) = match (avx512, avx2) {
            (true, _) if zen4 => ("AVX-512 (two 256-bit halves, Zen 4)", 8),
            (true, _) => ("AVX-512", 16),
            (false, true) => ("AVX2 + FMA", 8),
            (false, false) => ("SSE", 4),
        };
        Self {
            name: cpu_name().unwrap_or(vendor),
            features: format!("{features}, family {family}"),
            // Two FMA pipes, each a multiply and an add per lane.
            flops_per_cycle: 2 * lanes * 2,
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn detect() -> Self {
        Self {
            name: cpu_name().unwrap_or_else(|| std::env::consts::ARCH.to_string()),
            features: "unknown".into(),
            flops_per_cycle: 0,
        }
    }
}

fn cpu_name() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("model name"))?;
    Some(line.split_once(':')?.1.trim().to_string())
}

/// The core clock in GHz: the slowest of `threads` threads each running a chain of dependent
/// integer adds (one per cycle on every x86-64 core), at once, as a product keeps them busy.
/// The added value is a register, not an immediate: recent Intel cores fold chains of
/// immediate adds in the renamer (18 GHz "measured" on an Intel Xeon, family 6, model 167).
#[cfg(target_arch = "x86_64")]
fn clock_ghz(threads: usize) -> Option<f64> {
    fn one() -> f64 {
        const ITERS: u64 = 200_000_000;
        let start = Instant::now();
        let mut x: u64 = 0;
        // SAFETY: register-only arithmetic; no memory is touched.
        unsafe {
            std::arch::asm!(
                "2:",
                "add {x}, {one}", "add {x}, {one}", "add {x}, {one}", "add {x}, {one}",
                "add {x}, {one}", "add {x}, {one}", "add {x}, {one}", "add {x}, {one}",
                "dec {n}",
                "jnz 2b",
                x = inout(reg) x,
                one = in(reg) std::hint::black_box(1u64),
                n = inout(reg) ITERS => _,
                options(nomem, nostack),
            );
        }
        std::hint::black_box(x);
        (ITERS * 8) as f64 / start.elapsed().as_secs_f64() / 1e9
    }
    one(); // let the clock ramp up
    let clocks: Vec<f64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.max(1)).map(|_| s.spawn(one)).collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    clocks.into_iter().reduce(f64::min)
}

#[cfg(not(target_arch = "x86_64"))]
fn clock_ghz(_threads: usize) -> Option<f64> {
    None
}
