//! # trrg-clean: report cleaning, ported exactly from R2Gen and R2GenGPT
//!
//! No dependency beyond serde, so the Python package and the metrics use it without burn;
//! `trrg-data` re-exports it.
//!
//! Three cleaners, selected by [`Cleaner`]:
//!
//! | variant | source |
//! |---|---|
//! | [`Cleaner::IuXray`] | cuhksz-nlp/R2Gen `modules/tokenizers.py`, `clean_report_iu_xray` |
//! | [`Cleaner::MimicCxr`] | cuhksz-nlp/R2Gen `modules/tokenizers.py`, `clean_report_mimic_cxr` |
//! | [`Cleaner::R2GenGptMimic`] | wang-zhanyu/R2GenGPT `dataset/data_helper.py` (MIMIC) |
//!
//! The quirks of the originals are kept because published numbers depend on them:
//! the character class `[.,?;*!%^&_+():-\[\]{}]` contains the *range* `:-\[` (U+003A..U+005B,
//! so `; < = > ? @` and `A`-`Z` go, while `-` stays); empty sentences are kept (the original
//! filter `sent_cleaner(sent) != []` is always true); `strip`/`split` use Python's whitespace;
//! the result always ends with the token ` .`. Golden cases made with Python's `re` live in
//! `crates/data/tests/fixtures/clean_golden.json` (script: `crates/data/scripts/make_clean_golden.py`).
#![warn(missing_docs)]

use serde::{Deserialize, Serialize};

/// Which published report cleaner to apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cleaner {
    /// R2Gen's IU-Xray cleaner (no newline handling).
    IuXray,
    /// R2Gen's MIMIC-CXR cleaner (newlines, `__` runs and double spaces squeezed first).
    MimicCxr,
    /// R2GenGPT's MIMIC-CXR cleaner: R2Gen's, plus `:` -> ` :`, and a character class without
    /// the `:-[` range (colons, `;<=>?@` survive the class except those listed explicitly).
    R2GenGptMimic,
}

impl Cleaner {
    /// Cleans one raw report.
    ///
    /// ```
    /// use trrg_clean::Cleaner;
    /// assert_eq!(
    ///     Cleaner::IuXray.clean("1. Heart size normal. 2. No effusion."),
    ///     "heart size normal . no effusion ."
    /// );
    /// ```
    pub fn clean(self, report: &str) -> String {
        match self {
            Cleaner::IuXray => {
                let text = repeat_replace(report, "..", ".", 3);
                join_sentences(&strip_numbering(&text), in_r2gen_class)
            }
            Cleaner::MimicCxr => {
                join_sentences(&strip_numbering(&squeeze_mimic(report)), in_r2gen_class)
            }
            Cleaner::R2GenGptMimic => {
                let text = strip_numbering(&squeeze_mimic(report)).replace(':', " :");
                join_sentences(&text, in_r2gengpt_class)
            }
        }
    }
}

/// Python's `str.isspace` (Unicode White_Space plus U+001C..U+001F).
pub fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()`.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// Python's `str.split()` without arguments.
pub fn py_split_whitespace(s: &str) -> impl Iterator<Item = &str> {
    s.split(is_py_space).filter(|t| !t.is_empty())
}

fn repeat_replace(text: &str, from: &str, to: &str, times: usize) -> String {
    (0..times).fold(text.to_string(), |t, _| t.replace(from, to))
}

fn squeeze_mimic(report: &str) -> String {
    let text = report.replace('\n', " ");
    let text = repeat_replace(&text, "__", "_", 7);
    let text = repeat_replace(&text, "  ", " ", 6);
    repeat_replace(&text, "..", ".", 8)
}

fn strip_numbering(text: &str) -> String {
    let mut t = text.replace("1. ", "");
    for n in 2..=5 {
        t = t.replace(&format!(". {n}. "), ". ");
    }
    for n in 2..=5 {
        t = t.replace(&format!(" {n}. "), ". ");
    }
    t
}

/// `[.,?;*!%^&_+():-\[\]{}]` with Python's reading: `:-\[` is the range U+003A..=U+005B.
fn in_r2gen_class(c: char) -> bool {
    matches!(
        c,
        '.' | ',' | '?' | ';' | '*' | '!' | '%' | '^' | '&' | '_' | '+' | '(' | ')'
    ) || (':'..='[').contains(&c)
        || matches!(c, ']' | '{' | '}')
}

/// R2GenGPT's `[.,?;*!%^&_+()\[\]{}]`.
fn in_r2gengpt_class(c: char) -> bool {
    matches!(
        c,
        '.' | ','
            | '?'
            | ';'
            | '*'
            | '!'
            | '%'
            | '^'
            | '&'
            | '_'
            | '+'
            | '('
            | ')'
            | '['
            | ']'
            | '{'
            | '}'
    )
}

fn clean_sentence(sentence: &str, in_class: fn(char) -> bool) -> String {
    let s: String = sentence
        .chars()
        .filter(|c| !matches!(c, '"' | '/' | '\\' | '\''))
        .collect();
    py_strip(&s)
        .to_lowercase()
        .chars()
        .filter(|&c| !in_class(c))
        .collect()
}

fn join_sentences(text: &str, in_class: fn(char) -> bool) -> String {
    let lowered = py_strip(text).to_lowercase();
    let sentences: Vec<String> = lowered
        .split(". ")
        .map(|s| clean_sentence(s, in_class))
        .collect();
    sentences.join(" . ") + " ."
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_quirk_removes_colon_and_keeps_hyphen() {
        assert_eq!(Cleaner::IuXray.clean("T-spine: <ok>"), "t-spine ok .");
        assert_eq!(
            Cleaner::R2GenGptMimic.clean("T-spine: ok"),
            "t-spine : ok ."
        );
    }

    #[test]
    fn empty_sentences_are_kept() {
        assert_eq!(Cleaner::IuXray.clean(""), " .");
        assert_eq!(Cleaner::IuXray.clean("a. . b"), "a .  . b .");
    }

    #[test]
    fn python_whitespace() {
        assert!(is_py_space('\u{1c}') && is_py_space('\u{a0}') && !is_py_space('\u{200b}'));
        assert_eq!(
            py_split_whitespace(" a\u{1f}b  c ").collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
    }
}
