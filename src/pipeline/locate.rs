//! Finds where a key path (`stages.split.params.seed`) sits in a block-style YAML file.
//!
//! serde gives a location only for the first syntax or shape error; the validation pass
//! reports many problems at once, so it looks each one up here by its key path.

/// A 1-based line and column in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

/// The position of the deepest key of `path` that exists in `src`, keys inside a flow-style
/// map under a block key (`params: {seed: 1}`, continued on deeper-indented lines) included.
///
/// Returns the start of the file when not even the first key is found.
pub fn locate(src: &str, path: &[&str]) -> Pos {
    let mut best = Pos { line: 1, column: 1 };
    let mut best_depth = 0;
    let mut best_key = "";
    let mut stack: Vec<(usize, &str)> = Vec::new();
    for (i, line) in src.lines().enumerate() {
        let Some((indent, key)) = key_of(line) else {
            continue;
        };
        while stack.last().is_some_and(|(ind, _)| *ind >= indent) {
            stack.pop();
        }
        stack.push((indent, key));
        let depth = stack.len();
        if depth <= path.len()
            && depth > best_depth
            && stack.iter().zip(path).all(|((_, k), p)| k == p)
        {
            best = Pos {
                line: i + 1,
                column: indent + 1,
            };
            best_depth = depth;
            best_key = key;
            if depth == path.len() {
                break;
            }
        }
    }
    if best_depth > 0 && best_depth < path.len() {
        let after_key = best.column - 1 + best_key.len() + 1;
        if let Some(p) = in_flow(
            src,
            best.line - 1,
            after_key,
            best.column - 1,
            &path[best_depth..],
        ) {
            return p;
        }
    }
    best
}

/// The deepest of `rest`'s keys found, in order, in the flow map that follows a block key on
/// line `line` (0-based) from byte `from`, over the lines indented deeper than `indent`.
fn in_flow(src: &str, line: usize, from: usize, indent: usize, rest: &[&str]) -> Option<Pos> {
    let lines: Vec<&str> = src.lines().collect();
    let mut span = vec![line];
    for (j, l) in lines.iter().enumerate().skip(line + 1) {
        let t = l.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if l.len() - t.len() <= indent {
            break;
        }
        span.push(j);
    }
    let (mut at_line, mut at_byte) = (line, from);
    let mut found = None;
    for key in rest {
        let hit = span.iter().filter(|&&j| j >= at_line).find_map(|&j| {
            let text = lines[j];
            let start = if j == at_line {
                at_byte.min(text.len())
            } else {
                0
            };
            flow_key(text, start, key).map(|b| (j, b))
        });
        let Some((j, b)) = hit else { break };
        (at_line, at_byte) = (j, b + key.len());
        found = Some(Pos {
            line: j + 1,
            column: b + 1,
        });
    }
    found
}

/// The byte offset of `key` used as a flow-map key in `text` from `start`: after `{`, `,` or
/// the line's start, before `:` (quoted or not).
fn flow_key(text: &str, start: usize, key: &str) -> Option<usize> {
    let mut search = start;
    while let Some(off) = text.get(search..)?.find(key) {
        let at = search + off;
        let before = text[..at].trim_end().chars().last();
        let after = text[at + key.len()..].trim_start_matches(['"', '\'']);
        if matches!(
            before,
            None | Some('{') | Some(',') | Some('"') | Some('\'')
        ) && after.trim_start().starts_with(':')
        {
            return Some(at);
        }
        search = at + key.len();
    }
    None
}

/// `(indent, key)` of a `key:` line, ignoring comments, list items and blank lines.
fn key_of(line: &str) -> Option<(usize, &str)> {
    let trimmed = line.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('-') {
        return None;
    }
    let indent = line.len() - trimmed.len();
    let colon = trimmed.find(':')?;
    let key = trimmed[..colon]
        .trim()
        .trim_matches(|c| c == '"' || c == '\'');
    let after = &trimmed[colon + 1..];
    if key.is_empty() || !(after.is_empty() || after.starts_with(' ')) {
        return None;
    }
    Some((indent, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "\
# comment
stages:
  index:
    kind: index
  split:
    kind: split
    params:
      seed: 7
";

    #[test]
    fn finds_nested_key() {
        assert_eq!(
            locate(SRC, &["stages", "split", "params", "seed"]),
            Pos { line: 8, column: 7 }
        );
    }

    #[test]
    fn finds_keys_inside_flow_maps_over_several_lines() {
        let src = "stages:\n  train:\n    params: {lr: 0.1, augment: {rotate: 7,\n        crop: 0.7}}\n    needs: [split]\n";
        assert_eq!(
            locate(src, &["stages", "train", "params", "lr"]),
            Pos {
                line: 3,
                column: 14
            }
        );
        assert_eq!(
            locate(src, &["stages", "train", "params", "augment", "rotate"]),
            Pos {
                line: 3,
                column: 33
            }
        );
        assert_eq!(
            locate(src, &["stages", "train", "params", "augment", "crop"]),
            Pos { line: 4, column: 9 }
        );
        // a key that is not there: the deepest one that is
        assert_eq!(
            locate(src, &["stages", "train", "params", "augment", "nope"]),
            Pos {
                line: 3,
                column: 23
            }
        );
        assert_eq!(
            locate(src, &["stages", "train", "params", "needs"]),
            Pos { line: 3, column: 5 }
        );
    }

    #[test]
    fn falls_back_to_deepest_existing_parent() {
        assert_eq!(
            locate(SRC, &["stages", "split", "params", "nope"]),
            Pos { line: 7, column: 5 }
        );
    }
}
