//! IU-Xray-style findings text that states exactly what a study shows, and the CheXpert labels
//! that follow from what it states.
//!
//! A report is a list of [`Statement`]s, each a sentence with the observations it asserts (1),
//! negates (0) or leaves uncertain (-1). Positive statements are made only for findings that are
//! rendered; negations only for findings that are absent; uncertainty only where the image is
//! ambiguous by construction (a faint opacity, a borderline heart). Labels aggregate as the
//! CheXpert labeler does: positive beats uncertain beats negative; an unmentioned observation is
//! blank; No Finding is 1 when nothing but support devices is positive or uncertain and there is
//! no incidental finding (a granuloma), and blank otherwise.

use std::collections::BTreeMap;

use rand::seq::IndexedRandom;
use rand::Rng;

use crate::findings::{Device, Findings, LesionKind, Size};

/// One sentence and the labels it asserts.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    /// The sentence, with its final period.
    pub text: String,
    /// `(observation, 1 | 0 | -1)` pairs.
    pub labels: Vec<(&'static str, i8)>,
}

/// Labels of one study: observation name -> 1 / 0 / -1 / blank (`None`).
pub type StudyLabels = BTreeMap<String, Option<i8>>;

fn pick<'a>(rng: &mut impl Rng, options: &[&'a str]) -> &'a str {
    options.choose(rng).copied().unwrap_or_default()
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next().map_or_else(String::new, |f| {
        f.to_uppercase().collect::<String>() + c.as_str()
    })
}

fn say(text: String, labels: &[(&'static str, i8)]) -> Statement {
    let mut text = capitalize(text.trim());
    if !text.ends_with('.') {
        text.push('.');
    }
    Statement {
        text,
        labels: labels.to_vec(),
    }
}

/// The statements of a report about `f`, in reading order.
pub fn statements(f: &Findings, rng: &mut impl Rng) -> Vec<Statement> {
    let mut heart = Vec::new();
    let mut lungs = Vec::new();
    let mut pleura = Vec::new();
    let mut devices = Vec::new();
    let mut bones = Vec::new();

    // Heart and mediastinum.
    let mediastinum_normal = !f.enlarged_mediastinum && rng.random_bool(0.7);
    if f.cardiomegaly() {
        let degree = if f.cardiothoracic_ratio < 0.62 {
            "mild"
        } else {
            "moderate"
        };
        let text = match rng.random_range(0..3) {
            0 => format!("{} cardiomegaly", capitalize(degree)),
            1 => format!("the heart is {degree}ly enlarged"),
            _ => format!("the cardiac silhouette is {degree}ly enlarged"),
        };
        heart.push(say(text, &[("Cardiomegaly", 1)]));
    } else if f.borderline_heart() {
        let text = pick(
            rng,
            &[
                "borderline cardiomegaly",
                "the heart size is borderline enlarged",
            ],
        );
        heart.push(say(text.into(), &[("Cardiomegaly", -1)]));
    } else if mediastinum_normal && rng.random_bool(0.35) {
        let text = pick(
            rng,
            &[
                "heart size and mediastinal contour are normal",
                "the heart size and mediastinal contour are within normal limits",
            ],
        );
        heart.push(say(
            text.into(),
            &[("Cardiomegaly", 0), ("Enlarged Cardiomediastinum", 0)],
        ));
    } else if rng.random_bool(0.9) {
        let text = pick(
            rng,
            &[
                "the heart is normal in size",
                "heart size is normal",
                "the cardiac silhouette is within normal limits",
                "normal heart size",
            ],
        );
        heart.push(say(text.into(), &[("Cardiomegaly", 0)]));
    }
    if f.enlarged_mediastinum {
        let text = pick(
            rng,
            &[
                "the mediastinum is widened",
                "widened mediastinal contour",
                "the superior mediastinum is enlarged",
            ],
        );
        heart.push(say(text.into(), &[("Enlarged Cardiomediastinum", 1)]));
    } else if mediastinum_normal
        && !heart
            .iter()
            .any(|s| s.labels.iter().any(|l| l.0 == "Enlarged Cardiomediastinum"))
    {
        let text = pick(
            rng,
            &[
                "the mediastinum is unremarkable",
                "normal mediastinal contour",
                "the mediastinal contours are within normal limits",
            ],
        );
        heart.push(say(text.into(), &[("Enlarged Cardiomediastinum", 0)]));
    }

    // Lungs.
    let parenchyma_clear = f.consolidation.is_none()
        && f.pneumonia.is_none()
        && f.opacity.is_none()
        && !f.edema
        && f.atelectasis.is_none()
        && f.lesion.is_none();
    if parenchyma_clear {
        let text = pick(
            rng,
            &[
                "the lungs are clear",
                "lungs are clear bilaterally",
                "the lungs are clear without focal airspace disease",
            ],
        );
        // Only the last phrasing mentions (and negates) an observation.
        let labels: &[(&str, i8)] = if text.contains("airspace disease") {
            &[("Lung Opacity", 0)]
        } else {
            &[]
        };
        lungs.push(say(text.into(), labels));
        if rng.random_bool(0.35) {
            lungs.push(say(
                pick(
                    rng,
                    &["no focal consolidation", "there is no focal consolidation"],
                )
                .into(),
                &[("Consolidation", 0)],
            ));
        }
    }
    if let Some(lobe) = f.consolidation {
        let text = match rng.random_range(0..3) {
            0 => format!(
                "there is consolidation in the {} with air bronchograms",
                lobe.words()
            ),
            1 => format!("focal consolidation in the {}", lobe.words()),
            _ => format!("{} consolidation", lobe.words()),
        };
        lungs.push(say(text, &[("Consolidation", 1)]));
    } else if !parenchyma_clear && rng.random_bool(0.3) {
        lungs.push(say(
            "no focal consolidation".into(),
            &[("Consolidation", 0)],
        ));
    }
    if let Some(lobe) = f.pneumonia {
        let text = match rng.random_range(0..2) {
            0 => format!(
                "patchy infiltrates in the {} consistent with pneumonia",
                lobe.words()
            ),
            _ => format!(
                "patchy {} infiltrates compatible with pneumonia",
                lobe.words()
            ),
        };
        lungs.push(say(text, &[("Lung Opacity", 1), ("Pneumonia", 1)]));
    }
    if let Some((lobe, faint)) = f.opacity {
        if faint {
            let text = format!(
                "subtle opacity in the {} which may represent early pneumonia",
                lobe.words()
            );
            lungs.push(say(text, &[("Lung Opacity", 1), ("Pneumonia", -1)]));
        } else {
            let text = match rng.random_range(0..2) {
                0 => format!("there is a hazy opacity in the {}", lobe.words()),
                _ => format!("hazy {} opacity", lobe.words()),
            };
            lungs.push(say(text, &[("Lung Opacity", 1)]));
        }
    }
    if f.edema {
        let text = pick(
            rng,
            &[
                "findings consistent with pulmonary edema",
                "there is interstitial pulmonary edema with septal lines",
                "perihilar interstitial edema",
            ],
        );
        lungs.push(say(text.into(), &[("Edema", 1)]));
    } else if (f.cardiomegaly() || f.effusion.is_some()) && rng.random_bool(0.6)
        || rng.random_bool(0.1)
    {
        lungs.push(say(
            pick(rng, &["no pulmonary edema", "there is no pulmonary edema"]).into(),
            &[("Edema", 0)],
        ));
    }
    if let Some(side) = f.atelectasis {
        let text = match rng.random_range(0..3) {
            0 => format!("plate-like atelectasis at the {} base", side.word()),
            1 => format!("subsegmental atelectasis in the {} lung base", side.word()),
            _ => format!("{} basilar atelectasis", side.word()),
        };
        lungs.push(say(text, &[("Atelectasis", 1)]));
    }
    if let Some((kind, lobe, cm)) = f.lesion {
        let text = match (kind, rng.random_range(0..2)) {
            (LesionKind::Nodule, 0) => {
                format!("there is a {cm:.1} cm nodule in the {}", lobe.words())
            }
            (LesionKind::Nodule, _) => format!(
                "a {cm:.1} cm pulmonary nodule is seen in the {}",
                lobe.words()
            ),
            (LesionKind::Mass, _) => format!("{cm:.1} cm mass in the {}", lobe.words()),
        };
        lungs.push(say(text, &[("Lung Lesion", 1)]));
    }
    if f.lesion.is_none() && rng.random_bool(0.1) {
        lungs.push(say(
            pick(
                rng,
                &[
                    "no suspicious pulmonary nodules",
                    "no pulmonary nodules or masses",
                ],
            )
            .into(),
            &[("Lung Lesion", 0)],
        ));
    }
    if f.pneumonia.is_none() && f.opacity.is_none() && rng.random_bool(0.08) {
        lungs.push(say(
            pick(rng, &["no evidence of pneumonia", "no focal pneumonia"]).into(),
            &[("Pneumonia", 0)],
        ));
    }
    if let Some(lobe) = f.granuloma {
        let text = match rng.random_range(0..2) {
            0 => format!("calcified granuloma in the {}", lobe.words()),
            _ => format!("there is a calcified granuloma in the {}", lobe.words()),
        };
        lungs.push(say(text, &[]));
    }

    // Pleura.
    pleura.extend(pleural_statements(f, rng));

    // Devices.
    for device in &f.devices {
        let text = match device {
            Device::Pacemaker => pick(rng, &["left chest wall pacemaker with leads in the right atrium and right ventricle", "a left-sided pacemaker is present with leads in the right heart"]),
            Device::SternotomyWires => pick(rng, &["median sternotomy wires are present", "postoperative changes of median sternotomy with intact sternal wires"]),
            Device::CentralLine => pick(rng, &["right internal jugular central venous catheter with tip in the superior vena cava", "a right central venous catheter terminates in the superior vena cava"]),
            Device::EndotrachealTube => pick(rng, &["endotracheal tube in place with tip above the carina", "the endotracheal tube terminates above the carina"]),
        };
        devices.push(say(text.into(), &[("Support Devices", 1)]));
    }

    // Bones.
    if let Some(side) = f.rib_fracture {
        let text = match rng.random_range(0..2) {
            0 => format!("displaced fracture of a {} lateral rib", side.word()),
            _ => format!("acute {} rib fracture", side.word()),
        };
        bones.push(say(text, &[("Fracture", 1)]));
    } else if rng.random_bool(0.5) {
        let text = pick(rng, &["no displaced rib fractures", "no acute fracture"]);
        bones.push(say(text.into(), &[("Fracture", 0)]));
    } else if rng.random_bool(0.5) {
        bones.push(say(
            pick(
                rng,
                &[
                    "no acute bony abnormality",
                    "the osseous structures are intact",
                ],
            )
            .into(),
            &[],
        ));
    }

    let mut order = vec![heart, lungs, pleura, devices, bones];
    if rng.random_bool(0.25) {
        order.swap(1, 2);
    }
    if rng.random_bool(0.3) {
        let devices = order.remove(3);
        order.insert(0, devices);
    }
    order.into_iter().flatten().collect()
}

fn pleural_statements(f: &Findings, rng: &mut impl Rng) -> Vec<Statement> {
    let mut out = Vec::new();
    if let Some((side, size)) = f.effusion {
        let text = match (size, rng.random_range(0..3)) {
            (Size::Small, 0) => format!(
                "blunting of the {} costophrenic angle consistent with a small pleural effusion",
                side.word()
            ),
            (_, 1) => format!(
                "there is a {} {} pleural effusion",
                size.word(),
                side.word()
            ),
            _ => format!("{} {} pleural effusion", size.word(), side.word()),
        };
        out.push(say(text, &[("Pleural Effusion", 1)]));
    }
    if let Some((side, size)) = f.pneumothorax {
        let text = match rng.random_range(0..2) {
            0 => format!("there is a {} {} pneumothorax", size.word(), side.word()),
            _ => format!("{} {} apical pneumothorax", size.word(), side.word()),
        };
        out.push(say(text, &[("Pneumothorax", 1)]));
    }
    match (f.effusion.is_some(), f.pneumothorax.is_some()) {
        (false, false) => {
            if rng.random_bool(0.9) {
                let text = pick(
                    rng,
                    &[
                        "no pleural effusion or pneumothorax",
                        "no pneumothorax or pleural effusion",
                        "there is no pleural effusion or pneumothorax",
                    ],
                );
                out.push(say(
                    text.into(),
                    &[("Pleural Effusion", 0), ("Pneumothorax", 0)],
                ));
            }
        }
        (true, false) => out.push(say(
            pick(rng, &["no pneumothorax", "there is no pneumothorax"]).into(),
            &[("Pneumothorax", 0)],
        )),
        (false, true) => out.push(say(
            pick(
                rng,
                &["no pleural effusion", "there is no pleural effusion"],
            )
            .into(),
            &[("Pleural Effusion", 0)],
        )),
        (true, true) => {}
    }
    if let Some(side) = f.pleural_thickening {
        let text = match rng.random_range(0..2) {
            0 => format!("{} apical pleural thickening", side.word()),
            _ => format!("there is mild {} apical pleural thickening", side.word()),
        };
        out.push(say(text, &[("Pleural Other", 1)]));
    }
    out
}

/// Joins statements into report text.
pub fn report_text(statements: &[Statement]) -> String {
    statements
        .iter()
        .map(|s| s.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// CheXpert-style aggregation of the statements' labels, with the No Finding rule.
pub fn aggregate_labels(statements: &[Statement], findings: &Findings) -> StudyLabels {
    let mut labels: StudyLabels = BTreeMap::new();
    for (name, value) in statements.iter().flat_map(|s| s.labels.iter()) {
        let slot = labels.entry(name.to_string()).or_insert(Some(*value));
        let current = slot.unwrap_or(0);
        let rank = |v: i8| match v {
            1 => 2,
            -1 => 1,
            _ => 0,
        };
        if rank(*value) > rank(current) {
            *slot = Some(*value);
        }
    }
    let abnormal = labels
        .iter()
        .any(|(name, v)| name != "Support Devices" && matches!(v, Some(1) | Some(-1)));
    let no_finding = if abnormal || findings.granuloma.is_some() {
        None
    } else {
        Some(1)
    };
    labels.insert("No Finding".into(), no_finding);
    labels.retain(|_, v| v.is_some());
    labels
}
