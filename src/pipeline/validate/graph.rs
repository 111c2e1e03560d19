//! The checks that involve more than one stage: needs, upstream kinds, shared outputs,
//! cycles.

use std::collections::{BTreeMap, BTreeSet};

use super::Validator;
use crate::pipeline::dag;
use crate::pipeline::decl::{StageDecl, StageKind};
use crate::pipeline::out_paths::{ancestors_of, check_out_path, components_key, overlap};

impl Validator<'_> {
    /// Checks what involves more than one stage: needs, upstream kinds, shared outputs, cycles.
    pub(super) fn graph(&mut self, stages: &[StageDecl], declared: &[String]) {
        let by_name: BTreeMap<&str, &StageDecl> =
            stages.iter().map(|s| (s.name.as_str(), s)).collect();
        let declared_set: BTreeSet<&str> = declared.iter().map(String::as_str).collect();
        for s in stages {
            let mut all_known = true;
            for need in &s.needs {
                if !declared_set.contains(need.as_str()) {
                    all_known = false;
                    self.error(
                        &["stages", &s.name, "needs"],
                        format!("stage `{}` needs undeclared stage `{need}`", s.name),
                        format!("declared stages: {}", declared.join(", ")),
                    );
                } else if !by_name.contains_key(need.as_str()) {
                    all_known = false; // declared but invalid: reported on its own
                }
            }
            if all_known
                && let StageKind::Builtin(kind) = s.kind
                && let Some(stage) = self.registry.get(kind)
            {
                for want in stage.upstream_kinds() {
                    let of_kind: Vec<&str> = s
                        .needs
                        .iter()
                        .filter(|n| {
                            by_name
                                .get(n.as_str())
                                .is_some_and(|u| u.kind.name() == *want)
                        })
                        .map(String::as_str)
                        .collect();
                    if of_kind.len() > 1 && !stage.combines().contains(want) {
                        self.error(
                            &["stages", &s.name, "needs"],
                            format!(
                                "{} `{kind}` stage reads one `{want}` stage; `needs` lists {}: {}",
                                article(kind),
                                of_kind.len(),
                                of_kind.join(", ")
                            ),
                            format!("keep one `{want}` stage in `needs:`"),
                        );
                    }
                    if of_kind.is_empty() {
                        self.error(
                            &["stages", &s.name, "needs"],
                            format!(
                                "{} `{kind}` stage reads the output of {} `{want}` stage",
                                article(kind),
                                article(want)
                            ),
                            format!("add the `{want}` stage's name to `needs:`"),
                        );
                    }
                }
            }
        }
        // written paths by their components joined with `/`: one path overlaps another when
        // it is the other, an ancestor of it (a lookup per ancestor) or a descendant (a
        // range query), so n stages cost n log n, not n^2
        let mut seen: BTreeMap<String, (&str, &str)> = BTreeMap::new();
        for s in stages {
            // a path refused on its own (absolute, `..`) is reported once, not as a clash
            for path in s
                .written_paths()
                .into_iter()
                .filter(|p| check_out_path(p).is_ok())
            {
                let norm = path.trim_end_matches('/');
                let key = components_key(norm);
                let ancestor = ancestors_of(&key).find_map(|a| seen.get(a));
                let below = format!("{key}/");
                let descendant = seen
                    .range(below.clone()..)
                    .next()
                    .filter(|(k, _)| k.starts_with(&below))
                    .map(|(_, v)| v);
                if let Some(&(other, other_path)) = ancestor.or(descendant) {
                    self.error(
                        &["stages", &s.name],
                        format!(
                            "stages `{other}` and `{}` both write `{}`",
                            s.name,
                            if other_path.len() <= norm.len() {
                                other_path
                            } else {
                                norm
                            }
                        ),
                        "give each stage its own output path",
                    );
                }
                seen.entry(key).or_insert((s.name.as_str(), norm));
            }
        }
        self.outputs_are_not_inputs(stages, &by_name);
        for cycle in dag::cycles(stages) {
            let first = cycle[0].clone();
            self.error(
                &["stages", &first, "needs"],
                format!("dependency cycle: {}", cycle.join(" -> ")),
                "remove one of these `needs` so the stages form a DAG",
            );
        }
    }
}

impl Validator<'_> {
    /// A stage's output may not be (or hold, or lie inside) a file another stage reads,
    /// unless that stage needs it (so it runs after, and reads what was written): a command
    /// writing over the dataset, or over its own `deps`, would delete them before it runs.
    fn outputs_are_not_inputs(
        &mut self,
        stages: &[StageDecl],
        by_name: &BTreeMap<&str, &StageDecl>,
    ) {
        let mut read: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for s in stages {
            for input in &s.inputs {
                if check_out_path(input).is_ok() {
                    let key = components_key(input.trim_end_matches('/'));
                    read.entry(key).or_default().push(s.name.as_str());
                }
            }
        }
        for s in stages {
            for path in s
                .written_paths()
                .into_iter()
                .filter(|p| check_out_path(p).is_ok())
            {
                let key = components_key(path.trim_end_matches('/'));
                let below = format!("{key}/");
                let clash = ancestors_of(&key)
                    .filter_map(|a| read.get_key_value(a))
                    .chain(
                        read.range(below.clone()..)
                            .take_while(|(k, _)| k.starts_with(&below)),
                    )
                    .flat_map(|(input, readers)| readers.iter().map(move |r| (input, *r)))
                    .find(|(_, reader)| {
                        *reader == s.name
                            || !by_name
                                .get(reader)
                                .is_some_and(|r| r.needs.contains(&s.name))
                    });
                if let Some((input, reader)) = clash {
                    debug_assert!(overlap(&key, input));
                    let (msg, hint) = if reader == s.name {
                        (
                            format!("stage `{reader}` writes `{path}` and also reads `{input}`"),
                            "a stage's outputs are replaced before it runs: write somewhere else than its `deps`".to_string(),
                        )
                    } else {
                        (
                            format!(
                                "stage `{}` writes `{path}`, which stage `{reader}` reads as `{input}`",
                                s.name
                            ),
                            format!(
                                "write somewhere else; if `{}` makes that input, add it to `needs:` of `{reader}`",
                                s.name
                            ),
                        )
                    };
                    let field = if s.out.is_some() { "out" } else { "outs" };
                    self.error(&["stages", &s.name, field], msg, hint);
                }
            }
        }
    }
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}
