//! The numeric CSV files between stages (history.csv, deletion.csv): a fixed header and
//! rows of numbers, read strictly. A wrong header or a cell that is not a number is an error
//! naming the file, line and column, never a silent NaN; `NaN` (how Rust prints an
//! undefined metric) reads back as NaN.

use std::path::Path;

use anyhow::{Context, bail};

/// The rows of `path`, whose header must be `header` exactly.
pub fn read_numeric(path: &Path, header: &str, what: &str) -> anyhow::Result<Vec<Vec<f64>>> {
    let text = fs_err::read_to_string(path)?;
    let mut lines = text.lines();
    let found = lines.next().unwrap_or_default();
    if found != header {
        bail!(
            "{} is not a {what}: its header is `{found}`, expected `{header}` (written by another \
             version? re-run the stage that writes it)",
            path.display()
        );
    }
    let names: Vec<&str> = header.split(',').collect();
    lines
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(i, line)| {
            let cells: Vec<&str> = line.split(',').collect();
            if cells.len() != names.len() {
                bail!(
                    "{}:{}: {} cells, the header has {}",
                    path.display(),
                    i + 2,
                    cells.len(),
                    names.len()
                );
            }
            cells
                .iter()
                .zip(&names)
                .map(|(c, name)| {
                    c.trim().parse::<f64>().with_context(|| {
                        format!(
                            "{}:{}: `{name}` is `{c}`, not a number",
                            path.display(),
                            i + 2
                        )
                    })
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_headers_and_cells_are_errors_naming_the_place() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("h.csv");
        fs_err::write(&p, "a,b\n1,NaN\n2,3\n").unwrap();
        let rows = read_numeric(&p, "a,b", "table").unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows[0][1].is_nan());
        let e = read_numeric(&p, "a,c", "table").unwrap_err().to_string();
        assert!(e.contains("h.csv") && e.contains("expected `a,c`"), "{e}");
        fs_err::write(&p, "a,b\n1,x\n").unwrap();
        let e = format!("{:#}", read_numeric(&p, "a,b", "table").unwrap_err());
        assert!(e.contains("h.csv:2: `b` is `x`"), "{e}");
        fs_err::write(&p, "a,b\n1\n").unwrap();
        assert!(read_numeric(&p, "a,b", "table").is_err());
    }
}
