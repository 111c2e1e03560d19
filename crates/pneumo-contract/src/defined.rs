//! Metrics that can be undefined: a proportion with an empty denominator (NPV when nothing is
//! predicted NORMAL, precision when nothing is predicted PNEUMONIA, specificity without a
//! NORMAL image), an AUC with one class absent, anything on an empty role. In memory such a
//! metric is NaN; in JSON it is `null` (what serde_json writes for NaN), read back here as
//! NaN; in the report it is "undefined" with the reason from [`reasons`]. Never a 0 that
//! looks measured, never a crash.

use serde::{Deserialize, Deserializer};

use super::metrics::Binary;

/// `a / b`, NaN when `b` is 0.
pub fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        f64::NAN
    } else {
        a as f64 / b as f64
    }
}

/// Reads a number or `null` (NaN).
pub fn f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// Reads an interval whose ends may be `null` (NaN).
pub fn pair<'de, D: Deserializer<'de>>(d: D) -> Result<(f64, f64), D::Error> {
    let (lo, hi) = <(Option<f64>, Option<f64>)>::deserialize(d)?;
    Ok((lo.unwrap_or(f64::NAN), hi.unwrap_or(f64::NAN)))
}

/// Reads a list of numbers whose entries may be `null` (NaN).
pub fn f64s<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    let v = Vec::<Option<f64>>::deserialize(d)?;
    Ok(v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
}

/// Reads a list of intervals whose ends may be `null` (NaN).
pub fn pairs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(f64, f64)>, D::Error> {
    let v = Vec::<(Option<f64>, Option<f64>)>::deserialize(d)?;
    Ok(v.into_iter()
        .map(|(lo, hi)| (lo.unwrap_or(f64::NAN), hi.unwrap_or(f64::NAN)))
        .collect())
}

/// The metrics a confusion matrix leaves undefined, each with why, in report order.
pub fn reasons(b: &Binary) -> Vec<(&'static str, &'static str)> {
    let (pos, neg) = (b.tp + b.fn_, b.tn + b.fp);
    let mut out = Vec::new();
    if pos + neg == 0 {
        out.push(("every metric", "the role has no images"));
        return out;
    }
    if b.tp + b.fp == 0 {
        out.push(("precision", "no image was predicted PNEUMONIA"));
    }
    if pos == 0 {
        out.push(("recall", "the role has no PNEUMONIA image"));
    }
    if neg == 0 {
        out.push(("specificity", "the role has no NORMAL image"));
    }
    if b.tn + b.fn_ == 0 {
        out.push(("NPV", "no image was predicted NORMAL"));
    }
    if pos == 0 || neg == 0 {
        out.push(("ROC AUC and PR AUC", "the role holds one class only"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_reads_as_nan_and_numbers_as_themselves() {
        #[derive(Deserialize)]
        struct T {
            #[serde(deserialize_with = "f64")]
            a: f64,
            #[serde(deserialize_with = "pair")]
            ci: (f64, f64),
        }
        let t: T = serde_json::from_str(r#"{"a": null, "ci": [0.5, null]}"#).unwrap();
        assert!(t.a.is_nan() && t.ci.0 == 0.5 && t.ci.1.is_nan());
        // and what serde_json writes for NaN is what is read back
        assert_eq!(serde_json::to_string(&f64::NAN).unwrap(), "null");
    }

    #[test]
    fn reasons_follow_the_counts() {
        let all_positive = Binary {
            tp: 3,
            fp: 2,
            tn: 0,
            fn_: 0,
            accuracy: 0.6,
            precision: 0.6,
            recall: 1.0,
            f1: 0.75,
        };
        assert_eq!(
            reasons(&all_positive),
            [("NPV", "no image was predicted NORMAL")]
        );
        let empty = Binary {
            tp: 0,
            fp: 0,
            tn: 0,
            fn_: 0,
            ..all_positive
        };
        assert_eq!(reasons(&empty)[0].0, "every metric");
    }
}
