//! The words every table between stages uses for a film's class and a prediction's outcome,
//! as enums: `NORMAL` / `PNEUMONIA` (the dataset's folder names) and `tp`, `tn`, `fp`, `fn`.
//! Pneumonia is the positive class throughout.

use serde::{Deserialize, Serialize};

use crate::choices::choice;

choice!(
    /// A film's class.
    Label { Normal = "NORMAL", Pneumonia = "PNEUMONIA" }
);

impl Label {
    /// The training target: 1 for pneumonia.
    pub fn target(self) -> f32 {
        match self {
            Label::Normal => 0.0,
            Label::Pneumonia => 1.0,
        }
    }
}

choice!(
    /// A prediction against its label.
    Outcome { Tp = "tp", Tn = "tn", Fp = "fp", Fn = "fn" }
);

impl Outcome {
    /// In the order the report and Grad-CAM list them.
    pub const EACH: [Outcome; 4] = [Outcome::Tp, Outcome::Tn, Outcome::Fp, Outcome::Fn];

    /// The outcome of calling a film pneumonia (`positive`) or not.
    pub fn of(positive: bool, label: Label) -> Outcome {
        match (positive, label) {
            (true, Label::Pneumonia) => Outcome::Tp,
            (false, Label::Normal) => Outcome::Tn,
            (true, Label::Normal) => Outcome::Fp,
            (false, Label::Pneumonia) => Outcome::Fn,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_through_text_and_serde() {
        for l in [Label::Normal, Label::Pneumonia] {
            assert_eq!(l.as_str().parse::<Label>().unwrap(), l);
            assert_eq!(serde_json::to_value(l).unwrap(), l.as_str());
        }
        for o in Outcome::EACH {
            assert_eq!(o.as_str().parse::<Outcome>().unwrap(), o);
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
        }
        assert!("pneumonia".parse::<Label>().is_err());
        assert_eq!(Outcome::of(true, Label::Normal), Outcome::Fp);
        assert_eq!(Outcome::of(false, Label::Pneumonia), Outcome::Fn);
    }
}
