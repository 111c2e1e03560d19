//! The stage graph: cycle detection, topological order, the closure of a target.

use std::collections::{BTreeMap, BTreeSet};

use super::validate::StageDecl;

/// Every distinct cycle, each as `[a, b, a]`, in declaration order of its first stage.
pub fn cycles(stages: &[StageDecl]) -> Vec<Vec<String>> {
    let index: BTreeMap<&str, usize> = stages
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let mut state = vec![0u8; stages.len()]; // 0 new, 1 on stack, 2 done
    let mut stack: Vec<usize> = Vec::new();
    let mut found: Vec<Vec<String>> = Vec::new();
    let mut seen_sets: BTreeSet<Vec<usize>> = BTreeSet::new();

    fn visit(
        i: usize,
        stages: &[StageDecl],
        index: &BTreeMap<&str, usize>,
        state: &mut [u8],
        stack: &mut Vec<usize>,
        found: &mut Vec<Vec<String>>,
        seen_sets: &mut BTreeSet<Vec<usize>>,
    ) {
        state[i] = 1;
        stack.push(i);
        for need in &stages[i].needs {
            let Some(&j) = index.get(need.as_str()) else {
                continue;
            };
            match state[j] {
                0 => visit(j, stages, index, state, stack, found, seen_sets),
                1 => {
                    let from = stack.iter().position(|&k| k == j).unwrap_or(0);
                    let members: Vec<usize> = stack[from..].to_vec();
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
        stack.pop();
        state[i] = 2;
    }

    for i in 0..stages.len() {
        if state[i] == 0 {
            visit(
                i,
                stages,
                &index,
                &mut state,
                &mut stack,
                &mut found,
                &mut seen_sets,
            );
        }
    }
    found
}

/// Stages in an order where each comes after everything it needs (declaration order
/// breaks ties). The pipeline must be acyclic (validation guarantees it).
pub fn topo_order(stages: &[StageDecl]) -> Vec<&StageDecl> {
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut order = Vec::with_capacity(stages.len());
    while order.len() < stages.len() {
        let before = order.len();
        for s in stages {
            if !done.contains(s.name.as_str()) && s.needs.iter().all(|n| done.contains(n.as_str()))
            {
                done.insert(&s.name);
                order.push(s);
            }
        }
        if order.len() == before {
            break; // a cycle: validation reports it, never reached from a valid pipeline
        }
    }
    order
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
