//! The words every table between stages uses for a film's class and a prediction's outcome,
//! as enums: `NORMAL` / `PNEUMONIA` (the dataset's folder names) and `tp`, `tn`, `fp`, `fn`.
//! Pneumonia is the positive class throughout.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A film's class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Label {
    #[serde(rename = "NORMAL")]
    Normal,
    #[serde(rename = "PNEUMONIA")]
    Pneumonia,
}

impl Label {
    pub const ALL: [Label; 2] = [Label::Normal, Label::Pneumonia];

    pub fn as_str(self) -> &'static str {
        match self {
            Label::Normal => "NORMAL",
            Label::Pneumonia => "PNEUMONIA",
        }
    }

    /// The training target: 1 for pneumonia.
    pub fn target(self) -> f32 {
        match self {
            Label::Normal => 0.0,
            Label::Pneumonia => 1.0,
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Label {
    type Err = String;
    fn from_str(s: &str) -> Result<Label, String> {
        Label::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a label (NORMAL or PNEUMONIA)"))
    }
}

/// A prediction against its label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Tp,
    Tn,
    Fp,
    Fn,
}

impl Outcome {
    /// In the order the report and Grad-CAM list them.
    pub const ALL: [Outcome; 4] = [Outcome::Tp, Outcome::Tn, Outcome::Fp, Outcome::Fn];

    /// The outcome of calling a film pneumonia (`positive`) or not.
    pub fn of(positive: bool, label: Label) -> Outcome {
        match (positive, label) {
            (true, Label::Pneumonia) => Outcome::Tp,
            (false, Label::Normal) => Outcome::Tn,
            (true, Label::Normal) => Outcome::Fp,
            (false, Label::Pneumonia) => Outcome::Fn,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Tp => "tp",
            Outcome::Tn => "tn",
            Outcome::Fp => "fp",
            Outcome::Fn => "fn",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Outcome {
    type Err = String;
    fn from_str(s: &str) -> Result<Outcome, String> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not an outcome (tp, tn, fp or fn)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_through_text_and_serde() {
        for l in Label::ALL {
            assert_eq!(l.as_str().parse::<Label>().unwrap(), l);
            assert_eq!(serde_json::to_value(l).unwrap(), l.as_str());
        }
        for o in Outcome::ALL {
            assert_eq!(o.as_str().parse::<Outcome>().unwrap(), o);
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
        }
        assert!("pneumonia".parse::<Label>().is_err());
        assert_eq!(Outcome::of(true, Label::Normal), Outcome::Fp);
        assert_eq!(Outcome::of(false, Label::Pneumonia), Outcome::Fn);
    }
}
