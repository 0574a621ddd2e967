//! Fuzz targets for every parser that reads a user's file, on stable Rust: a seeded mutation
//! loop over valid inputs. Each target feeds `TRRG_FUZZ_ITERS` mutated inputs (default 2,000,
//! as in CI; `TRRG_FUZZ_ITERS=100000 cargo test --release -p trrg-data --test data fuzz_` is
//! the long run) to the parser's public entry point, and fails on
//!
//! - a panic (the input is written to `$TMPDIR/trrg-fuzz-<target>-panic-<i>.bin` for a
//!   regression test),
//! - an input that takes longer than 2 s, or
//! - an allocation larger than the target's bound, linear in the input's length: nothing may be
//!   sized from a length field that was not checked against the file (for images, the pixels a
//!   header may claim per byte of file, `trrg_data::max_image_pixels`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The system allocator, recording this thread's largest single request while armed.
struct Tracking;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = ARMED.try_with(|armed| {
        if armed.get() {
            let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
        }
    });
}

// SAFETY: every call is forwarded unchanged to `System`; the bookkeeping touches only
// const-initialized thread-locals, which do not allocate.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

/// A small deterministic generator (splitmix64), so a failure replays from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Values that break length fields.
const INTERESTING: [u64; 10] = [
    0,
    1,
    0x7F,
    0xFF,
    0xFFFF,
    0x7FFF_FFFF,
    0xFFFF_FFFF,
    0x1_0000_0000,
    u64::MAX / 2,
    u64::MAX,
];

/// One to four mutations of `seed`: bit flips, random bytes, an interesting integer written
/// over 1/2/4/8 bytes, a cut, a deleted or duplicated chunk, or an inserted run.
fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = v.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = rng.next() as u8;
            }
            2 if len > 0 => {
                let width = [1, 2, 4, 8][rng.below(4)];
                let value = INTERESTING[rng.below(INTERESTING.len())].to_le_bytes();
                let at = rng.below(len);
                for (k, b) in value.iter().take(width).enumerate() {
                    if at + k < len {
                        v[at + k] = *b;
                    }
                }
            }
            3 => v.truncate(rng.below(len + 1)),
            4 if len > 0 => {
                let at = rng.below(len);
                let n = rng.below(len - at + 1).min(64);
                v.drain(at..at + n);
            }
            5 if len > 0 => {
                let at = rng.below(len);
                let n = rng.below(len - at + 1).min(64);
                let chunk: Vec<u8> = v[at..at + n].to_vec();
                let to = rng.below(v.len() + 1);
                v.splice(to..to, chunk);
            }
            6 => {
                let at = rng.below(len + 1);
                let byte = [0u8, 0xFF, b'"', b'{', b'[', b'9'][rng.below(6)];
                let n = 1 + rng.below(16);
                v.splice(at..at, std::iter::repeat_n(byte, n));
            }
            _ if len > 0 => {
                // ASCII digits over a run (JSON numbers, lengths written as text).
                let at = rng.below(len);
                for k in 0..rng.below(8).min(len - at) {
                    v[at + k] = b'0' + rng.below(10) as u8;
                }
            }
            _ => v.push(rng.next() as u8),
        }
    }
    v
}

/// How many inputs each target sees.
fn iterations() -> usize {
    std::env::var("TRRG_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

/// Runs `parse` on `iterations()` mutations of the seeds, written to `file` (the parsers read
/// paths). `bound(len)` is the largest allocation allowed for an input of `len` bytes. Returns
/// how many inputs were parsed without error (so a target whose every input fails early is
/// visible in the output).
fn fuzz(
    target: &str,
    seeds: &[Vec<u8>],
    file: &Path,
    bound: impl Fn(usize) -> usize,
    parse: impl Fn(&Path) -> bool,
) {
    let n = iterations();
    let mut rng = Rng(0x7452_5247 ^ target.len() as u64);
    let (mut accepted, mut slowest, mut largest) = (0usize, Duration::ZERO, 0usize);
    for i in 0..n {
        let seed = &seeds[i % seeds.len()];
        let input = if i < seeds.len() {
            seed.clone()
        } else {
            mutate(seed, &mut rng)
        };
        std::fs::write(file, &input).unwrap();
        LARGEST.with(|l| l.set(0));
        ARMED.with(|a| a.set(true));
        let started = Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parse(file)));
        let took = started.elapsed();
        ARMED.with(|a| a.set(false));
        let big = LARGEST.with(Cell::get);
        let keep = || {
            let path = std::env::temp_dir().join(format!("trrg-fuzz-{target}-{i}.bin"));
            std::fs::write(&path, &input).unwrap();
            path
        };
        match result {
            Ok(ok) => accepted += usize::from(ok),
            Err(_) => panic!(
                "{target}: input {i} panicked; saved as {}",
                keep().display()
            ),
        }
        assert!(
            took < Duration::from_secs(2),
            "{target}: input {i} took {took:?}; saved as {}",
            keep().display()
        );
        assert!(
            big <= bound(input.len()),
            "{target}: input {i} ({} bytes) allocated {big} bytes at once; saved as {}",
            input.len(),
            keep().display()
        );
        slowest = slowest.max(took);
        largest = largest.max(big);
    }
    println!(
        "fuzz {target}: {n} inputs, {accepted} parsed, no panic; slowest {slowest:?}, largest \
         allocation {largest} bytes"
    );
}

/// Container formats: nothing larger than 64 times the input, plus 1 MiB of fixed overhead.
fn linear_bound(len: usize) -> usize {
    64 * len + (1 << 20)
}

fn work_dir(target: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("trrg-fuzz-{target}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn workspace_file(path: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(path),
    )
    .unwrap()
}

/// A safetensors file of three small tensors (F32, F16, BF16).
fn safetensors_seed() -> Vec<u8> {
    use safetensors::tensor::TensorView;
    use safetensors::Dtype;
    let f32s: Vec<u8> = (0..6).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let halves: Vec<u8> = (0..4u16).flat_map(|i| (0x3C00 + i).to_le_bytes()).collect();
    let views = vec![
        (
            "a.weight",
            TensorView::new(Dtype::F32, vec![2, 3], &f32s).unwrap(),
        ),
        (
            "b.bias",
            TensorView::new(Dtype::F16, vec![4], &halves).unwrap(),
        ),
        (
            "c",
            TensorView::new(Dtype::BF16, vec![2, 2], &halves).unwrap(),
        ),
    ];
    safetensors::serialize(views, None).unwrap()
}

#[test]
fn fuzz_safetensors_header_and_tensors() {
    let dir = work_dir("safetensors");
    let file = dir.join("model.safetensors");
    let seeds = vec![
        safetensors_seed(),
        workspace_file("crates/llm/tests/fixtures/tiny_llama_tied/model.safetensors"),
    ];
    fuzz("safetensors", &seeds, &file, linear_bound, |path| {
        let Ok(mut w) = trrg_io::WeightFile::open(path) else {
            return false;
        };
        let infos = w.describe();
        for info in infos {
            let _ = w.values(&info.name, &info.shape);
        }
        true
    });
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn fuzz_torch_pickle_and_zip() {
    let dir = work_dir("torch");
    let file = dir.join("model.pt");
    let seeds = vec![
        std::fs::read(fixtures().join("torch_zip.pt")).unwrap(),
        std::fs::read(fixtures().join("torch_legacy.pt")).unwrap(),
    ];
    fuzz("torch", &seeds, &file, linear_bound, |path| {
        trrg_io::WeightFile::open_pytorch(path).is_ok()
    });
    std::fs::remove_dir_all(dir).unwrap();
}

/// A GGUF v3 file: string, integer, float and array metadata, and an F32 and a Q8_0 tensor.
fn gguf_seed() -> Vec<u8> {
    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend((s.len() as u64).to_le_bytes());
        out.extend(s.as_bytes());
    }
    let mut out = b"GGUF".to_vec();
    out.extend(3u32.to_le_bytes());
    out.extend(2u64.to_le_bytes()); // tensors
    out.extend(4u64.to_le_bytes()); // metadata
    string(&mut out, "general.architecture");
    out.extend(8u32.to_le_bytes());
    string(&mut out, "llama");
    string(&mut out, "llama.block_count");
    out.extend(4u32.to_le_bytes());
    out.extend(2u32.to_le_bytes());
    string(&mut out, "llama.rope.freq_base");
    out.extend(6u32.to_le_bytes());
    out.extend(10000f32.to_le_bytes());
    string(&mut out, "tokenizer.ggml.tokens");
    out.extend(9u32.to_le_bytes());
    out.extend(8u32.to_le_bytes());
    out.extend(3u64.to_le_bytes());
    for t in ["<s>", "a", "b"] {
        string(&mut out, t);
    }
    // Tensor table: `w` F32 [2, 3] at 0, `q` Q8_0 [32] at 32.
    string(&mut out, "w");
    out.extend(2u32.to_le_bytes());
    out.extend(3u64.to_le_bytes());
    out.extend(2u64.to_le_bytes());
    out.extend(0u32.to_le_bytes());
    out.extend(0u64.to_le_bytes());
    string(&mut out, "q");
    out.extend(1u32.to_le_bytes());
    out.extend(32u64.to_le_bytes());
    out.extend(8u32.to_le_bytes());
    out.extend(32u64.to_le_bytes());
    while !out.len().is_multiple_of(32) {
        out.push(0);
    }
    out.extend((0..6).flat_map(|i| (i as f32 * 0.5).to_le_bytes()));
    out.extend([0u8; 8]);
    out.extend(0x2C00u16.to_le_bytes()); // Q8_0 block: f16 scale, 32 int8
    out.extend((0..32).map(|i| i as u8));
    out
}

#[test]
fn fuzz_gguf_container() {
    let dir = work_dir("gguf");
    let file = dir.join("model.gguf");
    let seed = gguf_seed();
    std::fs::write(&file, &seed).unwrap();
    let parsed = trrg_io::Gguf::open(&file).unwrap();
    assert_eq!(parsed.tensor_values("q", &[32]).unwrap().len(), 32);
    fuzz("gguf", &[seed], &file, linear_bound, |path| {
        let Ok(g) = trrg_io::Gguf::open(path) else {
            return false;
        };
        for (name, shape, _) in g.tensor_table() {
            let _ = g.tensor_values(&name, &shape);
        }
        let _ = g.int("llama.block_count");
        let _ = g.strings("tokenizer.ggml.tokens");
        true
    });
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn fuzz_annotation_json() {
    let dir = work_dir("annotation");
    let file = dir.join("annotation.json");
    let images = fixtures().join("iu_tiny/images");
    let seeds = vec![std::fs::read(fixtures().join("iu_tiny/annotation.json")).unwrap()];
    fuzz("annotation", &seeds, &file, linear_bound, |path| {
        let Ok(annotation) = trrg_data::Annotation::from_path(path) else {
            return false;
        };
        for split in trrg_data::Split::ALL {
            let _ = annotation.studies(
                split,
                trrg_data::DatasetKind::IuXray,
                trrg_data::Cleaner::IuXray,
                &images,
                trrg_data::EmptyReportPolicy::Skip,
            );
        }
        true
    });
    std::fs::remove_dir_all(dir).unwrap();
}

/// A word-level `tokenizer.json` with a whitespace pre-tokenizer, padding and truncation.
fn tokenizer_seed(dir: &Path) -> Vec<u8> {
    use tokenizers::models::wordlevel::WordLevel;
    use tokenizers::pre_tokenizers::whitespace::WhitespaceSplit;
    use tokenizers::{PaddingParams, Tokenizer, TruncationParams};
    let vocab = ["<pad>", "<s>", "</s>", "<unk>", "heart", "normal", "."]
        .iter()
        .enumerate()
        .map(|(i, t)| (t.to_string(), i as u32))
        .collect();
    let model = WordLevel::builder()
        .vocab(vocab)
        .unk_token("<unk>".into())
        .build()
        .unwrap();
    let mut tok = Tokenizer::new(model);
    tok.with_pre_tokenizer(Some(WhitespaceSplit));
    tok.with_padding(Some(PaddingParams::default()));
    tok.with_truncation(Some(TruncationParams::default()))
        .unwrap();
    let path = dir.join("seed-tokenizer.json");
    tok.save(&path, true).unwrap();
    std::fs::read(path).unwrap()
}

#[test]
fn fuzz_tokenizer_json() {
    let dir = work_dir("tokenizer");
    let file = dir.join("tokenizer.json");
    let seeds = vec![tokenizer_seed(&dir)];
    let special = trrg_data::SpecialTokens {
        bos: "<s>".into(),
        eos: "</s>".into(),
        pad: "<pad>".into(),
    };
    fuzz("tokenizer", &seeds, &file, linear_bound, |path| {
        use trrg_data::ReportTokenizer;
        let Ok(tok) = trrg_data::HfReportTokenizer::from_file(path, &special) else {
            return false;
        };
        if let Ok(ids) = tok.encode_report("heart normal . big", 16) {
            let _ = tok.decode(&ids);
        }
        true
    });
    std::fs::remove_dir_all(dir).unwrap();
}

/// Images: 8 bytes (16-bit RGBA) for each pixel a file of this length may claim.
fn image_bound(len: usize) -> usize {
    8 * trrg_data::max_image_pixels(len as u64) as usize
}

#[test]
fn fuzz_png_decode() {
    let dir = work_dir("png");
    let file = dir.join("view.png");
    let seeds = vec![
        std::fs::read(fixtures().join("iu_tiny/images/CXR2/0.png")).unwrap(),
        std::fs::read(fixtures().join("iu_tiny/images/CXR1/0.png")).unwrap(),
    ];
    fuzz("png", &seeds, &file, image_bound, |path| {
        trrg_data::load_gray(path, "fuzz").is_ok()
    });
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn fuzz_jpeg_decode() {
    let dir = work_dir("jpeg");
    let file = dir.join("view.jpg");
    let gray = image::GrayImage::from_fn(24, 16, |x, y| image::Luma([(x * 9 + y * 5) as u8]));
    let mut jpeg = Vec::new();
    image::DynamicImage::ImageLuma8(gray)
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    fuzz("jpeg", &[jpeg], &file, image_bound, |path| {
        trrg_data::load_gray(path, "fuzz").is_ok()
    });
    std::fs::remove_dir_all(dir).unwrap();
}
