//! The 14 CheXpert observations and the phrases that mention each.
//!
//! Phrase lists are trrg's own (regular expressions over lower-cased text, matched as in the
//! CheXpert labeler: substring patterns, so `opacit` matches opacity and opacities). A mention is
//! dropped when it overlaps an *unmention* of the same observation (e.g. "pericardial effusion" is
//! no pleural effusion).

/// The 14 CheXpert observations in CheXbert's order.
pub const CHEXPERT_OBSERVATIONS: [&str; 14] = [
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
    "No Finding",
];

/// Index of an observation in [`CHEXPERT_OBSERVATIONS`].
pub fn observation_index(name: &str) -> Option<usize> {
    CHEXPERT_OBSERVATIONS.iter().position(|o| *o == name)
}

/// `(observation, mention patterns, unmention patterns)` for the 13 observations with mentions.
pub(crate) const PHRASES: &[(&str, &[&str], &[&str])] = &[
    (
        "Enlarged Cardiomediastinum",
        &[
            r"cardiomediastin",
            r"mediastin\w*( \w+)? (contour|silhouette|width|widening)",
            r"\bmediastinum\b",
            r"widen\w* (of the )?(superior )?mediastin",
            r"hilar contour",
        ],
        &[
            r"pneumomediastinum",
            r"mediastinal (lymph|node|adenopathy|shift|mass)",
        ],
    ),
    (
        "Cardiomegaly",
        &[
            r"cardiomegaly",
            r"heart size",
            r"size of the heart",
            r"\bheart (is|appears|remains) (\w+ ){0,3}(size|enlarged|large|normal|upper|top)",
            r"cardiac (enlargement|size|shadow|contour|silhouette)",
            r"enlarge\w* (of the )?(heart|cardiac)",
            r"enlarged heart",
        ],
        &[r"cardiomediastin"],
    ),
    (
        "Lung Opacity",
        &[
            r"opacit",
            r"opacification",
            r"infiltrat",
            r"air ?space (disease|process|opacit)",
            r"\bhaz(y|iness)\b",
            r"\bdensit(y|ies)\b",
            r"reticular",
            r"ground[- ]glass",
            r"interstitial (marking|prominence|process|pattern|abnormalit)",
        ],
        &[
            r"bone densit",
            r"(soft tissue|breast) (density|densities|opacit)",
        ],
    ),
    (
        "Lung Lesion",
        &[
            r"nodul",
            r"\bmass(es)?\b",
            r"\blesion",
            r"\btumou?r",
            r"neoplasm",
            r"carcinoma",
            r"malignan",
            r"metasta",
        ],
        &[
            r"calcified nodul",
            r"granuloma",
            r"mass effect",
            r"soft tissue mass",
            r"bone lesion",
            r"(osseous|bony|lytic|sclerotic|blastic) lesion",
        ],
    ),
    (
        "Edema",
        &[
            r"edema",
            r"vascular congestion",
            r"pulmonary congestion",
            r"heart failure",
            r"\bchf\b",
            r"vascular (prominence|engorgement)",
            r"kerley",
        ],
        &[r"soft tissue edema", r"subcutaneous edema"],
    ),
    ("Consolidation", &[r"consolidat"], &[]),
    (
        "Pneumonia",
        &[r"pneumonia", r"infectio", r"pneumonitis", r"bronchopneumon"],
        &[],
    ),
    (
        "Atelectasis",
        &[
            r"atelecta",
            r"(lobe|lobar|lung) collapse",
            r"collapse of the",
        ],
        &[r"vertebra\w* collapse", r"compression"],
    ),
    ("Pneumothorax", &[r"pneumothora"], &[]),
    (
        "Pleural Effusion",
        &[
            r"effusion",
            r"pleural fluid",
            r"hydropneumothorax",
            r"hydrothorax",
        ],
        &[
            r"pericardial effusion",
            r"joint effusion",
            r"effusion (in|of) the (knee|joint|shoulder)",
        ],
    ),
    (
        "Pleural Other",
        &[
            r"pleural thicken",
            r"pleural scar",
            r"pleural plaque",
            r"pleural calcifi",
            r"fibrothorax",
            r"pleural reaction",
            r"apical (cap|thickening|scar)",
        ],
        &[],
    ),
    ("Fracture", &[r"fractur", r"\bfx\b"], &[]),
    (
        "Support Devices",
        &[
            r"pacemaker",
            r"\bpacer",
            r"\b(aicd|icd)\b",
            r"defibrillator",
            r"sternotomy",
            r"sternal wire",
            r"\bwires?\b",
            r"catheter",
            r"central (venous )?line",
            r"\bpicc\b",
            r"port-?a-?cath",
            r"\b(endotracheal|et|nasogastric|ng|orogastric|og|feeding|chest|tracheostomy|enteric) tube",
            r"\btubes?\b",
            r"\bdrain\b",
            r"\bstents?\b",
            r"\bclips?\b",
            r"prosthe",
            r"valve replacement",
            r"\bhardware\b",
            r"\bdevice",
            r"\bleads?\b",
            r"swan[- ]ganz",
        ],
        &[
            r"\bbronch\w* tube",
            r"\bleads? to\b",
            r"which (may )?leads?",
        ],
    ),
];

/// Other abnormalities: a positive or uncertain mention keeps No Finding blank (CheXpert's
/// `no_finding` list plays this role), though they have no column of their own.
pub(crate) const OTHER_FINDINGS: &[&str] = &[
    r"granuloma",
    r"emphysema",
    r"hyperinfla",
    r"hyperexpan",
    r"\bcopd\b",
    r"scoliosis",
    r"kyphosis",
    r"degenerative",
    r"spondylo",
    r"osteophyt",
    r"osteopeni",
    r"calcifi",
    r"tortuous",
    r"ectatic",
    r"ectasia",
    r"aneurysm",
    r"hernia",
    r"\bscar",
    r"fibrosis",
    r"fibrotic",
    r"bronchiectasis",
    r"cyst",
    r"eventration",
    r"elevat\w* (of the )?(right |left )?hemidiaphragm",
    r"hemidiaphragm (is )?elevat",
    r"deformit",
    r"thickening",
    r"adenopathy",
    r"lymphadenopathy",
    r"bulla",
    r"bleb",
    r"cardiac surgery",
];
