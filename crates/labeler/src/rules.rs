//! Negation and uncertainty: NegEx-style surface rules in place of CheXpert's dependency parse.
//!
//! A mention is classified inside its *clause* (the sentence cut at `;`, `:` and words such as
//! "but", "however", "although", "which", "except", "with"), in CheXpert's priority order:
//!
//! 1. pre-negation uncertainty — "cannot exclude X", "X is not excluded", "rule out X",
//!    "borderline"/"upper limits of normal"/"top normal" -> uncertain;
//! 2. negation — a trigger before the mention ("no", "not", "without", "free of", "negative for",
//!    "absence of", "resolution of"; "normal" up to three words before, as in "normal heart
//!    size") or after it ("is not seen", "absent", "resolved", "normal", "unremarkable", "within
//!    normal limits", "clear") -> negative; lists share a trigger ("no X, Y or Z");
//! 3. uncertainty — "may", "possible", "probable", "likely", "suggest", "suspicious for",
//!    "concerning for", "questionable", "versus", "could", "differential" before, "is suspected",
//!    "is possible", "?" after; and an unchanged heart or mediastinum ("heart size is stable")
//!    -> uncertain;
//! 4. otherwise positive.
//!
//! This is an approximation of the CheXpert labeler, not CheXpert itself; its accuracy on a
//! hand-labeled set is in `docs/metrics.md`.

use regex::Regex;

/// A mention's label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Label {
    /// The observation is present (1).
    Positive,
    /// The observation is absent (0).
    Negative,
    /// The report is uncertain about it (-1).
    Uncertain,
}

impl Label {
    /// CheXpert's numeric code: 1, 0 or -1.
    pub fn code(self) -> i8 {
        match self {
            Label::Positive => 1,
            Label::Negative => 0,
            Label::Uncertain => -1,
        }
    }

    /// Priority when one report mentions an observation several times: positive beats
    /// uncertain beats negative (CheXpert's aggregation).
    pub fn priority(self) -> u8 {
        match self {
            Label::Positive => 2,
            Label::Uncertain => 1,
            Label::Negative => 0,
        }
    }
}

pub(crate) struct Rules {
    terminator: Regex,
    pre_negation_uncertainty: Regex,
    post_negation_uncertainty: Regex,
    negation_before: Regex,
    normal_before: Regex,
    negation_after: Regex,
    uncertainty_before: Regex,
    uncertainty_after: Regex,
    unchanged: Regex,
    explicit_enlargement: Regex,
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("the labeler's built-in patterns are valid")
}

impl Rules {
    pub(crate) fn new() -> Self {
        Self {
            terminator: re(
                r";|:|\b(but|however|although|though|except|aside from|apart from|which|whereas|while|with|there (is|are))\b",
            ),
            pre_negation_uncertainty: re(
                r"\b(can ?not|could not|cannot be|unable to) (be )?(entirely |completely |definitely )?(exclude|rule|ruled|excluded|assess)|\brule[sd]? out\b|\br/o\b|\bborderline\b|\b(upper limits?|top|high)[- ]?(of )?normal\b|\bevaluat\w* for\b",
            ),
            post_negation_uncertainty: re(
                r"\b(not|cannot be|can not be) (be )?(entirely |completely )?(excluded|ruled out)\b",
            ),
            negation_before: re(
                r"\b(no|not|without|nor|free of|negative for|absence of|resolution of|resolved|clear of|removal of|removed)\b",
            ),
            normal_before: re(r"\bnormal( \w+){0,2} *$"),
            negation_after: re(
                r"\b(not (seen|identified|present|visualized|demonstrated|enlarged|widened|noted|evident|appreciated|detected)|absent|resolved|cleared|removed|normal|normally|unremarkable|within normal limits|wnl|clear|negative|no longer)\b",
            ),
            uncertainty_before: re(
                r"\b(may|might|possib\w*|probab\w*|likely|suggest\w*|suspicious|suspect\w*|concern\w*|worrisome|questionabl\w*|question of|equivocal|could|differential|versus|vs|presum\w*|cannot|can not|atypical for)\b",
            ),
            uncertainty_after: re(
                r"\b(is |are )?(suspected|suggested|questioned|possible|likely|a consideration|not excluded)\b|\b(may|might|could) be\b|\?",
            ),
            unchanged: re(r"\b(stable|unchanged|similar|again seen|persistent)\b"),
            explicit_enlargement: re(r"cardiomegaly|enlarg|widen|large|prominen"),
        }
    }

    /// Classifies the mention `sentence[start..end]` of `observation`.
    pub(crate) fn classify(
        &self,
        sentence: &str,
        start: usize,
        end: usize,
        observation: &str,
    ) -> Label {
        // The clause: from the last terminator before the mention to the first one after it.
        let clause_start = self
            .terminator
            .find_iter(&sentence[..start])
            .last()
            .map_or(0, |m| m.end());
        let clause_end = self
            .terminator
            .find_iter(&sentence[end..])
            .next()
            .map_or(sentence.len(), |m| end + m.start());
        let before = &sentence[clause_start..end];
        let after = &sentence[start..clause_end];

        if self.pre_negation_uncertainty.is_match(before)
            || self.pre_negation_uncertainty.is_match(after)
            || self.post_negation_uncertainty.is_match(after)
        {
            return Label::Uncertain;
        }
        if self.negation_before.is_match(before)
            || self.normal_before.is_match(&sentence[clause_start..start])
            || self.negation_after.is_match(after)
        {
            return Label::Negative;
        }
        if self.uncertainty_before.is_match(before) || self.uncertainty_after.is_match(after) {
            return Label::Uncertain;
        }
        let neutral_heart = matches!(observation, "Cardiomegaly" | "Enlarged Cardiomediastinum")
            && !self.explicit_enlargement.is_match(after);
        if neutral_heart && self.unchanged.is_match(after) {
            return Label::Uncertain;
        }
        Label::Positive
    }
}
