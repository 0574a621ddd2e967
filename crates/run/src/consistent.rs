//! Choosing among beam search's best reports the one that states the hard clue decisions
//! (`eval.clue_rerank`).

use trrg_kernels::TrrgOps;
use trrg_labeler::Labeler;
use trrg_model::{ClueBank, Generation};
use trrg_tokenize::ReportTokenizer;

/// The text of `g`'s report: with alternatives and hard clues, the first of its hypotheses
/// (best beam first) whose labels disagree with the fewest of the bank's decisions on
/// `g`'s clue probabilities ([`most_consistent`]); otherwise its best.
pub fn report_text<B: TrrgOps>(
    g: &Generation,
    bank: Option<&ClueBank<B>>,
    labeler: &Labeler,
    tokenizer: &dyn ReportTokenizer,
) -> trrg_tokenize::Result<String> {
    let hard = bank
        .filter(|_| !g.alternatives.is_empty())
        .and_then(|b| Some((b.decide(&g.clue_probabilities)?, b)));
    let Some((decisions, bank)) = hard else {
        return tokenizer.decode(&g.ids);
    };
    let mut texts = vec![tokenizer.decode(&g.ids)?];
    for ids in &g.alternatives {
        texts.push(tokenizer.decode(ids)?);
    }
    let pick = most_consistent(labeler, &texts, &decisions, &bank.label_columns);
    Ok(texts.swap_remove(pick))
}

/// Index of the report among `texts` whose labels disagree with the fewest `decisions`: a
/// clue whose disease is CheXpert observation `label_columns[d]` disagrees when it is on and
/// the report does not state the observation (label 1, as the r2gen convention counts), or
/// off and the report states it. Ties go to the earlier text.
pub fn most_consistent(
    labeler: &Labeler,
    texts: &[String],
    decisions: &[bool],
    label_columns: &[Option<usize>],
) -> usize {
    let disagreements = |text: &str| {
        let labels = labeler.label(text);
        decisions
            .iter()
            .zip(label_columns)
            .filter(|(on, column)| column.is_some_and(|c| (labels[c] == Some(1)) != **on))
            .count()
    };
    (0..texts.len())
        .min_by_key(|&i| (disagreements(&texts[i]), i))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_report_that_states_the_decisions_wins() {
        let labeler = Labeler::new();
        let texts: Vec<String> = [
            "the heart is normal in size . the lungs are clear .",
            "the heart is enlarged . the lungs are clear .",
            "the heart is enlarged . there is a small right pleural effusion .",
            "cardiomegaly . small right pleural effusion .",
        ]
        .map(String::from)
        .into();
        // Cardiomegaly (column 1) on, Pleural Effusion (column 9) on, No Finding (13) off.
        let columns = [Some(1), Some(9), Some(13), None];
        let on = [true, true, false, true];
        assert_eq!(most_consistent(&labeler, &texts, &on, &columns), 2);
        // Only Cardiomegaly on: the second report; every clue off: the first.
        let on = [true, false, false, false];
        assert_eq!(most_consistent(&labeler, &texts, &on, &columns), 1);
        let off = [false, false, true, false];
        assert_eq!(most_consistent(&labeler, &texts, &off, &columns), 0);
    }
}
