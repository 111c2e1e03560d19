//! Reading the Kermany chest X-ray data: layout, file names, decoding, resizing, tables.
//! Nothing here knows about the pipeline engine.

pub mod decode;
pub mod equalize;
pub mod kermany;
pub mod layout;
pub mod manifest;
pub mod read;
pub mod resize;
pub mod rng;
pub mod scaled;
pub mod table;
