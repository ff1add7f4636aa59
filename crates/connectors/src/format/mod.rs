//! Record formats.

pub mod csv;
pub mod flat_json;
pub mod json;
pub mod record;
