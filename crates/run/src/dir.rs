//! [`RunDir`]: the one owner of a run directory's layout and file formats.

use std::path::{Path, PathBuf};

use serde::Serialize;
use trrg_clue::DiseaseSet;
use trrg_io::write_atomic;
use trrg_tokenize::WordVocab;

use crate::checkpoint::RUN_STATE_FORMAT_V1;
use crate::thresholds::{read_clue_thresholds, thresholds_by_name, CLUE_THRESHOLDS_FILE};
use crate::{Checkpoints, Error, LlmTraining, Result, RunState, RunTokenizers, TrainConfig};

/// A run directory (see the crate docs for its layout). Training writes through it, inference
/// reads through it; no other code spells a file name of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunDir {
    root: PathBuf,
}

/// `value` as `to_string_pretty` writes it, with a final newline: every JSON file of a run.
pub(crate) fn pretty_json(value: &impl Serialize) -> String {
    // The values written here are plain structs and `serde_json::Value`s: maps with string keys
    // only, so serialization cannot fail.
    serde_json::to_string_pretty(value).expect("run files serialize (string-keyed maps only)")
        + "\n"
}

impl RunDir {
    /// The run directory at `root` (nothing is read or created yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A file of the run, by its name relative to the directory (`metrics.json`, `plots/`).
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// `config.json`.
    pub fn config_path(&self) -> PathBuf {
        self.path("config.json")
    }

    /// `checkpoints/state.json`, the file that makes a checkpoint count.
    pub fn state_path(&self) -> PathBuf {
        self.path("checkpoints").join("state.json")
    }

    /// Whether the directory already holds a run (a config or a checkpoint).
    pub fn holds_run(&self) -> bool {
        self.config_path().exists() || self.state_path().exists()
    }

    /// Creates the directory, with an error naming it when that is impossible (a file in the
    /// way, no permission).
    pub fn create(&self) -> Result<()> {
        std::fs::create_dir_all(&self.root).map_err(|source| Error::Io {
            action: "cannot create the run directory",
            path: self.root.clone(),
            source,
        })
    }

    /// Writes `value` as pretty JSON to the run's file `name`, atomically.
    pub fn write_json(&self, name: &str, value: &impl Serialize) -> Result<()> {
        Ok(write_atomic(
            &self.path(name),
            pretty_json(value).as_bytes(),
        )?)
    }

    /// Reads `config.json` (unknown fields rejected), written at any [`CONFIG_FORMAT`] up to
    /// today's; see [`TrainConfig::from_run_json`].
    pub fn read_config(&self) -> Result<TrainConfig> {
        let path = self.config_path();
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
            action: "cannot read",
            path: path.clone(),
            source,
        })?;
        TrainConfig::from_run_json(&text, &path)
    }

    /// Writes `config.json`: the config's fields and its `"format_version"`
    /// ([`TrainConfig::to_run_json`]).
    pub fn write_config(&self, config: &TrainConfig) -> Result<()> {
        self.write_json("config.json", &config.to_run_json())
    }

    /// Reads `vocab.json` (the word vocabulary; the `base` preset has none).
    pub fn read_vocab(&self) -> Result<WordVocab> {
        Ok(WordVocab::load(self.path("vocab.json"))?)
    }

    /// Writes `vocab.json`.
    pub fn write_vocab(&self, vocab: &WordVocab) -> Result<()> {
        Ok(vocab.save(self.path("vocab.json"))?)
    }

    /// Reads `diseases.json`.
    pub fn read_diseases(&self) -> Result<DiseaseSet> {
        Ok(DiseaseSet::from_path(self.path("diseases.json"))?)
    }

    /// Records where the run's data is (`data.json`, the directory made absolute), so that
    /// `--resume` from any folder finds the same data.
    pub fn write_data_dir(&self, dir: &Path) -> Result<()> {
        let absolute = dir.canonicalize().map_err(|source| Error::Io {
            action: "cannot resolve the data directory",
            path: dir.to_path_buf(),
            source,
        })?;
        self.write_json("data.json", &serde_json::json!({ "data_dir": absolute }))
    }

    /// The data directory [`RunDir::write_data_dir`] recorded (None for a run from before
    /// `data.json`).
    pub fn read_data_dir(&self) -> Result<Option<PathBuf>> {
        let path = self.path("data.json");
        if !path.is_file() {
            return Ok(None);
        }
        let doc: serde_json::Value = trrg_io::read_json(&path)?;
        match doc["data_dir"].as_str() {
            Some(dir) => Ok(Some(PathBuf::from(dir))),
            None => Err(Error::Checkpoint {
                path,
                reason: "has no \"data_dir\" string".into(),
            }),
        }
    }

    /// Writes `diseases.json`.
    pub fn write_diseases(&self, diseases: &DiseaseSet) -> Result<()> {
        self.write_json("diseases.json", diseases)
    }

    /// The run's tokenizers: the `base` preset's own, else `vocab.json` for both sides.
    pub fn tokenizers(&self, config: &TrainConfig) -> Result<RunTokenizers> {
        RunTokenizers::for_config(config, || self.read_vocab())
    }

    /// The `checkpoints/` folder (created when absent).
    pub fn checkpoints(&self) -> Result<Checkpoints> {
        Checkpoints::new(&self.root)
    }

    /// `checkpoints/state.json` of a run trained with `config`, if any. A version-1 state is
    /// read for a run without LoRA (its records are the same) and refused for a LoRA run, whose
    /// adapters version 1 stored under other names.
    pub fn read_state(&self, config: &TrainConfig) -> Result<Option<RunState>> {
        let state = self.checkpoints()?.read_state()?;
        if let Some(s) = &state {
            if s.format == RUN_STATE_FORMAT_V1 && matches!(config.stage2_llm, LlmTraining::Lora(_))
            {
                return Err(Error::Checkpoint {
                    path: self.state_path(),
                    reason: format!(
                        "a LoRA run of format `{RUN_STATE_FORMAT_V1}`, written before trrg 0.1's \
                         LoraLinear: its adapters are stored under names this version does not \
                         read; train the run again (runs without LoRA still load)"
                    ),
                });
            }
        }
        Ok(state)
    }

    /// `clue_thresholds.json`, ordered as `names`.
    pub fn read_clue_thresholds(&self, names: &[String]) -> Result<Vec<f32>> {
        read_clue_thresholds(&self.root, names)
    }

    /// Writes `clue_thresholds.json`: `{disease: threshold}`, each rounded to two decimals.
    pub fn write_clue_thresholds(&self, names: &[String], thresholds: &[f32]) -> Result<()> {
        self.write_json(CLUE_THRESHOLDS_FILE, &thresholds_by_name(names, thresholds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CONFIG_FORMAT, FORMAT_KEY};

    fn temp(name: &str) -> RunDir {
        let dir = std::env::temp_dir().join(format!("trrg-rundir-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        RunDir::new(dir)
    }

    #[test]
    fn config_vocab_diseases_and_thresholds_round_trip() {
        let run = temp("roundtrip");
        run.create().unwrap();
        let config = TrainConfig::default();
        run.write_config(&config).unwrap();
        assert_eq!(run.read_config().unwrap(), config);
        // A run's config.json is also a valid `--config` file.
        assert_eq!(TrainConfig::from_path(&run.config_path()).unwrap(), config);
        let vocab = WordVocab::build(["heart normal ."], 1);
        run.write_vocab(&vocab).unwrap();
        assert_eq!(run.read_vocab().unwrap(), vocab);
        let set = DiseaseSet::chexpert();
        run.write_diseases(&set).unwrap();
        assert_eq!(run.read_diseases().unwrap(), set);
        let names = vec!["A".to_string(), "B".to_string()];
        run.write_clue_thresholds(&names, &[0.25, 0.5]).unwrap();
        assert_eq!(run.read_clue_thresholds(&names).unwrap(), [0.25, 0.5]);
        assert!(run.holds_run());
        std::fs::remove_dir_all(run.root()).unwrap();
    }

    /// The configs the docs cite parse and validate (unknown fields are errors).
    #[test]
    fn an_older_run_without_the_new_fields_is_read_as_it_was_trained() {
        let run = temp("older");
        run.create().unwrap();
        std::fs::write(
            run.config_path(),
            r#"{"seed": 3, "clue": {"mode": "full"}}"#,
        )
        .unwrap();
        let old = run.read_config().unwrap();
        assert!(!old.vision.stem_norm && !old.clue.words);
        assert!(!old.clue.spatial && !old.clue.spatial_fit);
        assert_eq!(old.clue.spatial_grid, 4);
        assert_eq!(old.clue.threshold_shrinkage, 0.0);
        assert!(!old.parallel_forward && !old.eval.clue_rerank);
        assert_eq!(old.stage1_workers, 1);
        assert_eq!(
            (
                old.seed,
                old.stage2_workers,
                old.stage2_rare_repeats,
                old.eval.no_repeat_ngram_size
            ),
            (3, 1, 0, 0)
        );
        run.write_config(&TrainConfig::default()).unwrap();
        let new = run.read_config().unwrap();
        assert!(new.vision.stem_norm && new.clue.words);
        assert!(new.clue.spatial && new.clue.spatial_fit);
        assert_eq!(new.clue.spatial_grid, 8);
        assert_eq!(new.clue.threshold_shrinkage, 20.0);
        assert!(new.parallel_forward && new.eval.clue_rerank);
        assert_eq!(new.stage1_workers, 2);
        assert_eq!(
            (
                new.stage2_workers,
                new.stage2_rare_repeats,
                new.eval.no_repeat_ngram_size
            ),
            (2, 1, 6)
        );
        std::fs::remove_dir_all(run.root()).unwrap();
    }

    #[test]
    fn the_config_carries_its_format_and_reads_by_it() {
        let run = temp("format");
        run.create().unwrap();
        run.write_config(&TrainConfig::default()).unwrap();
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.config_path()).unwrap()).unwrap();
        assert_eq!(doc[FORMAT_KEY], CONFIG_FORMAT);
        // A current-format file lacking a field takes today's default: only version 0 reads
        // an absent field as an older run's.
        let write = |text: &str| std::fs::write(run.config_path(), text).unwrap();
        write(&format!(
            r#"{{"{FORMAT_KEY}": {CONFIG_FORMAT}, "seed": 3}}"#
        ));
        let current = run.read_config().unwrap();
        assert_eq!(current.seed, 3);
        assert_eq!(current.clue.spatial_grid, 8);
        assert_eq!(current.stage2_workers, 2);
        assert!(current.parallel_forward && current.eval.clue_rerank);
        // Version 1 (stem, clue words, spatial readout and shrinkage all written) ran the
        // workers' forward passes in turn.
        write(&format!(r#"{{"{FORMAT_KEY}": 1, "seed": 3}}"#));
        let v1 = run.read_config().unwrap();
        assert!(!v1.parallel_forward && !v1.eval.clue_rerank);
        assert_eq!((v1.seed, v1.stage2_workers), (3, 2));
        // Version 2 kept beam search's likeliest report.
        write(&format!(r#"{{"{FORMAT_KEY}": 2, "seed": 3}}"#));
        let v2 = run.read_config().unwrap();
        assert!(v2.parallel_forward && !v2.eval.clue_rerank);
        // A newer format and a malformed one are refused, naming the file.
        for (text, says) in [
            (
                format!(r#"{{"{FORMAT_KEY}": 99}}"#),
                format!("reads up to {CONFIG_FORMAT}"),
            ),
            (
                format!(r#"{{"{FORMAT_KEY}": "1"}}"#),
                "not a whole number".into(),
            ),
            ("[1, 2]".into(), "malformed config".into()),
        ] {
            write(&text);
            let e = run.read_config().unwrap_err().to_string();
            assert!(e.contains(&says) && e.contains("config.json"), "{e}");
        }
        // Version 0 with a section of the wrong type: the deserializer names the field.
        write(r#"{"clue": 5}"#);
        let e = run.read_config().unwrap_err().to_string();
        assert!(e.contains("clue"), "{e}");
        std::fs::remove_dir_all(run.root()).unwrap();
    }

    #[test]
    fn the_configs_of_the_docs_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configs");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if let Err(e) = TrainConfig::from_path(&path) {
                panic!("{}: {e}", path.display());
            }
            n += 1;
        }
        assert!(n >= 2);
    }

    #[test]
    fn a_file_in_the_way_is_one_error_naming_the_directory() {
        let run = temp("blocked");
        std::fs::write(run.root(), b"not a directory").unwrap();
        let err = run.create().unwrap_err().to_string();
        assert!(
            err.contains("cannot create the run directory") && err.contains("trrg-rundir-blocked"),
            "{err}"
        );
        std::fs::remove_file(run.root()).unwrap();
    }

    #[test]
    fn a_truncated_state_is_one_error_naming_the_file() {
        let run = temp("truncated");
        let checkpoints = run.checkpoints().unwrap();
        checkpoints.write_state(&RunState::new(2)).unwrap();
        let text = std::fs::read_to_string(run.state_path()).unwrap();
        std::fs::write(run.state_path(), &text[..text.len() / 2]).unwrap();
        let err = run
            .read_state(&TrainConfig::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("state.json") && err.contains("malformed run state"),
            "{err}"
        );
        std::fs::remove_dir_all(run.root()).unwrap();
    }

    #[test]
    fn a_version_1_lora_run_is_refused_and_one_without_lora_is_read() {
        let run = temp("v1");
        let checkpoints = run.checkpoints().unwrap();
        let mut state = RunState::new(2);
        state.format = RUN_STATE_FORMAT_V1.into();
        checkpoints.write_state(&state).unwrap();
        assert_eq!(
            run.read_state(&TrainConfig::default()).unwrap(),
            Some(state)
        );
        let lora = TrainConfig {
            stage2_llm: LlmTraining::Lora(Default::default()),
            ..TrainConfig::default()
        };
        let err = run.read_state(&lora).unwrap_err().to_string();
        assert!(
            err.contains("trrg-run-state-v1") && err.contains("LoRA"),
            "{err}"
        );
        std::fs::remove_dir_all(run.root()).unwrap();
    }
}
