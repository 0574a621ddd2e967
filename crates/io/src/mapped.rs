//! Checkpoint files memory-mapped (memmap2) instead of read whole, and the check that the
//! weights about to be loaded fit in the memory the machine has left.
//!
//! A mapped file costs address space, not memory: its pages are read on first touch and, once a
//! tensor has been copied out, handed back to the page cache ([`FileBytes::release`]), so loading
//! a checkpoint peaks near the size of the model it builds rather than model plus file.

use std::ops::{Deref, Range};
use std::path::Path;

use crate::{Error, Result};

/// A checkpoint's bytes: memory-mapped from its file, or owned (bytes built in memory, and
/// empty files, which cannot be mapped).
pub(crate) enum FileBytes {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl FileBytes {
    /// Opens `path` once and maps it read-only.
    pub(crate) fn map(path: &Path) -> Result<Self> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        if file.metadata().map_err(io)?.len() == 0 {
            return Ok(Self::Owned(Vec::new()));
        }
        // SAFETY: the map is read-only. A checkpoint rewritten by
        // another process while it is being loaded can change (or, if truncated, fault) the
        // bytes read; every read is bounds-checked against the length seen at open, and trrg's
        // own writers replace checkpoints by rename, which leaves an open map intact.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        Ok(Self::Mapped(map))
    }

    /// Hands the pages of `range` back to the operating system once their bytes have been
    /// copied out: a later read faults them in from the file again. A no-op for owned bytes.
    pub(crate) fn release(&self, range: Range<usize>) {
        let Self::Mapped(map) = self else { return };
        let range = range.start.min(map.len())..range.end.min(map.len());
        // Whole pages inside the range only; the partial pages at its ends may hold the
        // neighbouring tensors.
        let page = page_size();
        let (start, end) = (range.start.div_ceil(page) * page, range.end / page * page);
        #[cfg(unix)]
        if end > start {
            // SAFETY: DONTNEED on a read-only, file-backed map drops the pages from this
            // process; the file is unchanged, and any later access reads the same bytes back
            // from it. No reference into the map outlives the copy the caller made. A refusal
            // (a platform whose pages are larger than `page_size`) only skips the release.
            let _ = unsafe {
                map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start)
            };
        }
        #[cfg(not(unix))]
        let _ = (start, end); // no DONTNEED there: pages stay until the map is dropped
    }
}

impl Deref for FileBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Self::Mapped(map) => map,
            Self::Owned(bytes) => bytes,
        }
    }
}

/// The page size `release` aligns to: 4 KiB, x86-64's and most of aarch64's. Where pages are
/// larger, `madvise` refuses ranges that are not aligned to them and the release is skipped:
/// loading then peaks higher, and nothing else changes.
fn page_size() -> usize {
    4096
}

/// Bytes of memory this process can still allocate: Linux's `MemAvailable`, lowered to the
/// headroom of the cgroup (container) limit when there is one. None where neither is known.
pub fn available_memory() -> Option<u64> {
    let available = kib_field("/proc/meminfo", "MemAvailable:");
    let read = |name: &str| {
        std::fs::read_to_string(Path::new("/sys/fs/cgroup").join(name))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
    };
    let cgroup =
        read("memory.max").map(|max| max.saturating_sub(read("memory.current").unwrap_or(0)));
    match (available, cgroup) {
        (Some(a), Some(c)) => Some(a.min(c)),
        (a, c) => a.or(c),
    }
}

/// This process's peak resident memory so far (Linux's `VmHWM`, what `/usr/bin/time -v` reports
/// as the maximum resident set), in bytes; None elsewhere.
pub fn peak_resident_memory() -> Option<u64> {
    kib_field("/proc/self/status", "VmHWM:")
}

/// The `key: N kB` line of a `/proc` file, in bytes.
fn kib_field(file: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(file).ok()?;
    let kb = text
        .lines()
        .find_map(|line| line.strip_prefix(key))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kb * 1024)
}

/// The number of values of `shape`, saturating (a constructed header may claim any shape).
pub(crate) fn numel(shape: &[usize]) -> u64 {
    shape.iter().fold(1u64, |n, &d| n.saturating_mul(d as u64))
}

/// Gibibytes, for messages.
fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / f64::from(1u32 << 30))
}

/// Fails, naming `path`, when `values` weights of `bytes_per_value` bytes each need more memory
/// than [`available_memory`] reports (no check where nothing is reported).
pub(crate) fn check_fits(path: &Path, values: u64, bytes_per_value: usize) -> Result<()> {
    let needed = values.saturating_mul(bytes_per_value as u64);
    match available_memory() {
        Some(available) if needed > available => Err(Error::Weights {
            path: path.to_path_buf(),
            tensor: String::new(),
            reason: format!(
                "its {values} weights need {} as {}-byte values, more than the {} of memory \
                 available; use a machine with more memory, a smaller or more quantized \
                 checkpoint, or half precision (`\"precision\": \"bf16\"`)",
                gib(needed),
                bytes_per_value,
                gib(available)
            ),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn available_memory_is_known_on_linux_and_below_the_total() {
        let available = available_memory().expect("Linux reports MemAvailable");
        let total = kib_field("/proc/meminfo", "MemTotal:").unwrap();
        assert!(
            available > 0 && available <= total,
            "{available} of {total}"
        );
    }

    /// A constructed checkpoint whose one tensor needs twice the machine's memory: a sparse
    /// file (the header is real, the data a hole), refused by the memory check with a message
    /// that names the file and both sizes, before anything is allocated. Safetensors and GGUF.
    #[test]
    #[cfg(target_os = "linux")] // the only platform whose free memory trrg reads
    fn a_checkpoint_twice_the_size_of_memory_is_refused_before_loading() {
        type B = burn::backend::Flex;
        let available = available_memory().expect("Linux reports MemAvailable");
        let device = Default::default();
        let dir = std::env::temp_dir().join(format!("trrg-huge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let values = available / 2 + 1; // f32: twice the available memory
        let header = format!(
            r#"{{"huge":{{"dtype":"F32","shape":[{values}],"data_offsets":[0,{}]}}}}"#,
            values * 4
        );
        let path = dir.join("huge.safetensors");
        let mut file = std::fs::File::create(&path).unwrap();
        std::io::Write::write_all(&mut file, &(header.len() as u64).to_le_bytes()).unwrap();
        std::io::Write::write_all(&mut file, header.as_bytes()).unwrap();
        file.set_len(8 + header.len() as u64 + values * 4).unwrap();
        drop(file);
        let weights = crate::WeightFile::open(&path).unwrap();
        let err = weights.check_memory::<B>(&device).unwrap_err().to_string();
        assert!(err.contains("huge.safetensors"), "{err}");
        assert!(
            err.contains("more than the") && err.contains("GiB"),
            "{err}"
        );

        let mut gguf = b"GGUF".to_vec();
        gguf.extend(3u32.to_le_bytes());
        gguf.extend(1u64.to_le_bytes()); // one tensor
        gguf.extend(0u64.to_le_bytes()); // no metadata
        gguf.extend(4u64.to_le_bytes());
        gguf.extend(b"huge");
        gguf.extend(1u32.to_le_bytes());
        gguf.extend(values.to_le_bytes());
        gguf.extend(0u32.to_le_bytes()); // F32
        gguf.extend(0u64.to_le_bytes());
        let path = dir.join("huge.gguf");
        std::fs::write(&path, &gguf).unwrap();
        // The data as a hole again: a dimension may not exceed the file's length.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(gguf.len() as u64 + 32 + values * 4)
            .unwrap();
        let err = crate::Gguf::open(&path)
            .unwrap()
            .check_memory::<B>(&device)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("huge.gguf") && err.contains("more than the"),
            "{err}"
        );
        // A checkpoint that fits passes.
        let small = dir.join("small.safetensors");
        crate::write_safetensors(&small, &[("w".into(), vec![2], vec![1.0, 2.0])], None).unwrap();
        crate::WeightFile::open(&small)
            .unwrap()
            .check_memory::<B>(&device)
            .unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn release_keeps_the_bytes_readable() {
        let dir = std::env::temp_dir().join(format!("trrg-mapped-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.bin");
        let bytes: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let mapped = FileBytes::map(&path).unwrap();
        assert!(matches!(mapped, FileBytes::Mapped(_)));
        assert_eq!(&mapped[..], &bytes[..]);
        mapped.release(100..30_000);
        assert_eq!(
            &mapped[..],
            &bytes[..],
            "released pages read back from the file"
        );
        std::fs::write(dir.join("empty.bin"), b"").unwrap();
        assert!(FileBytes::map(&dir.join("empty.bin")).unwrap().is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
