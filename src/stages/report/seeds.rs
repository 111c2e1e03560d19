//! The report's section on seeds and their ensemble, when the report stage also needs an
//! `ensemble` stage: every member's headline metrics, mean ± SD, min–max and the ensemble.

use super::Artifacts;
use super::document::Block;
use crate::stages::aggregate::{self, COLUMNS};
use crate::stages::ensemble;

pub fn seeds(a: &Artifacts, d: &mut Vec<Block>) {
    use Block::*;
    let Some(summary) = &a.ensemble else {
        return;
    };
    let members = summary.first().map_or(0, |s| s.members.len());
    d.push(Heading(2, "Seeds and their ensemble".into()));
    d.push(Para(format!(
        "The same recipe was trained {members} times (a matrix of seeds); the ensemble averages the \
         members' probabilities and chooses its own threshold on validation. Mean ± SD is over the \
         members (sample SD): the spread between seeds; the ensemble's row gives its own sampling \
         interval instead (95%). The validation rows are where every checkpoint and threshold was chosen; \
         the test rows were scored once, at those thresholds."
    )));
    for s in summary {
        let mut header = vec![format!("`{}` model", s.role)];
        header.extend(COLUMNS.iter().map(|(_, l)| l.to_string()));
        let rows = aggregate::rows(s, "ensemble (its 95% interval)");
        d.push(Table(header, rows));
    }
    for s in summary {
        d.push(Figures(vec![(
            format!("images/{}", ensemble::forest_png(&s.role)),
            format!(
                "`{}`: each member and the ensemble with its 95% interval (Wilson for proportions, bootstrap for the AUC); grey: the members' mean ± SD.",
                s.role
            ),
        )]));
    }
}
