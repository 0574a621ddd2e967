//! The error type of trrg-data.

use std::path::{Path, PathBuf};

/// Everything that can go wrong while reading a dataset, a vocabulary, a tokenizer or an image.
///
/// Every variant names what was being read and where, so that the message alone tells a user
/// which file, study or field to fix.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An image listed in the annotation does not exist.
    #[error(
        "{}image {path} does not exist{}",
        study(.id, .path),
        if is_file_arg(.id, .path) { "" } else { " (check the images root)" }
    )]
    MissingImage {
        /// Study id.
        id: String,
        /// The resolved path.
        path: PathBuf,
    },
    /// An image exists but cannot be decoded.
    #[error("{}cannot decode image {path}: {source}", study(.id, .path))]
    ImageDecode {
        /// Study id (or the file name when no study is involved).
        id: String,
        /// The image file.
        path: PathBuf,
        /// The decoder's error.
        #[source]
        source: image::ImageError,
    },
    /// A DICOM file cannot be read, decoded or displayed as a monochrome radiograph.
    #[error("{}DICOM {path}: {reason}", study(.id, .path))]
    Dicom {
        /// Study id (or the file name when no study is involved).
        id: String,
        /// The file.
        path: PathBuf,
        /// What is wrong (names the transfer syntax where the pixel data is the problem).
        reason: String,
    },
    /// An image's header claims more pixels than [`crate::load_gray`] decodes: sides over
    /// [`crate::MAX_IMAGE_SIDE`], or more pixels than a file of its size can hold
    /// ([`crate::max_image_pixels`]).
    #[error(
        "{}image {path} claims {width}x{height} pixels, more than a {len}-byte file can hold or \
         over {max} px a side; the file is corrupt",
        study(.id, .path),
        max = crate::MAX_IMAGE_SIDE
    )]
    ImageTooLarge {
        /// Study id (or the file name when no study is involved).
        id: String,
        /// The image file.
        path: PathBuf,
        /// Claimed width.
        width: u32,
        /// Claimed height.
        height: u32,
        /// The file's length in bytes.
        len: u64,
    },
    /// An image has more pixels than the pixel budget ([`crate::pixel_budget`]).
    #[error(
        "{}image {path} is {width}x{height} pixels, over the pixel budget of {budget} (set {var} \
         to raise it)",
        study(.id, .path),
        var = crate::PIXEL_BUDGET_VAR
    )]
    OverPixelBudget {
        /// Study id (or the file name when no study is involved).
        id: String,
        /// The image file.
        path: PathBuf,
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
        /// The budget in pixels.
        budget: u64,
    },
    /// The pixel budget's environment variable holds no positive whole number.
    #[error("{var}={value:?} is not a positive whole number of pixels", var = crate::PIXEL_BUDGET_VAR)]
    PixelBudget {
        /// The variable's value.
        value: String,
    },
    /// A study has the wrong number of image paths for the dataset kind.
    #[error("study `{id}` has {found} image path(s); {kind} needs at least {needed}")]
    WrongViewCount {
        /// Study id.
        id: String,
        /// Number of paths in the annotation.
        found: usize,
        /// Number of views the dataset kind reads.
        needed: usize,
        /// Dataset kind name.
        kind: &'static str,
    },
    /// A study's report is empty after cleaning.
    #[error(
        "study `{id}` in split `{split}` has an empty report; remove it from the annotation or \
         set `empty_reports = skip` to drop such studies with a counted warning"
    )]
    EmptyReport {
        /// Study id.
        id: String,
        /// Split name.
        split: String,
    },
    /// The same study id appears twice in one split.
    #[error("study id `{id}` appears more than once in split `{split}` of {path}")]
    DuplicateId {
        /// Study id.
        id: String,
        /// Split name.
        split: String,
        /// The annotation file.
        path: PathBuf,
    },
    /// An entry of a report archive (Open-i `NLMCXR_reports.tgz`) cannot be parsed.
    #[error("{path}: entry {entry}: {reason}")]
    BadArchiveEntry {
        /// The archive.
        path: PathBuf,
        /// The entry's name inside it.
        entry: String,
        /// What is wrong.
        reason: String,
    },
    /// A configuration value is impossible.
    #[error("invalid configuration `{field}`: {reason}")]
    InvalidConfig {
        /// The field name.
        field: &'static str,
        /// What is wrong and what would be valid.
        reason: String,
    },
    /// A label file names an observation that the label set does not have, or holds a bad value.
    #[error("labels {path}: study `{id}`: {reason}")]
    BadLabel {
        /// The labels file.
        path: PathBuf,
        /// Study id.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// A file (JSON, weights, a path under a root) could not be read, written or resolved.
    #[error(transparent)]
    File(#[from] trrg_io::Error),
    /// A tokenizer could not be loaded or used.
    #[error(transparent)]
    Tokenize(#[from] trrg_tokenize::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// An image named by its own path (a file given on the command line) rather than by a study of
/// a dataset.
fn is_file_arg(id: &str, path: &Path) -> bool {
    path.to_str() == Some(id)
}

/// The study prefix of an image error ("study `id`: "), empty where the image is its own name,
/// so that the path is printed once.
fn study(id: &str, path: &Path) -> String {
    if is_file_arg(id, path) {
        String::new()
    } else {
        format!("study `{id}`: ")
    }
}
