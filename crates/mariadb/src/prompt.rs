//! The document's terminal prompts: asked on stderr, answered on stdin, and only when stdin
//! is a terminal (a script or CI run never blocks on a question).

use std::io::{IsTerminal, Write};

/// Asks `prompt`; `None` when stdin is not a terminal (or cannot be read).
#[allow(clippy::print_stderr)]
pub fn ask(prompt: &str) -> Option<String> {
    if !std::io::stdin().is_terminal() {
        return None;
    }
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).ok()?;
    Some(line.trim().to_string())
}

/// The document's "Confirm: yes" before a run changes a target: on a terminal, anything
/// but `yes` stops (exit 2); without a terminal, or with `--yes`, the run goes on.
pub fn confirm_start(what: &str, yes: bool) -> ferry_shared::Result<()> {
    if yes {
        return Ok(());
    }
    match ask(&format!("{what}\nConfirm (yes/no): ")) {
        Some(a) if !a.eq_ignore_ascii_case("yes") => Err(ferry_shared::FerryError::Usage(
            "not confirmed: nothing was changed".into(),
        )),
        _ => Ok(()),
    }
}
