//! The worker's information lines, off when the pipeline run is quiet (`run -q` sets
//! `PNEUMO_QUIET` for it). Errors are always printed.

use pneumo_pipeline::stages::worker::QUIET_ENV;

/// Whether the run that started this worker is quiet.
pub fn quiet() -> bool {
    std::env::var_os(QUIET_ENV).is_some()
}

/// `eprintln!` unless the run is quiet.
#[macro_export]
macro_rules! note {
    ($($arg:tt)*) => {
        if !$crate::say::quiet() {
            eprintln!($($arg)*);
        }
    };
}
