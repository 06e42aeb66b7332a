//! The two connections, from the document's flags (`--source-host`, `--source-user`, …) or
//! Ferry's URLs (`--source`, `FERRY_SOURCE`). Passwords travel to the steps in the
//! environment, never on their command lines.

use clap::Args;
use ferry_shared::conn::{parse_url, Endpoint, Secret};
use ferry_shared::{FerryError, Result};
use std::path::PathBuf;

/// Connection flags.
#[derive(Args, Debug, Clone, Default)]
pub struct ConnArgs {
    /// Source URL (mysql://USER@HOST:PORT/physicsstores), instead of the --source-* flags.
    #[arg(long, env = "FERRY_SOURCE", hide_env_values = true, value_name = "URL")]
    pub source: Option<String>,
    #[arg(long, value_name = "HOST")]
    pub source_host: Option<String>,
    #[arg(long, value_name = "PORT")]
    pub source_port: Option<u16>,
    #[arg(long, value_name = "USER")]
    pub source_user: Option<String>,
    /// The document's flag; prefer FERRY_SOURCE_PASSWORD or --source-password-file.
    #[arg(long, value_name = "PASSWORD", hide_env_values = true)]
    pub source_password: Option<String>,
    #[arg(long, env = "FERRY_SOURCE_PASSWORD_FILE", value_name = "FILE")]
    pub source_password_file: Option<PathBuf>,
    #[arg(long, value_name = "NAME")]
    pub source_database: Option<String>,
    /// Target URL (postgres://USER@HOST:PORT/university_inventory), instead of --target-*.
    #[arg(long, env = "FERRY_TARGET", hide_env_values = true, value_name = "URL")]
    pub target: Option<String>,
    #[arg(long, value_name = "HOST")]
    pub target_host: Option<String>,
    #[arg(long, value_name = "PORT")]
    pub target_port: Option<u16>,
    #[arg(long, value_name = "USER")]
    pub target_user: Option<String>,
    /// The document's flag; prefer FERRY_TARGET_PASSWORD or --target-password-file.
    #[arg(long, value_name = "PASSWORD", hide_env_values = true)]
    pub target_password: Option<String>,
    #[arg(long, env = "FERRY_TARGET_PASSWORD_FILE", value_name = "FILE")]
    pub target_password_file: Option<PathBuf>,
    #[arg(long, value_name = "NAME")]
    pub target_database: Option<String>,
}

/// One side, resolved: the URL the steps get (no password), the password, the endpoint.
#[derive(Debug, Clone)]
pub struct Side {
    pub url: String,
    pub password: Option<Secret>,
    pub endpoint: Endpoint,
}

/// The flags of one side, borrowed.
struct Flags<'a> {
    side: &'static str,
    scheme: &'static str,
    port: u16,
    url: Option<&'a str>,
    host: Option<&'a str>,
    port_flag: Option<u16>,
    user: Option<&'a str>,
    password: Option<&'a str>,
    password_file: Option<&'a PathBuf>,
    database: Option<&'a str>,
}

impl ConnArgs {
    /// The legacy MySQL side.
    pub fn source(&self) -> Result<Side> {
        resolve(Flags {
            side: "source",
            scheme: "mysql",
            port: 3306,
            url: self.source.as_deref(),
            host: self.source_host.as_deref(),
            port_flag: self.source_port,
            user: self.source_user.as_deref(),
            password: self.source_password.as_deref(),
            password_file: self.source_password_file.as_ref(),
            database: self.source_database.as_deref(),
        })
    }

    /// The PostgreSQL side.
    pub fn target(&self) -> Result<Side> {
        resolve(Flags {
            side: "target",
            scheme: "postgres",
            port: 5432,
            url: self.target.as_deref(),
            host: self.target_host.as_deref(),
            port_flag: self.target_port,
            user: self.target_user.as_deref(),
            password: self.target_password.as_deref(),
            password_file: self.target_password_file.as_ref(),
            database: self.target_database.as_deref(),
        })
    }
}

fn resolve(f: Flags<'_>) -> Result<Side> {
    let parts =
        f.host.is_some() || f.user.is_some() || f.database.is_some() || f.port_flag.is_some();
    let raw = match (f.url, parts) {
        (Some(_), true) if f.host.is_some() => {
            return Err(FerryError::Usage(format!(
                "give either --{0} URL or the --{0}-host/-port/-user/-database flags, not both",
                f.side
            )))
        }
        (Some(u), _) => u.to_string(),
        (None, _) => {
            let host = f.host.unwrap_or("127.0.0.1");
            let user = f.user.unwrap_or(if f.scheme == "mysql" {
                "root"
            } else {
                "postgres"
            });
            let db = f.database.ok_or_else(|| {
                FerryError::Usage(format!("no --{0} URL and no --{0}-database", f.side))
            })?;
            let mut u = url::Url::parse(&format!("{}://h/", f.scheme))
                .map_err(|e| FerryError::Usage(e.to_string()))?;
            u.set_host(Some(host))
                .map_err(|e| FerryError::Usage(format!("--{}-host {host}: {e}", f.side)))?;
            let _ = u.set_port(Some(f.port_flag.unwrap_or(f.port)));
            let _ = u.set_username(user);
            u.set_path(db);
            u.to_string()
        }
    };
    let (url, in_url) = without_password(&raw, f.side)?;
    let password = match (in_url, f.password, f.password_file) {
        (Some(p), _, _) => Some(p),
        (None, Some(p), _) => Some(p.to_string()),
        (None, None, Some(file)) => Some(read_password_file(file, f.side)?),
        (None, None, None) => {
            std::env::var(format!("FERRY_{}_PASSWORD", f.side.to_uppercase())).ok()
        }
    };
    let mut endpoint = parse_url(&url, f.side)?;
    endpoint.password = password.clone().map(Secret::new);
    Ok(Side {
        url,
        password: password.map(Secret::new),
        endpoint,
    })
}

/// The URL without its password, and the password it held.
fn without_password(raw: &str, side: &'static str) -> Result<(String, Option<String>)> {
    let mut u = url::Url::parse(raw).map_err(|e| {
        FerryError::Usage(format!(
            "--{side} {}: {e}",
            ferry_shared::conn::redact_urls(raw)
        ))
    })?;
    let pw = u.password().map(|p| {
        percent_encoding::percent_decode_str(p)
            .decode_utf8_lossy()
            .into_owned()
    });
    if pw.is_some() {
        let _ = u.set_password(None);
    }
    Ok((u.to_string(), pw))
}

fn read_password_file(file: &PathBuf, side: &str) -> Result<String> {
    let text = fs_err::read_to_string(file).map_err(|e| {
        FerryError::Usage(format!("--{side}-password-file {}: {e}", file.display()))
    })?;
    Ok(text.lines().next().unwrap_or("").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_flags_make_a_url_without_the_password() {
        let a = ConnArgs {
            source_host: Some("legacy-db".into()),
            source_user: Some("readonly_user".into()),
            source_password: Some("s3cr:t@x".into()),
            source_database: Some("physicsstores".into()),
            ..ConnArgs::default()
        };
        let s = a.source().unwrap();
        assert_eq!(s.url, "mysql://readonly_user@legacy-db:3306/physicsstores");
        assert_eq!(s.password.unwrap().expose(), "s3cr:t@x");
        let b = ConnArgs {
            target: Some("postgres://u:p%40ss@h:5433/db?sslmode=disable".into()),
            ..ConnArgs::default()
        };
        let t = b.target().unwrap();
        assert_eq!(t.url, "postgres://u@h:5433/db?sslmode=disable");
        assert_eq!(t.password.unwrap().expose(), "p@ss");
        let both = ConnArgs {
            target: Some("postgres://h/db".into()),
            target_host: Some("x".into()),
            ..ConnArgs::default()
        };
        assert!(both.target().is_err());
    }
}
