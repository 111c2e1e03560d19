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

/// The position of the deepest key of `path` that exists in `src`.
///
/// Returns the start of the file when not even the first key is found (flow-style maps
/// like `params: {seed: 1}` resolve to their parent key, which is close enough).
pub fn locate(src: &str, path: &[&str]) -> Pos {
    let mut best = Pos { line: 1, column: 1 };
    let mut best_depth = 0;
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
            if depth == path.len() {
                break;
            }
        }
    }
    best
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
    fn falls_back_to_deepest_existing_parent() {
        assert_eq!(
            locate(SRC, &["stages", "split", "params", "nope"]),
            Pos { line: 7, column: 5 }
        );
    }
}
