//! The report's calibration section, when the report stage also needs a `calibrate` stage:
//! per role, the reliability table in its bins, the ECE and the calibration slope and
//! intercept.

use super::Artifacts;
use super::document::Block;
use super::format::*;
use crate::contract::calibrate::Binning;

pub fn calibration(a: &Artifacts, d: &mut Vec<Block>) {
    use Block::*;
    let Some(t) = &a.calibration else {
        return;
    };
    d.push(Heading(2, s("Calibration")));
    d.push(Para(format!(
        "How far the reported probabilities can be read as probabilities, in bins of {} (the \
         observed share of PNEUMONIA films with its 95% Wilson interval against the mean predicted \
         probability). The slope and intercept are a logistic fit of the label on the \
         probability's log-odds: 1 and 0 for a calibrated model, a slope above 1 for \
         probabilities too timid, below 1 for overconfident ones; on a role the model separates, \
         the slope is steep and says little.",
        match t.binning {
            Binning::Quantile => "equal counts of films",
            Binning::Uniform => "equal width over [0, 1]",
        }
    )));
    // validation first, where every choice was made; then the roles scored once
    let mut roles: Vec<(&String, _)> = t.roles.iter().collect();
    roles.sort_by_key(|(role, _)| (role.as_str() != "val", role.as_str() != "test"));
    for (role, r) in roles {
        d.push(Para(format!(
            "`{role}` ({} images): ECE {}, slope {}, intercept {}.",
            r.n,
            num(r.ece, 3),
            num(r.slope, 2),
            num(r.intercept, 2)
        )));
        let rows = r
            .bins
            .iter()
            .map(|b| {
                vec![
                    format!("{}–{}", num(b.lower, 3), num(b.upper, 3)),
                    b.count.to_string(),
                    num(b.mean_probability, 3),
                    ci_pct(b.observed, b.ci),
                ]
            })
            .collect();
        d.push(Table(
            [
                "probability",
                "images",
                "mean predicted",
                "observed PNEUMONIA",
            ]
            .map(s)
            .to_vec(),
            rows,
        ));
    }
}
