//! How the worker speaks. Under `exec` (a pipeline stage) every information line and every
//! progress step is an [`Event`] on stdout, one JSON line each, which the engine renders (or
//! not, with `run -q`); otherwise information lines go to stderr. Errors always go to stderr.

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pneumo_contract::event::Event;

static EVENTS: AtomicBool = AtomicBool::new(false);

/// From now on, speak in events on stdout.
pub fn to_events() {
    EVENTS.store(true, Ordering::SeqCst);
}

fn emit(event: &Event) {
    let mut out = std::io::stdout().lock();
    // a closed pipe (the engine is gone) is no reason to fail the work
    let _ = writeln!(out, "{}", event.to_line());
    let _ = out.flush();
}

/// A line of information.
pub fn info(text: &str) {
    if EVENTS.load(Ordering::SeqCst) {
        emit(&Event::Info { text: text.into() });
    } else {
        eprintln!("{text}");
    }
}

/// A line the user should look at.
pub fn warn(text: &str) {
    if EVENTS.load(Ordering::SeqCst) {
        emit(&Event::Warn { text: text.into() });
    } else {
        eprintln!("warning: {text}");
    }
}

/// `format!` into [`info`].
#[macro_export]
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::say::info(&format!($($arg)*))
    };
}

/// Progress toward `total`, sent at most every 200 ms (and always at the end), so a fast
/// loop does not flood the pipe.
pub struct Progress {
    label: String,
    total: u64,
    last: Mutex<Option<Instant>>,
}

impl Progress {
    pub fn new(label: &str, total: u64) -> Progress {
        Progress {
            label: label.into(),
            total,
            last: Mutex::new(None),
        }
    }

    /// `done` of the total, with a short message.
    pub fn at(&self, done: u64, message: &str) {
        if !EVENTS.load(Ordering::SeqCst) {
            return;
        }
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let due = last.is_none_or(|t| t.elapsed() >= Duration::from_millis(200));
        if due || done >= self.total {
            *last = Some(Instant::now());
            emit(&Event::Progress {
                label: self.label.clone(),
                done,
                total: self.total,
                message: message.into(),
            });
        }
    }
}
