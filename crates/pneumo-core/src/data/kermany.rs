//! Patient ids and pneumonia subtypes from Kermany file names.
//!
//! `person<N>_bacteria_<k>.jpeg` / `person<N>_virus_<k>.jpeg` are pneumonia (one patient can
//! have both); `IM-<N>-<k>[-<j>].jpeg` and `NORMAL2-IM-<N>-<k>[-<j>].jpeg` are normal.

/// Pneumonia subtype from the file name, or `normal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subtype {
    Normal,
    Bacteria,
    Virus,
    Unknown,
}

impl Subtype {
    pub fn as_str(self) -> &'static str {
        match self {
            Subtype::Normal => "normal",
            Subtype::Bacteria => "bacteria",
            Subtype::Virus => "virus",
            Subtype::Unknown => "unknown",
        }
    }
}

/// What a file name says about its patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameInfo {
    /// `person123`, `IM-0115` or `NORMAL2-IM-1427`; the file stem when the name is unknown.
    pub patient: String,
    pub subtype: Subtype,
}

/// Parses a Kermany file name (no folders). `label` is the class folder, used only to
/// tell a normal film with an unfamiliar name from a pneumonia one.
pub fn parse_name(file_name: &str, label: Option<&str>) -> NameInfo {
    let stem = file_name.rsplit_once('.').map_or(file_name, |(s, _)| s);
    if let Some(rest) = stem.strip_prefix("person") {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let after = &rest[digits.len()..];
        if !digits.is_empty() {
            let subtype = if after.starts_with("_bacteria") {
                Subtype::Bacteria
            } else if after.starts_with("_virus") {
                Subtype::Virus
            } else {
                Subtype::Unknown
            };
            return NameInfo {
                patient: format!("person{digits}"),
                subtype,
            };
        }
    }
    let (prefix, rest) = match stem.strip_prefix("NORMAL2-") {
        Some(rest) => ("NORMAL2-", rest),
        None => ("", stem),
    };
    if let Some(num) = rest.strip_prefix("IM-").and_then(|r| r.split('-').next())
        && !num.is_empty()
        && num.chars().all(|c| c.is_ascii_digit())
    {
        return NameInfo {
            patient: format!("{prefix}IM-{num}"),
            subtype: Subtype::Normal,
        };
    }
    NameInfo {
        patient: stem.to_string(),
        subtype: if label == Some("NORMAL") {
            Subtype::Normal
        } else {
            Subtype::Unknown
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kermany_pattern() {
        let cases = [
            (
                "person1000_bacteria_2931.jpeg",
                "person1000",
                Subtype::Bacteria,
            ),
            ("person1000_virus_1681.jpeg", "person1000", Subtype::Virus),
            ("person1_virus_11_2.jpeg", "person1", Subtype::Virus),
            ("IM-0115-0001.jpeg", "IM-0115", Subtype::Normal),
            ("IM-0117-0001-0002.jpeg", "IM-0117", Subtype::Normal),
            (
                "NORMAL2-IM-1427-0001.jpeg",
                "NORMAL2-IM-1427",
                Subtype::Normal,
            ),
            (
                "NORMAL2-IM-0381-0001-0002.jpeg",
                "NORMAL2-IM-0381",
                Subtype::Normal,
            ),
        ];
        for (name, patient, subtype) in cases {
            let got = parse_name(name, None);
            assert_eq!(
                (got.patient.as_str(), got.subtype),
                (patient, subtype),
                "{name}"
            );
        }
    }

    #[test]
    fn unknown_names_fall_back_to_stem_and_folder() {
        let got = parse_name("scan 7.png", Some("NORMAL"));
        assert_eq!(got.patient, "scan 7");
        assert_eq!(got.subtype, Subtype::Normal);
        assert_eq!(
            parse_name("x.jpeg", Some("PNEUMONIA")).subtype,
            Subtype::Unknown
        );
    }
}
