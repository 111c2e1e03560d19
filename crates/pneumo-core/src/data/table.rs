//! Parquet tables through polars: the manifest, the split and the cache index are all
//! written and read here, so no other module depends on polars' API.

use std::fs::File;
use std::path::Path;

use anyhow::Context;
use polars::prelude::*;

/// Writes `df` to `path` as Parquet.
pub fn write_parquet(path: &Path, df: &mut DataFrame) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    ParquetWriter::new(file)
        .finish(df)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Reads a Parquet file.
pub fn read_parquet(path: &Path) -> anyhow::Result<DataFrame> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    ParquetReader::new(file)
        .finish()
        .map_err(anyhow::Error::from)
        .with_context(|| format!("reading {}", path.display()))
}

/// A string column as owned values (nulls as `None`).
pub fn strings(df: &DataFrame, name: &str) -> anyhow::Result<Vec<Option<String>>> {
    Ok(df
        .column(name)?
        .str()?
        .iter()
        .map(|v| v.map(str::to_string))
        .collect())
}

/// A non-null string column.
pub fn required_strings(df: &DataFrame, name: &str) -> anyhow::Result<Vec<String>> {
    strings(df, name)?
        .into_iter()
        .enumerate()
        .map(|(i, v)| v.with_context(|| format!("column `{name}` is null in row {i}")))
        .collect()
}

/// A string column of words parsed into `T` (a label, an outcome); a word that is not one is
/// an error naming the column and row.
pub fn required_words<T: std::str::FromStr<Err = String>>(
    df: &DataFrame,
    name: &str,
) -> anyhow::Result<Vec<T>> {
    required_strings(df, name)?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.parse::<T>()
                .map_err(|e| anyhow::anyhow!("column `{name}`, row {i}: {e}"))
        })
        .collect()
}

/// A u32 column (nulls as `None`).
pub fn u32s(df: &DataFrame, name: &str) -> anyhow::Result<Vec<Option<u32>>> {
    Ok(df.column(name)?.u32()?.iter().collect())
}
