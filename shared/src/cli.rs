//! Flags every tool shares, spelled the same everywhere, plus configuration layering.
//!
//! Layering is flag > environment > `.env` > default: [`load_dotenv`] fills the environment
//! from `.env` without overriding variables already set, then clap reads flags with `env`
//! fallbacks.

use clap::Args;
use std::path::PathBuf;

/// Output, logging and run-control flags.
#[derive(Args, Debug, Clone, Default, serde::Serialize)]
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
    /// Also write the report as one self-contained HTML page here.
    #[arg(long, env = "FERRY_REPORT_HTML", value_name = "FILE")]
    pub report_html: Option<PathBuf>,
    /// Log lines as text, or as one JSON object per line (for log collectors).
    #[arg(long, env = "FERRY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// Progress display: `auto` draws a bar on a terminal (not when stdin is a pipe: the
    /// upstream tool draws), plain lines otherwise; `always` draws even behind a pipe;
    /// `never` shows none.
    #[arg(long, env = "FERRY_PROGRESS", value_enum, default_value_t = ProgressMode::Auto, global = true)]
    pub progress: ProgressMode,
}

/// `--log-format`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `--progress`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProgressMode {
    /// A bar on a terminal unless stdin is a pipe; plain lines off a terminal.
    #[default]
    Auto,
    /// A bar on a terminal even when stdin is a pipe.
    Always,
    /// No progress display.
    Never,
}

/// Flags of tools that write rows somewhere and can reject some.
#[derive(Args, Debug, Clone, serde::Serialize)]
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
#[derive(Args, Debug, Clone, serde::Serialize)]
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

/// The whole of a tool's `main` around its `run`: `.env`, the command line, the exit code.
pub fn main_with<T: clap::Parser>(
    tool: &str,
    run: impl FnOnce(T) -> anyhow::Result<crate::Exit>,
) -> std::process::ExitCode {
    main_parsed(
        tool,
        |argv| {
            let mut m = named::<T>(tool).try_get_matches_from(argv)?;
            T::from_arg_matches_mut(&mut m)
        },
        run,
    )
}

/// `T`'s command under the tool's own name, so `--version` and the usage line say `extract`,
/// not the crate the tool lives in.
pub fn named<T: clap::CommandFactory>(tool: &str) -> clap::Command {
    T::command()
        .name(tool.to_string())
        .bin_name(tool.to_string())
        .display_name(tool.to_string())
}

/// [`main_with`] for a command line built at run time (`parse` gets the process's argv).
/// `--help` and `--version` print and exit 0 (clap's own); any other command-line error is
/// one line like every other error (what is wrong, clap's tip, where to read more), exit 2.
/// `FERRY_GENERATE=bash|zsh|fish|man` prints the tool's completion script or man page
/// instead of running it (what `make install` installs).
pub fn main_parsed<T: clap::CommandFactory>(
    tool: &str,
    parse: impl FnOnce(Vec<std::ffi::OsString>) -> Result<T, clap::Error>,
    run: impl FnOnce(T) -> anyhow::Result<crate::Exit>,
) -> std::process::ExitCode {
    if let Ok(kind) = std::env::var("FERRY_GENERATE") {
        return crate::exit::finish(tool, generate(named::<T>(tool), &kind));
    }
    load_dotenv();
    let supports_resume = T::command()
        .get_arguments()
        .any(|a| a.get_long() == Some("resume"));
    crate::run::begin(tool, supports_resume);
    match parse(std::env::args_os().collect()) {
        Ok(args) => crate::exit::finish(tool, run(args)),
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => crate::exit::finish(tool, Err(usage_error(tool, &e).into())),
    }
}

/// Writes `cmd`'s completion script for a shell (`bash`, `zsh`, `fish`) or its man page
/// (`man`) to stdout.
fn generate(mut cmd: clap::Command, kind: &str) -> anyhow::Result<crate::Exit> {
    use clap_complete::Shell;
    use std::io::Write as _;
    let name = cmd.get_name().to_string();
    // Rendered to memory first: clap_complete panics on a write error (`| head`).
    let mut out = Vec::new();
    let shell = match kind {
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        "fish" => Shell::Fish,
        "man" => {
            clap_mangen::Man::new(cmd).render(&mut out)?;
            std::io::stdout().lock().write_all(&out)?;
            return Ok(crate::Exit::Ok);
        }
        other => {
            return Err(crate::FerryError::Usage(format!(
                "FERRY_GENERATE={other}: expected bash, zsh, fish or man"
            ))
            .into())
        }
    };
    clap_complete::generate(shell, &mut cmd, name, &mut out);
    std::io::stdout().lock().write_all(&out)?;
    Ok(crate::Exit::Ok)
}

/// Parses `argv` as `A` plus `--input FILE`, the same as `A`'s positional argument
/// `input` (the S9 document's `--input FILE` spelling of a tool's input); both at once is
/// a usage error. Not a field of `A`, because orchestrators build `A` and hand it over as
/// flags ([`to_argv`]) with the positional form.
pub fn parse_with_input_flag<A, I, T>(tool: &str, argv: I) -> Result<A, clap::Error>
where
    A: clap::CommandFactory + clap::FromArgMatches + InputArg,
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cmd = named::<A>(tool).arg(
        clap::Arg::new("input_flag")
            .long("input")
            .value_name("FILE")
            .value_parser(clap::value_parser!(PathBuf))
            .conflicts_with("input")
            .help("The input, as the positional FILE (`-`: stdin)")
            .display_order(0),
    );
    let mut m = cmd.try_get_matches_from(argv)?;
    let flag = m.remove_one::<PathBuf>("input_flag");
    let mut args = A::from_arg_matches_mut(&mut m)?;
    if let Some(f) = flag {
        args.set_input(f);
    }
    Ok(args)
}

/// A tool's arguments with a positional input, for [`parse_with_input_flag`].
pub trait InputArg {
    /// Sets the input.
    fn set_input(&mut self, path: PathBuf);
}

/// A clap error as one line: its message and tips, without the usage block.
pub fn usage_error(tool: &str, e: &clap::Error) -> crate::FerryError {
    let text = e.render().to_string();
    let msg = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more"))
        .map(|l| l.strip_prefix("error: ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("; ");
    crate::FerryError::Usage(format!("{msg} (see {tool} --help)"))
}

/// Loads `.env` from the working directory (or `FERRY_ENV_FILE`) without overriding the
/// environment. Called before clap parses, so `.env` values act as env fallbacks. Only the
/// working directory: a `.env` in a parent folder (another project's credentials) is never
/// read, unlike `dotenvy::dotenv`.
pub fn load_dotenv() {
    let path = std::env::var_os("FERRY_ENV_FILE").map_or_else(
        || std::path::PathBuf::from(".env"),
        std::path::PathBuf::from,
    );
    let _ = dotenvy::from_path(path);
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

/// The flags `T` takes from the environment and its defaults alone: what a tool would see
/// with no flags given. A caller then sets the fields it means, typed.
pub fn from_env<T: clap::Args>() -> T {
    #[derive(clap::Parser)]
    struct Only<A: clap::Args> {
        #[command(flatten)]
        inner: A,
    }
    <Only<T> as clap::Parser>::parse_from(["ferry"]).inner
}

/// The command line that makes `T`'s parser return `args`: how one tool starts another from
/// a typed value, so a renamed field breaks the build and a renamed flag follows by itself
/// (each field is written under the flag clap derives for it). `None` fields are left out
/// (the started tool then reads its environment, as it would when run by hand).
pub fn to_argv<T: clap::CommandFactory + serde::Serialize>(
    args: &T,
) -> Result<Vec<String>, crate::FerryError> {
    let value = serde_json::to_value(args)
        .map_err(|e| crate::FerryError::Failed(format!("command line of a step: {e}")))?;
    let serde_json::Value::Object(mut fields) = value else {
        return Err(crate::FerryError::Failed(
            "command line of a step: not a struct".into(),
        ));
    };
    let cmd = T::command();
    let mut flags = Vec::new();
    let mut positional: Vec<(usize, String)> = Vec::new();
    for arg in cmd.get_arguments() {
        let Some(v) = fields.remove(arg.get_id().as_str()) else {
            continue;
        };
        if arg.is_positional() {
            let index = arg.get_index().unwrap_or(usize::MAX);
            positional.extend(scalars(&v).into_iter().map(|s| (index, s)));
            continue;
        }
        let flag = match (arg.get_long(), arg.get_short()) {
            (Some(l), _) => format!("--{l}"),
            (None, Some(s)) => format!("-{s}"),
            (None, None) => continue,
        };
        push_flag(&mut flags, &flag, arg.get_action(), &v);
    }
    if let Some(k) = fields.keys().next() {
        return Err(crate::FerryError::Failed(format!(
            "command line of {}: field {k:?} is not one of its flags",
            cmd.get_name()
        )));
    }
    positional.sort_by_key(|(i, _)| *i);
    flags.extend(positional.into_iter().map(|(_, s)| s));
    Ok(flags)
}

/// One field as flags: a switch when true, a count as repeats, a list as repeats, a value.
fn push_flag(out: &mut Vec<String>, flag: &str, action: &clap::ArgAction, v: &serde_json::Value) {
    match (action, v) {
        (clap::ArgAction::SetTrue, serde_json::Value::Bool(b)) => {
            if *b {
                out.push(flag.to_string());
            }
        }
        (clap::ArgAction::Count, serde_json::Value::Number(n)) => {
            for _ in 0..n.as_u64().unwrap_or(0) {
                out.push(flag.to_string());
            }
        }
        _ => {
            for s in scalars(v) {
                out.push(flag.to_string());
                out.push(s);
            }
        }
    }
}

/// A field's values as text: nothing for null, each element of a list.
fn scalars(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::Null => Vec::new(),
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(a) => a.iter().flat_map(scalars).collect(),
        other => vec![other.to_string()],
    }
}

#[cfg(test)]
mod argv_tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug, serde::Serialize)]
    struct Tool {
        #[arg(value_name = "FILE")]
        input: Option<PathBuf>,
        #[arg(long = "entity")]
        entities: Vec<String>,
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[arg(long, default_value_t = 4)]
        segments: u32,
        #[command(flatten)]
        #[serde(flatten)]
        run: RunArgs,
        #[command(flatten)]
        #[serde(flatten)]
        common: CommonArgs,
    }

    #[test]
    fn argv_parses_back_to_the_same_value() {
        let t = Tool {
            input: Some("in put.ndjson".into()),
            entities: vec!["buyers".into(), "sales".into()],
            output: None,
            segments: 7,
            run: RunArgs {
                resume: true,
                checkpoint: Some("cp.json".into()),
                dry_run: false,
                rejects: None,
                max_rejects: 5,
            },
            common: CommonArgs {
                verbose: 2,
                report: Some("r.json".into()),
                ..CommonArgs::default()
            },
        };
        let argv = to_argv(&t).expect("argv");
        assert_eq!(argv.last().map(String::as_str), Some("in put.ndjson"));
        assert!(
            argv.windows(2).any(|w| w == ["--entity", "sales"]),
            "{argv:?}"
        );
        let back = Tool::try_parse_from(std::iter::once("tool".to_string()).chain(argv.clone()))
            .expect("parse");
        assert_eq!(
            serde_json::to_value(&back).expect("json"),
            serde_json::to_value(&t).expect("json"),
            "{argv:?}"
        );
    }
}
