//! A bound on nesting, checked on the text before the YAML parser sees it: the parser's own
//! recursion limit is reached only after work that grows with the square of the depth (26 s
//! for 100k levels of `[`), and a pipeline.yaml is a handful of levels deep.

use crate::pipeline::locate::Pos;

/// Deeper than any pipeline.yaml needs (stages → stage → params → a map → a list).
pub const MAX_DEPTH: usize = 64;
/// Indentation wider than this is refused as well (block nesting costs columns).
pub const MAX_INDENT: usize = 512;

/// Where the text first nests deeper than [`MAX_DEPTH`] (flow brackets, or block sequences
/// started on one line: `- - - x`), or indents past [`MAX_INDENT`].
pub fn too_deep(src: &str) -> Option<Pos> {
    let mut flow = 0usize;
    let (mut single, mut double) = (false, false);
    for (i, line) in src.lines().enumerate() {
        let at = |column| Pos {
            line: i + 1,
            column,
        };
        let indent = line.len() - line.trim_start_matches(' ').len();
        if indent > MAX_INDENT {
            return Some(at(indent + 1));
        }
        if flow == 0 && !single && !double {
            let mut dashes = 0;
            let mut rest = line.trim_start();
            while let Some(r) = rest.strip_prefix("- ").or_else(|| rest.strip_prefix("-\t")) {
                dashes += 1;
                rest = r.trim_start();
            }
            if dashes > MAX_DEPTH {
                return Some(at(indent + 1));
            }
        }
        let mut prev = ' ';
        for (col, c) in line.chars().enumerate() {
            match c {
                '\'' if !double => single = !single,
                '"' if !single && prev != '\\' => double = !double,
                '#' if !single && !double && prev.is_whitespace() => break,
                '[' | '{' if !single && !double => {
                    flow += 1;
                    if flow > MAX_DEPTH {
                        return Some(at(col + 1));
                    }
                }
                ']' | '}' if !single && !double => flow = flow.saturating_sub(1),
                _ => {}
            }
            prev = c;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_flow_block_and_indent_are_found_and_ordinary_yaml_is_not() {
        let deep = format!("stages: {}1{}\n", "[".repeat(200_000), "]".repeat(200_000));
        let start = std::time::Instant::now();
        assert_eq!(too_deep(&deep).map(|p| p.column), Some(8 + MAX_DEPTH + 1));
        assert!(start.elapsed().as_secs() < 2);
        assert!(too_deep(&format!("a:\n  {}x\n", "- ".repeat(1000))).is_some());
        assert!(too_deep(&format!("a:\n{}b: 1\n", " ".repeat(600))).is_some());
        let ok = "stages:\n  t:\n    kind: train  # [not {counted\n    params: {matrix: [[1, 2], {a: '[['}]}\n    desc: \"]] {{\"\n";
        assert_eq!(too_deep(ok), None);
    }
}
