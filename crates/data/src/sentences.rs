//! Sentences of a cleaned report, for stage-1 (image, sentence) contrastive pairs.

/// Splits a cleaned report (`"a b . c d ."`) into its non-empty sentences (`["a b", "c d"]`).
///
/// ```
/// assert_eq!(trrg_data::split_sentences("heart normal .  . no effusion ."), ["heart normal", "no effusion"]);
/// ```
pub fn split_sentences(cleaned: &str) -> Vec<&str> {
    cleaned
        .split(" .")
        .map(|s| s.trim_matches(trrg_clean::is_py_space))
        .filter(|s| !s.is_empty() && *s != ".")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Cleaner;

    #[test]
    fn sentences_of_cleaned_reports() {
        let cleaned = Cleaner::IuXray.clean("The heart is normal. No effusion. . Lungs clear.");
        assert_eq!(
            split_sentences(&cleaned),
            ["the heart is normal", "no effusion", "lungs clear"]
        );
        assert!(split_sentences(" .").is_empty());
    }
}
