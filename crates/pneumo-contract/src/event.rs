//! What the worker tells the engine while it runs: JSON lines on its stdout, one
//! [`Event`] each. The engine renders them with its reporter (a bar on a terminal, plain
//! lines when piped, nothing with `run -q`), so the worker needs no terminal of its own and
//! can run on another node. A line that is not an event (libtorch writing to stdout) is
//! passed through as text.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase", deny_unknown_fields)]
pub enum Event {
    /// `done` of `total` items of the work called `label`; `message` says how it goes.
    Progress {
        label: String,
        done: u64,
        total: u64,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        message: String,
    },
    /// A line of information.
    Info { text: String },
    /// Something the user should look at that did not stop the work.
    Warn { text: String },
}

impl Event {
    /// The event as one line of JSON (no newline).
    pub fn to_line(&self) -> String {
        // an enum of strings and integers: serialising cannot fail
        serde_json::to_string(self).expect("an Event serialises to JSON")
    }

    /// The event on `line`, or `None` for a line that is not one.
    pub fn parse(line: &str) -> Option<Event> {
        let line = line.trim_end();
        if !line.starts_with("{\"event\":") {
            return None;
        }
        serde_json::from_str(line).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_leaves_other_lines_alone() {
        for e in [
            Event::Progress {
                label: "train".into(),
                done: 3,
                total: 10,
                message: "F1 0.91".into(),
            },
            Event::Info {
                text: "train: 480 images, \"quoted\"\nand a newline".into(),
            },
            Event::Warn { text: "w".into() },
        ] {
            let line = e.to_line();
            assert!(!line.contains('\n'), "{line}");
            assert_eq!(Event::parse(&line), Some(e));
        }
        assert_eq!(Event::parse("[W init.cpp] a libtorch warning"), None);
        assert_eq!(Event::parse("{\"event\":\"nonsense\"}"), None);
    }
}
