//! What a synthetic study shows: findings with the attributes a report can state, sampled with
//! realistic co-occurrence.

use rand::seq::IndexedRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Patient side. Images are displayed as radiographs are: the patient's right is on the image's
/// left.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Patient's right (image left).
    Right,
    /// Patient's left (image right).
    Left,
}

impl Side {
    /// `right` / `left`.
    pub fn word(self) -> &'static str {
        match self {
            Side::Right => "right",
            Side::Left => "left",
        }
    }

    fn random(rng: &mut impl Rng) -> Self {
        if rng.random_bool(0.5) {
            Side::Right
        } else {
            Side::Left
        }
    }
}

/// Three-step size or severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Size {
    /// Small / mild.
    Small,
    /// Moderate.
    Moderate,
    /// Large / severe.
    Large,
}

impl Size {
    /// Adjective for effusions and pneumothoraces.
    pub fn word(self) -> &'static str {
        match self {
            Size::Small => "small",
            Size::Moderate => "moderate",
            Size::Large => "large",
        }
    }

    /// 0, 1 or 2.
    pub fn level(self) -> f32 {
        match self {
            Size::Small => 0.0,
            Size::Moderate => 1.0,
            Size::Large => 2.0,
        }
    }

    fn random(rng: &mut impl Rng, weights: [f64; 3]) -> Self {
        let total: f64 = weights.iter().sum();
        let mut x = rng.random::<f64>() * total;
        for (size, w) in [Size::Small, Size::Moderate, Size::Large]
            .into_iter()
            .zip(weights)
        {
            if x < w {
                return size;
            }
            x -= w;
        }
        Size::Large
    }
}

/// A lung zone, named as reports name lobes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lobe {
    /// Right upper lobe.
    RightUpper,
    /// Right middle lobe.
    RightMiddle,
    /// Right lower lobe.
    RightLower,
    /// Left upper lobe.
    LeftUpper,
    /// Left lower lobe.
    LeftLower,
}

impl Lobe {
    /// All lobes.
    pub const ALL: [Lobe; 5] = [
        Lobe::RightUpper,
        Lobe::RightMiddle,
        Lobe::RightLower,
        Lobe::LeftUpper,
        Lobe::LeftLower,
    ];

    /// `right upper lobe`, ...
    pub fn words(self) -> &'static str {
        match self {
            Lobe::RightUpper => "right upper lobe",
            Lobe::RightMiddle => "right middle lobe",
            Lobe::RightLower => "right lower lobe",
            Lobe::LeftUpper => "left upper lobe",
            Lobe::LeftLower => "left lower lobe",
        }
    }

    /// The side of the lobe.
    pub fn side(self) -> Side {
        match self {
            Lobe::RightUpper | Lobe::RightMiddle | Lobe::RightLower => Side::Right,
            Lobe::LeftUpper | Lobe::LeftLower => Side::Left,
        }
    }

    /// Vertical position within the lung, 0 = apex, 1 = base.
    pub fn height(self) -> f32 {
        match self {
            Lobe::RightUpper | Lobe::LeftUpper => 0.25,
            Lobe::RightMiddle => 0.62,
            Lobe::RightLower | Lobe::LeftLower => 0.8,
        }
    }
}

/// Lung lesion kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LesionKind {
    /// Under 3 cm.
    Nodule,
    /// 3 cm or more.
    Mass,
}

/// A support device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    /// Left chest wall pacemaker with leads.
    Pacemaker,
    /// Median sternotomy wires.
    SternotomyWires,
    /// Right internal jugular central venous catheter.
    CentralLine,
    /// Endotracheal tube.
    EndotrachealTube,
}

/// Everything a synthetic study shows. `None`/`false`/empty means absent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Findings {
    /// Cardiothoracic ratio (normal about 0.42-0.48; cardiomegaly > 0.55).
    pub cardiothoracic_ratio: f32,
    /// Widened upper mediastinum.
    pub enlarged_mediastinum: bool,
    /// Pleural effusion: side and size.
    pub effusion: Option<(Side, Size)>,
    /// Pneumothorax: side and size.
    pub pneumothorax: Option<(Side, Size)>,
    /// Dense lobar consolidation with air bronchograms.
    pub consolidation: Option<Lobe>,
    /// Patchy multifocal airspace disease reported as pneumonia.
    pub pneumonia: Option<Lobe>,
    /// Hazy lung opacity; `faint` ones are ambiguous by construction (reported with uncertainty).
    pub opacity: Option<(Lobe, bool)>,
    /// Bilateral perihilar haze with septal lines.
    pub edema: bool,
    /// Plate-like atelectasis at a base.
    pub atelectasis: Option<Side>,
    /// Nodule or mass: kind, lobe, size in cm.
    pub lesion: Option<(LesionKind, Lobe, f32)>,
    /// Apical pleural thickening.
    pub pleural_thickening: Option<Side>,
    /// Displaced lateral rib fracture.
    pub rib_fracture: Option<Side>,
    /// Support devices.
    pub devices: Vec<Device>,
    /// Calcified granuloma (incidental).
    pub granuloma: Option<Lobe>,
}

/// Cardiothoracic ratio above which the heart is reported enlarged.
pub const CARDIOMEGALY_CTR: f32 = 0.55;

impl Findings {
    /// Whether the heart is enlarged.
    pub fn cardiomegaly(&self) -> bool {
        self.cardiothoracic_ratio > CARDIOMEGALY_CTR
    }

    /// A heart at the upper limit of normal (cardiothoracic ratio 0.50-0.55): ambiguous by
    /// construction, reported as borderline.
    pub fn borderline_heart(&self) -> bool {
        self.cardiothoracic_ratio > 0.5 && !self.cardiomegaly()
    }

    /// Whether nothing at all is abnormal (devices and granulomas count as present).
    pub fn is_normal(&self) -> bool {
        !self.cardiomegaly()
            && !self.borderline_heart()
            && !self.enlarged_mediastinum
            && self.effusion.is_none()
            && self.pneumothorax.is_none()
            && self.consolidation.is_none()
            && self.pneumonia.is_none()
            && self.opacity.is_none()
            && !self.edema
            && self.atelectasis.is_none()
            && self.lesion.is_none()
            && self.pleural_thickening.is_none()
            && self.rib_fracture.is_none()
            && self.devices.is_empty()
            && self.granuloma.is_none()
    }

    /// Samples a study's findings. About `normal_fraction` of studies have none at all; the rest
    /// draw each finding with IU-like prevalence and the usual correlations (edema with an enlarged
    /// heart, effusion with edema, atelectasis with effusion, pacemakers with cardiomegaly).
    pub fn sample(rng: &mut impl Rng, normal_fraction: f64) -> Self {
        let normal_ctr = rng.random_range(0.40..0.49);
        if rng.random_bool(normal_fraction) {
            return Self {
                cardiothoracic_ratio: normal_ctr,
                ..Default::default()
            };
        }
        loop {
            let f = Self::sample_abnormal(rng, normal_ctr);
            if !f.is_normal() {
                return f;
            }
        }
    }

    /// Findings that show what a label set states, with random attributes (side, lobe, size).
    ///
    /// Used to pair real report text with an image that shows its labels. A positive label draws
    /// the finding; an uncertain one draws its ambiguous form where there is one (borderline heart
    /// for Cardiomegaly, a faint opacity for Pneumonia) and the finding otherwise; negative and
    /// blank labels draw nothing. Labels are CheXpert observation names; others are ignored.
    pub fn from_labels<'a>(
        labels: impl IntoIterator<Item = (&'a str, i8)>,
        rng: &mut impl Rng,
    ) -> Self {
        let mut f = Findings {
            cardiothoracic_ratio: rng.random_range(0.40..0.49),
            ..Default::default()
        };
        let lobe = |rng: &mut _| *Lobe::ALL.choose(rng).expect("non-empty");
        for (name, value) in labels {
            if value == 0 {
                continue;
            }
            let uncertain = value == -1;
            match name {
                "Cardiomegaly" if uncertain => {
                    f.cardiothoracic_ratio = rng.random_range(0.51..0.545)
                }
                "Cardiomegaly" => f.cardiothoracic_ratio = rng.random_range(0.58..0.68),
                "Enlarged Cardiomediastinum" => f.enlarged_mediastinum = true,
                "Pleural Effusion" => {
                    f.effusion = Some((Side::random(rng), Size::random(rng, [0.6, 0.3, 0.1])))
                }
                "Pneumothorax" => {
                    f.pneumothorax = Some((Side::random(rng), Size::random(rng, [0.7, 0.2, 0.1])))
                }
                "Consolidation" => f.consolidation = Some(lobe(rng)),
                "Pneumonia" if uncertain => f.opacity = Some((lobe(rng), true)),
                "Pneumonia" => f.pneumonia = Some(lobe(rng)),
                "Lung Opacity" if f.opacity.is_none() => f.opacity = Some((lobe(rng), false)),
                "Edema" => f.edema = true,
                "Atelectasis" => f.atelectasis = Some(Side::random(rng)),
                "Lung Lesion" => {
                    f.lesion = Some((
                        LesionKind::Nodule,
                        lobe(rng),
                        rng.random_range(8..=25) as f32 / 10.0,
                    ))
                }
                "Pleural Other" => f.pleural_thickening = Some(Side::random(rng)),
                "Fracture" => f.rib_fracture = Some(Side::random(rng)),
                "Support Devices" => f.devices.push(if rng.random_bool(0.5) {
                    Device::Pacemaker
                } else {
                    Device::SternotomyWires
                }),
                _ => {}
            }
        }
        f
    }

    fn sample_abnormal(rng: &mut impl Rng, normal_ctr: f32) -> Self {
        let mut f = Findings {
            cardiothoracic_ratio: normal_ctr,
            ..Default::default()
        };
        let cardiomegaly = rng.random_bool(0.3);
        if cardiomegaly {
            f.cardiothoracic_ratio = rng.random_range(0.58..0.68);
        } else if rng.random_bool(0.06) {
            f.cardiothoracic_ratio = rng.random_range(0.51..0.545);
        }
        f.enlarged_mediastinum = rng.random_bool(0.07);
        f.edema = rng.random_bool(if cardiomegaly { 0.3 } else { 0.05 });
        if rng.random_bool(if f.edema { 0.6 } else { 0.15 }) {
            let side = if f.edema && rng.random_bool(0.5) {
                Side::Right
            } else {
                Side::random(rng)
            };
            f.effusion = Some((side, Size::random(rng, [0.5, 0.35, 0.15])));
        }
        if rng.random_bool(if f.effusion.is_some() { 0.35 } else { 0.12 }) {
            f.atelectasis = Some(f.effusion.map_or_else(|| Side::random(rng), |(s, _)| s));
        }
        if rng.random_bool(0.05) {
            f.pneumothorax = Some((Side::random(rng), Size::random(rng, [0.6, 0.3, 0.1])));
        }
        let lobe = |rng: &mut _| *Lobe::ALL.choose(rng).expect("non-empty");
        if rng.random_bool(0.09) {
            f.consolidation = Some(lobe(rng));
        }
        if f.consolidation.is_none() && rng.random_bool(0.08) {
            f.pneumonia = Some(lobe(rng));
        }
        if rng.random_bool(0.10) {
            let l = lobe(rng);
            if f.consolidation != Some(l) && f.pneumonia != Some(l) {
                f.opacity = Some((l, rng.random_bool(0.4)));
            }
        }
        if rng.random_bool(0.08) {
            let kind = if rng.random_bool(0.75) {
                LesionKind::Nodule
            } else {
                LesionKind::Mass
            };
            let cm = match kind {
                LesionKind::Nodule => rng.random_range(8..=25) as f32 / 10.0,
                LesionKind::Mass => rng.random_range(30..=60) as f32 / 10.0,
            };
            f.lesion = Some((kind, lobe(rng), cm));
        }
        if rng.random_bool(0.06) {
            f.pleural_thickening = Some(Side::random(rng));
        }
        if rng.random_bool(0.05) {
            f.rib_fracture = Some(Side::random(rng));
        }
        if rng.random_bool(if cardiomegaly { 0.2 } else { 0.05 }) {
            f.devices.push(Device::Pacemaker);
        }
        if rng.random_bool(if cardiomegaly { 0.15 } else { 0.04 }) {
            f.devices.push(Device::SternotomyWires);
        }
        if rng.random_bool(0.04) {
            f.devices.push(Device::CentralLine);
        }
        if rng.random_bool(0.02) {
            f.devices.push(Device::EndotrachealTube);
        }
        if rng.random_bool(0.12) {
            f.granuloma = Some(lobe(rng));
        }
        f
    }
}
