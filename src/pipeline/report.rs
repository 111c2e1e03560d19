//! How the engine and the stages talk to the user. The binary implements this with
//! indicatif on stderr; tests use [`Silent`]. The engine itself never prints.

/// A running count toward a known total.
pub trait Progress: Send + Sync {
    fn inc(&self, n: u64);
    /// Jumps to `done`, with a short message on how it goes (a worker's progress event).
    fn set(&self, _done: u64, _message: &str) {}
}

pub trait Reporter: Sync {
    /// A bar for `total` items of work inside the current stage.
    fn progress(&self, label: &str, total: u64) -> Box<dyn Progress + '_>;
    /// A line of information (a stage's summary, a skipped stage).
    fn info(&self, text: &str);
    /// Something the user should look at that did not stop the run.
    fn warn(&self, text: &str);
    /// Whether information lines and bars are off (`run -q`); child processes are told too.
    fn is_quiet(&self) -> bool {
        false
    }
}

/// Reports nothing.
pub struct Silent;

struct NoProgress;

impl Progress for NoProgress {
    fn inc(&self, _n: u64) {}
}

impl Reporter for Silent {
    fn progress(&self, _label: &str, _total: u64) -> Box<dyn Progress + '_> {
        Box::new(NoProgress)
    }
    fn info(&self, _text: &str) {}
    fn warn(&self, _text: &str) {}
}
