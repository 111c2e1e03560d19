//! The parquet tables between stages, each written and read in one file here through the
//! row type the contract defines.

pub mod cache;
pub mod predictions;
pub mod split;
