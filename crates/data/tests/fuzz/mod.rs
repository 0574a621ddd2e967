//! Fuzz targets for every parser that reads a user's bytes (files, and `serve`'s uploads), on
//! stable Rust: a seeded mutation loop over valid inputs. Each target feeds `TRRG_FUZZ_ITERS` mutated inputs (default 2,000,
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

/// A DICOM Part 10 file written element by element: the file meta group, then `elements`
/// (tag, VR, value; ascending tags) in `syntax`, explicit or implicit VR little endian.
/// Pixel data given as `None` is written encapsulated (undefined length), one fragment.
fn dicom_file(
    syntax: &str,
    elements: &[((u16, u16), &str, Vec<u8>)],
    fragment: Option<&[u8]>,
) -> Vec<u8> {
    fn even(mut v: Vec<u8>, pad: u8) -> Vec<u8> {
        if v.len() % 2 == 1 {
            v.push(pad);
        }
        v
    }
    fn explicit(out: &mut Vec<u8>, (group, element): (u16, u16), vr: &str, value: &[u8]) {
        out.extend(group.to_le_bytes());
        out.extend(element.to_le_bytes());
        out.extend(vr.as_bytes());
        if ["OB", "OW", "OF", "SQ", "UT", "UN"].contains(&vr) {
            out.extend([0, 0]);
            out.extend((value.len() as u32).to_le_bytes());
        } else {
            out.extend((value.len() as u16).to_le_bytes());
        }
        out.extend(value);
    }
    let uid = |s: &str| even(s.as_bytes().to_vec(), 0);
    let mut meta = Vec::new();
    explicit(&mut meta, (2, 1), "OB", &[0, 1]);
    explicit(&mut meta, (2, 2), "UI", &uid("1.2.840.10008.5.1.4.1.1.1.1"));
    explicit(&mut meta, (2, 3), "UI", &uid("1.2.3.4.5.6.7"));
    explicit(&mut meta, (2, 0x10), "UI", &uid(syntax));
    explicit(&mut meta, (2, 0x12), "UI", &uid("1.2.3.4"));
    let mut out = vec![0u8; 128];
    out.extend(b"DICM");
    explicit(&mut out, (2, 0), "UL", &(meta.len() as u32).to_le_bytes());
    out.extend(meta);
    let implicit = syntax == "1.2.840.10008.1.2";
    for (tag, vr, value) in elements {
        let value = even(
            value.clone(),
            if *vr == "UI" || vr.starts_with('O') {
                0
            } else {
                b' '
            },
        );
        if implicit {
            out.extend(tag.0.to_le_bytes());
            out.extend(tag.1.to_le_bytes());
            out.extend((value.len() as u32).to_le_bytes());
            out.extend(&value);
        } else {
            explicit(&mut out, *tag, vr, &value);
        }
    }
    if let Some(fragment) = fragment {
        let item = |out: &mut Vec<u8>, element: u16, body: &[u8]| {
            out.extend(0xFFFEu16.to_le_bytes());
            out.extend(element.to_le_bytes());
            out.extend((body.len() as u32).to_le_bytes());
            out.extend(body);
        };
        out.extend(0x7FE0u16.to_le_bytes());
        out.extend(0x0010u16.to_le_bytes());
        out.extend(b"OB\0\0");
        out.extend(u32::MAX.to_le_bytes());
        item(&mut out, 0xE000, &[]);
        item(&mut out, 0xE000, &even(fragment.to_vec(), 0));
        item(&mut out, 0xE0DD, &[]);
    }
    out
}

/// Three small DICOM images: 12-bit MONOCHROME2 with a window (explicit VR), 8-bit MONOCHROME1
/// with a rescale (implicit VR), and 8-bit RLE lossless (encapsulated).
fn dicom_seeds() -> Vec<Vec<u8>> {
    let (rows, cols) = (12u16, 16u16);
    let us = |v: u16| v.to_le_bytes().to_vec();
    let text = |s: &str| s.as_bytes().to_vec();
    let image = |photometric: &str, bits: u16| {
        vec![
            ((0x28, 0x02), "US", us(1)),
            ((0x28, 0x04), "CS", text(photometric)),
            ((0x28, 0x10), "US", us(rows)),
            ((0x28, 0x11), "US", us(cols)),
            ((0x28, 0x100), "US", us(if bits > 8 { 16 } else { 8 })),
            ((0x28, 0x101), "US", us(bits)),
            ((0x28, 0x102), "US", us(bits - 1)),
            ((0x28, 0x103), "US", us(0)),
        ]
    };
    let pixels8: Vec<u8> = (0..rows * cols).map(|i| (i * 7 % 256) as u8).collect();
    let mut windowed = image("MONOCHROME2", 12);
    windowed.push(((0x28, 0x1050), "DS", text("2048")));
    windowed.push(((0x28, 0x1051), "DS", text("4096")));
    let pixels16: Vec<u8> = (0..rows * cols)
        .flat_map(|i| (i * 13 % 4096).to_le_bytes())
        .collect();
    windowed.push(((0x7FE0, 0x10), "OW", pixels16));
    let mut rescaled = image("MONOCHROME1", 8);
    rescaled.push(((0x28, 0x1052), "DS", text("-1024")));
    rescaled.push(((0x28, 0x1053), "DS", text("2")));
    rescaled.push(((0x7FE0, 0x10), "OB", pixels8.clone()));
    // RLE: a 64-byte header (one segment, at offset 64), then each row as one literal run.
    let mut rle = 1u32.to_le_bytes().to_vec();
    rle.extend(64u32.to_le_bytes());
    rle.resize(64, 0);
    for row in pixels8.chunks(cols as usize) {
        rle.push(cols as u8 - 1);
        rle.extend(row);
    }
    vec![
        dicom_file("1.2.840.10008.1.2.1", &windowed, None),
        dicom_file("1.2.840.10008.1.2", &rescaled, None),
        dicom_file("1.2.840.10008.1.2.5", &image("MONOCHROME2", 8), Some(&rle)),
    ]
}

#[test]
fn fuzz_dicom_decode() {
    let dir = work_dir("dicom");
    let file = dir.join("view.dcm");
    let mut seeds = dicom_seeds();
    for (i, seed) in seeds.iter().enumerate() {
        std::fs::write(&file, seed).unwrap();
        let image = trrg_data::load_gray(&file, "seed")
            .unwrap_or_else(|e| panic!("DICOM seed {i} does not decode: {e}"));
        assert_eq!(image.dimensions(), (16, 12), "DICOM seed {i}");
    }
    seeds.push(std::fs::read(fixtures().join("dicom/rg1_dx_jpeg_baseline.dcm")).unwrap());
    fuzz("dicom", &seeds, &file, image_bound, |path| {
        trrg_data::load_gray(path, "fuzz").is_ok()
    });
    std::fs::remove_dir_all(dir).unwrap();
}

/// Multipart bodies as browsers send them: two file fields, a text field, a quoted boundary.
#[test]
fn fuzz_multipart_upload() {
    let dir = work_dir("multipart");
    let file = dir.join("body.bin");
    let boundary = "----trrgFormBoundary7MA4YWxk";
    let part = |name: &str, filename: Option<&str>, data: &[u8]| {
        let mut out =
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"").into_bytes();
        if let Some(f) = filename {
            out.extend(
                format!("; filename=\"{f}\"\r\nContent-Type: application/octet-stream").as_bytes(),
            );
        }
        out.extend(b"\r\n\r\n");
        out.extend(data);
        out.extend(b"\r\n");
        out
    };
    let png = std::fs::read(fixtures().join("iu_tiny/images/CXR1/0.png")).unwrap();
    let mut two_views = part("view", Some("frontal.png"), &png[..png.len().min(600)]);
    two_views.extend(part("view", Some("lateral.dcm"), b"\x00\x01--\r\n--x\r\n"));
    two_views.extend(format!("--{boundary}--\r\n").as_bytes());
    let mut with_text = part("note", None, b"hello");
    with_text.extend(part("view", Some("a.png"), b""));
    with_text.extend(format!("--{boundary}--").as_bytes());
    for seed in [&two_views, &with_text] {
        assert!(!trrg_io::multipart::parse(seed, boundary)
            .unwrap()
            .is_empty());
    }
    assert_eq!(
        trrg_io::multipart::boundary(&format!("multipart/form-data; boundary=\"{boundary}\"")),
        Some(boundary.to_string())
    );
    fuzz(
        "multipart",
        &[two_views, with_text],
        &file,
        linear_bound,
        |path| {
            let body = std::fs::read(path).unwrap();
            // The content type comes from the same untrusted request.
            let header = String::from_utf8_lossy(&body[..body.len().min(80)]);
            let _ = trrg_io::multipart::boundary(&format!("multipart/form-data; {header}"));
            trrg_io::multipart::parse(&body, boundary).is_ok()
        },
    );
    std::fs::remove_dir_all(dir).unwrap();
}
