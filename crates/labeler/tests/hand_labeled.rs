//! trrg-labeler against hand-labeled sentences and reports (`tests/fixtures/hand_labeled.txt`).

use trrg_labeler::{Labeler, CHEXPERT_OBSERVATIONS};

const CODES: [(&str, &str); 14] = [
    ("ECM", "Enlarged Cardiomediastinum"),
    ("CM", "Cardiomegaly"),
    ("LO", "Lung Opacity"),
    ("LL", "Lung Lesion"),
    ("ED", "Edema"),
    ("CO", "Consolidation"),
    ("PNA", "Pneumonia"),
    ("AT", "Atelectasis"),
    ("PTX", "Pneumothorax"),
    ("PE", "Pleural Effusion"),
    ("PO", "Pleural Other"),
    ("FX", "Fracture"),
    ("SD", "Support Devices"),
    ("NF", "No Finding"),
];

fn parse(line: &str) -> ([Option<i8>; 14], &str) {
    let (labels, text) = line.split_once('|').expect("LABELS | TEXT");
    let mut expected = [None; 14];
    for item in labels.split_whitespace() {
        let (code, value) = item.split_once('=').expect("CODE=VALUE");
        let name = CODES
            .iter()
            .find(|(c, _)| *c == code)
            .unwrap_or_else(|| panic!("unknown code {code}"))
            .1;
        let index = CHEXPERT_OBSERVATIONS
            .iter()
            .position(|o| *o == name)
            .unwrap();
        expected[index] = Some(value.parse().unwrap());
    }
    (expected, text.trim())
}

#[test]
fn hand_labeled_set_accuracy_is_at_least_95_percent() {
    let labeler = Labeler::new();
    let fixture = include_str!("fixtures/hand_labeled.txt");
    let items: Vec<_> = fixture
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(parse)
        .collect();
    assert!(items.len() >= 150, "{} items", items.len());
    // Per observation: over the items where the expected or the predicted label is not blank.
    let mut right = [0usize; 14];
    let mut total = [0usize; 14];
    let mut errors = Vec::new();
    for (expected, text) in &items {
        let got = labeler.label(text);
        for i in 0..14 {
            if expected[i].is_none() && got[i].is_none() {
                continue;
            }
            total[i] += 1;
            if expected[i] == got[i] {
                right[i] += 1;
            } else {
                errors.push(format!(
                    "{}: expected {:?}, got {:?} in {text:?}",
                    CHEXPERT_OBSERVATIONS[i], expected[i], got[i]
                ));
            }
        }
    }
    println!(
        "trrg-labeler on {} hand-labeled items (cells where expected or predicted is non-blank):",
        items.len()
    );
    println!("| observation | correct / cells | accuracy |");
    println!("|---|---|---|");
    for i in 0..14 {
        println!(
            "| {} | {} / {} | {:.1} % |",
            CHEXPERT_OBSERVATIONS[i],
            right[i],
            total[i],
            100.0 * right[i] as f64 / total[i].max(1) as f64
        );
    }
    let (r, t): (usize, usize) = (right.iter().sum(), total.iter().sum());
    let overall = r as f64 / t as f64;
    println!("| **overall** | {r} / {t} | {:.1} % |", 100.0 * overall);
    for e in &errors {
        println!("miss: {e}");
    }
    assert!(
        overall >= 0.95,
        "overall accuracy {overall:.3} < 0.95; misses:\n{}",
        errors.join("\n")
    );
    assert!(
        total.iter().all(|&t| t >= 5),
        "every observation is exercised: {total:?}"
    );
}
