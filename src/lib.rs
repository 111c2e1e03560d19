//! pneumo-pipeline: a content-hashed research pipeline for pediatric chest X-ray
//! classification. See ARCHITECTURE.md for the map.

pub mod contract;
pub mod data;
pub mod exp;
pub mod model;
pub mod pipeline;
pub mod stages;
