//! `Trrg<B>`: the TRRG model, generic over Burn's backend.
//!
//! Data flow (shapes for the `tiny` preset, two 128 px views, 14 clues):
//!
//! ```text
//! images [b, 2, 1, 128, 128] -> ViT -> patch tokens [b*2, 64, 128], global [b*2, 128]
//!   global (mean over views) -> alignment head -> [b, d_embed]  --cos-->  prompts (pos/neg)
//!       -> zero-shot clue logits [b, 14] -> p = sigmoid
//!   p + prompt embeddings -> clue embedder -> clue tokens [b, 14, 128]
//!   visual_proj + view embeddings -> global [b, 2, 128], patches [b, 128, 128]
//!   clue interaction (L blocks) -> fused global, patches, clues
//!   patches pooled 2x2 per view -> [b, 8, 128]; visual = [global; patches] -> [b, 10, d_llm]
//!   clue tokens -> d_llm, + p_d * (LLM embedding of disease d's positive prompts) (lexical clues)
//!   LLM input = <img> visual </img> <clue> clues </clue> BOS report... -> next-token loss
//!   loss = LM cross-entropy + lambda * BCE(clue logits, report labels)
//! ```
#![warn(missing_docs)]

mod bank;
mod config;
mod error;
mod prefix;
mod pretrained;
mod trrg;

pub use bank::{ClueBank, NoFindingGate, PromptTokens};
pub use config::{ClueMode, ClueOptions, TrrgConfig, ViewFusion};
pub use error::{Error, Result};
pub use pretrained::{PretrainedPaths, EFFICIENTNET_LITE0};
pub use trrg::{
    sentence_batch, BatchLabels, ContrastiveOutput, ContrastiveParts, Generation, NegationContrast,
    Prefix, Settings, Trrg, TrrgOutput,
};
pub use trrg_vision::{VisionEncoderConfig, VitConfig};
