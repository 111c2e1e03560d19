//! The command line: the only place that prints to stdout or stderr.

/// `print!` that returns a failed write as an error (`?`) instead of panicking: stdout may be
/// a closed pipe (`status | head -1`) or a full disk (`> /dev/full`).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::write_out(format_args!($($arg)*))?
    };
}

/// `println!` through [`out!`].
macro_rules! outln {
    () => { out!("\n") };
    ($($arg:tt)*) => {{
        out!($($arg)*);
        out!("\n");
    }};
}

pub mod commands;
pub mod exp;
pub mod predict;
pub mod progress;

use std::io::Write;

/// A write to stdout that failed: `main` ends quietly on a closed pipe (as ripgrep does) and
/// reports anything else.
#[derive(Debug)]
pub struct Stdout(pub std::io::Error);

impl std::fmt::Display for Stdout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "writing to standard output: {}", self.0)
    }
}

impl std::error::Error for Stdout {}

pub fn write_out(args: std::fmt::Arguments<'_>) -> anyhow::Result<()> {
    std::io::stdout()
        .lock()
        .write_fmt(args)
        .map_err(|e| Stdout(e).into())
}

/// Flushes stdout at the end of a command, with the same error as a failed write.
pub fn flush_out() -> anyhow::Result<()> {
    std::io::stdout().flush().map_err(|e| Stdout(e).into())
}

/// Whether `e` is a write to a reader that has gone (a closed pipe): no error to report.
pub fn is_closed_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<Stdout>()
            .is_some_and(|s| s.0.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
