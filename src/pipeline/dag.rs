//! The stage graph: cycle detection, topological order, the closure of a target.

use std::collections::{BTreeMap, BTreeSet};

use super::decl::StageDecl;

/// For each stage, the indices of the declared stages it needs (undeclared names are
/// validation's to report).
fn need_indices(stages: &[StageDecl]) -> Vec<Vec<usize>> {
    let index: BTreeMap<&str, usize> = stages
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    stages
        .iter()
        .map(|s| {
            s.needs
                .iter()
                .filter_map(|n| index.get(n.as_str()).copied())
                .collect()
        })
        .collect()
}

/// Every distinct cycle, each as `[a, b, a]`, in declaration order of its first stage.
/// Depth-first with an explicit stack, so a chain of 100k stages does not overflow.
pub fn cycles(stages: &[StageDecl]) -> Vec<Vec<String>> {
    let needs = need_indices(stages);
    let mut state = vec![0u8; stages.len()]; // 0 new, 1 on stack, 2 done
    let mut on_stack: Vec<usize> = Vec::new(); // the current path
    let mut found: Vec<Vec<String>> = Vec::new();
    let mut seen_sets: BTreeSet<Vec<usize>> = BTreeSet::new();
    for root in 0..stages.len() {
        if state[root] != 0 {
            continue;
        }
        // (stage, next need to look at)
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        state[root] = 1;
        on_stack.push(root);
        while let Some(&mut (i, ref mut next)) = work.last_mut() {
            let Some(&j) = needs[i].get(*next) else {
                work.pop();
                on_stack.pop();
                state[i] = 2;
                continue;
            };
            *next += 1;
            match state[j] {
                0 => {
                    state[j] = 1;
                    on_stack.push(j);
                    work.push((j, 0));
                }
                1 => {
                    let from = on_stack.iter().rposition(|&k| k == j).unwrap_or(0);
                    let members: Vec<usize> = on_stack[from..].to_vec();
                    let mut set = members.clone();
                    set.sort_unstable();
                    if seen_sets.insert(set) {
                        // stack order is "needs" order: print as data flows, a -> b -> a
                        let mut names: Vec<String> = members
                            .iter()
                            .rev()
                            .map(|&k| stages[k].name.clone())
                            .collect();
                        names.push(names[0].clone());
                        found.push(names);
                    }
                }
                _ => {}
            }
        }
    }
    found
}

/// Stages in an order where each comes after everything it needs (declaration order
/// breaks ties). The pipeline must be acyclic (validation guarantees it).
///
/// The order is that of sweeping the declarations again and again, taking each stage whose
/// needs are all taken: a stage is taken in sweep `p(s) = max(1, p(n) + [n is declared after
/// s])` over its needs `n`. Computed in one pass over a topological order, then sorted by
/// (sweep, declaration), so large graphs cost n log n instead of a sweep per level.
pub fn topo_order(stages: &[StageDecl]) -> Vec<&StageDecl> {
    let needs = need_indices(stages);
    let mut waiting: Vec<usize> = needs.iter().map(Vec::len).collect();
    let mut needed_by: Vec<Vec<usize>> = vec![Vec::new(); stages.len()];
    for (i, ns) in needs.iter().enumerate() {
        for &n in ns {
            needed_by[n].push(i);
        }
    }
    let mut sweep = vec![1usize; stages.len()];
    let mut ready: Vec<usize> = (0..stages.len()).filter(|&i| waiting[i] == 0).collect();
    let mut taken = Vec::with_capacity(stages.len());
    while let Some(n) = ready.pop() {
        taken.push(n);
        for &s in &needed_by[n] {
            sweep[s] = sweep[s].max(sweep[n] + usize::from(n > s));
            waiting[s] -= 1;
            if waiting[s] == 0 {
                ready.push(s);
            }
        }
    }
    // stages on a cycle never become ready: validation reports them, never reached here
    taken.sort_by_key(|&i| (sweep[i], i));
    taken.into_iter().map(|i| &stages[i]).collect()
}

/// `targets` and everything they need, transitively.
pub fn closure<'a>(stages: &'a [StageDecl], targets: &[String]) -> BTreeSet<&'a str> {
    let by_name: BTreeMap<&str, &StageDecl> = stages.iter().map(|s| (s.name.as_str(), s)).collect();
    let mut out = BTreeSet::new();
    let mut todo: Vec<&str> = targets.iter().map(String::as_str).collect();
    while let Some(name) = todo.pop() {
        let Some(s) = by_name.get(name) else { continue };
        if out.insert(s.name.as_str()) {
            todo.extend(s.needs.iter().map(String::as_str));
        }
    }
    out
}

/// A text drawing of the graph: one line per stage, with what it needs and reads.
pub fn render(stages: &[StageDecl]) -> String {
    let mut out = String::new();
    for s in topo_order(stages) {
        out.push_str(&format!("{} [{}]", s.name, s.kind.name()));
        if let Some(desc) = &s.desc {
            out.push_str(&format!("  # {desc}"));
        }
        out.push('\n');
        for need in &s.needs {
            out.push_str(&format!("  <- {need}\n"));
        }
        for input in &s.inputs {
            // a workspace path (file or folder), told apart from upstream stage names
            out.push_str(&format!("  <- ./{input}\n"));
        }
        for path in s.written_paths() {
            out.push_str(&format!("  -> {path}\n"));
        }
    }
    out
}

/// The graph in Graphviz dot.
pub fn render_dot(stages: &[StageDecl]) -> String {
    let mut out = String::from("digraph pipeline {\n  rankdir=LR;\n");
    for s in stages {
        out.push_str(&format!(
            "  \"{}\" [label=\"{}\\n[{}]\"];\n",
            s.name,
            s.name,
            s.kind.name()
        ));
        for need in &s.needs {
            out.push_str(&format!("  \"{need}\" -> \"{}\";\n", s.name));
        }
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::rng::SplitMix64;
    use crate::pipeline::decl::StageKind;

    fn decl(name: String, needs: Vec<String>) -> StageDecl {
        StageDecl {
            name,
            kind: StageKind::Cmd {
                cmd: "true".into(),
                outs: vec![],
            },
            params: serde_json::Value::Null,
            needs,
            inputs: vec![],
            out: None,
            resources: Default::default(),
            desc: None,
        }
    }

    /// The order before it was made n log n: sweep the declarations until all are taken.
    fn sweeps(stages: &[StageDecl]) -> Vec<&str> {
        let mut done: BTreeSet<&str> = BTreeSet::new();
        let mut order = Vec::new();
        while order.len() < stages.len() {
            for s in stages {
                if !done.contains(s.name.as_str())
                    && s.needs.iter().all(|n| done.contains(n.as_str()))
                {
                    done.insert(&s.name);
                    order.push(s.name.as_str());
                }
            }
        }
        order
    }

    #[test]
    fn topological_order_equals_repeated_sweeps_on_random_graphs() {
        let mut rng = SplitMix64::new(7);
        for _ in 0..200 {
            let n = 1 + rng.below(30) as usize;
            // a random DAG over a random permutation, declared in another random order
            let rank: Vec<usize> = {
                let mut r: Vec<usize> = (0..n).collect();
                for i in (1..n).rev() {
                    r.swap(i, rng.below(i as u64 + 1) as usize);
                }
                r
            };
            let stages: Vec<StageDecl> = (0..n)
                .map(|i| {
                    let needs = (0..n)
                        .filter(|&j| rank[j] < rank[i] && rng.below(4) == 0)
                        .map(|j| format!("s{j}"))
                        .collect();
                    decl(format!("s{i}"), needs)
                })
                .collect();
            let fast: Vec<&str> = topo_order(&stages)
                .iter()
                .map(|s| s.name.as_str())
                .collect();
            assert_eq!(fast, sweeps(&stages));
        }
    }

    #[test]
    fn a_deep_chain_has_no_cycle_and_no_stack_overflow() {
        let n = 200_000;
        let stages: Vec<StageDecl> = (0..n)
            .rev()
            .map(|i| {
                let needs = if i > 0 {
                    vec![format!("c{}", i - 1)]
                } else {
                    vec![]
                };
                decl(format!("c{i}"), needs)
            })
            .collect();
        assert!(cycles(&stages).is_empty());
        assert_eq!(topo_order(&stages)[0].name, "c0");
        let mut ring = stages;
        ring[n - 1].needs = vec!["c0".into()]; // c0 (declared last) needs c199999: a cycle
        assert_eq!(cycles(&ring).len(), 1);
    }
}
