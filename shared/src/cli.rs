//! Flags every tool shares, spelled the same everywhere, plus configuration layering.
//!
//! Layering is flag > environment > `.env` > default: [`load_dotenv`] fills the environment
//! from `.env` without overriding variables already set, then clap reads flags with `env`
//! fallbacks.

use clap::Args;
use std::path::PathBuf;

/// Output, logging and run-control flags.
#[derive(Args, Debug, Clone, Default)]
pub struct CommonArgs {
    /// More log output (-v: debug, -vv: trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors on stderr; no progress.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Also write the log (at debug level) to this file.
    #[arg(long, env = "FERRY_LOG_FILE", value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// Append warnings and errors (rejects, retries given up, failures) to FILE as well.
    #[arg(long, env = "FERRY_ERROR_LOG_FILE", value_name = "FILE")]
    pub error_log_file: Option<PathBuf>,
    /// Write the JSON run report here (the summary table always goes to stderr).
    #[arg(long, env = "FERRY_REPORT", value_name = "FILE")]
    pub report: Option<PathBuf>,
}

/// Flags of tools that write rows somewhere and can reject some.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Continue after the last committed unit recorded in the checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Checkpoint file (default: derived from the input, output or target).
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Read, convert and validate everything, write nothing to the target.
    #[arg(long)]
    pub dry_run: bool,
    /// Rejected rows go here as NDJSON with file, line, table, column, value and reason.
    #[arg(long, env = "FERRY_REJECTS", value_name = "FILE")]
    pub rejects: Option<PathBuf>,
    /// Stop (exit 3) after this many rejected rows; 0 means no limit.
    #[arg(
        long,
        env = "FERRY_MAX_REJECTS",
        default_value_t = 1000,
        value_name = "N"
    )]
    pub max_rejects: u64,
}

/// The rows-per-commit flag of the row-moving tools. Separate from [`RunArgs`] because
/// `load-dynamo`'s batch is a DynamoDB request (at most 25 items), with its own default.
#[derive(Args, Debug, Clone)]
pub struct BatchArgs {
    /// Rows per committed unit (batch, page, checkpoint step).
    #[arg(
        long,
        env = "FERRY_BATCH_SIZE",
        default_value_t = 50_000,
        value_name = "N"
    )]
    pub batch_size: usize,
}

/// Loads `.env` from the working directory (or `FERRY_ENV_FILE`) without overriding the
/// environment. Called before clap parses, so `.env` values act as env fallbacks.
pub fn load_dotenv() {
    match std::env::var_os("FERRY_ENV_FILE") {
        Some(p) => {
            let _ = dotenvy::from_path(p);
        }
        None => {
            let _ = dotenvy::dotenv();
        }
    }
}

/// A name safe for a file: letters, digits, `-`, `_`, `.`; everything else becomes `_`.
pub fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Replaces every `${NAME}` in `text` with the environment variable's value, so passwords
/// stay out of configuration files. An unset variable or an unterminated `${` is a usage
/// error naming it: connecting with an empty password would fail later and less clearly.
///
/// Apply it to parsed values (see [`interpolate_json`]), never to a file's text: a value
/// holding `"` or `\` would otherwise break the file's syntax.
pub fn interpolate(text: &str) -> crate::Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let j = after.find('}').ok_or_else(|| {
            crate::FerryError::Usage(format!("configuration: unterminated ${{ in {text:?}"))
        })?;
        let name = &after[..j];
        let value = std::env::var(name).map_err(|_| {
            crate::FerryError::Usage(format!(
                "configuration: ${{{name}}} is not set (export it or put it in .env)"
            ))
        })?;
        out.push_str(&value);
        rest = &after[j + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// [`interpolate`] applied to every string inside a parsed JSON document.
pub fn interpolate_json(value: &mut serde_json::Value) -> crate::Result<()> {
    match value {
        serde_json::Value::String(s) if s.contains("${") => *s = interpolate(s)?,
        serde_json::Value::Array(items) => {
            for v in items {
                interpolate_json(v)?;
            }
        }
        serde_json::Value::Object(map) => {
            for v in map.values_mut() {
                interpolate_json(v)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_values_not_text() {
        std::env::set_var("FERRY_CLI_TEST_PW", "a\"b\\c");
        let mut v = serde_json::json!({"db": {"password": "${FERRY_CLI_TEST_PW}", "n": 3},
                                       "list": ["x${FERRY_CLI_TEST_PW}y"]});
        interpolate_json(&mut v).expect("interpolate");
        assert_eq!(v["db"]["password"], "a\"b\\c");
        assert_eq!(v["list"][0], "xa\"b\\cy");
        assert_eq!(v["db"]["n"], 3);
        let e = interpolate("${FERRY_SURELY_UNSET_VAR}").expect_err("unset");
        assert!(
            e.to_string()
                .contains("${FERRY_SURELY_UNSET_VAR} is not set"),
            "{e}"
        );
        assert!(interpolate("broken ${X").is_err());
        assert_eq!(interpolate("no vars").expect("plain"), "no vars");
    }
}
