//! The `gateway` command: run the service, check submissions offline, check the configuration.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use gateway::config::{Config, LogFormat};

#[derive(Parser)]
#[command(
    name = "gateway",
    version,
    about = "Ingestion gateway of Long An's Hệ thống 1022"
)]
struct Cli {
    /// Configuration file (TOML); every key can be overridden by GATEWAY_* environment variables.
    #[arg(long, global = true, env = "GATEWAY_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (HTTP API, channels, queue).
    Serve,
    /// Normalise and validate submission files offline; print one JSON verdict per file.
    Check {
        /// Validate as if now were this instant (RFC 3339).
        #[arg(long)]
        now: Option<DateTime<Utc>>,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Load and validate the configuration; print it with secrets masked.
    CheckConfig,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = Config::load(cli.config.as_deref()).context("loading the configuration")?;
    match cli.command {
        Command::Serve => {
            init_tracing(config.log_format);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(gateway::server::serve(config))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { now, files } => {
            let now = now.unwrap_or_else(|| gateway::server::clock_for(&config).now());
            let mut out = std::io::stdout().lock();
            let mut failed = false;
            for file in files {
                match gateway::offline::check_file(&file, now, &config.validation) {
                    Ok(report) => {
                        let v = gateway::offline::verdict_json(&file, &report);
                        writeln!(out, "{v}")?;
                    }
                    Err(e) => {
                        failed = true;
                        let v = serde_json::json!({"file": file.display().to_string(), "error": e.to_string()});
                        writeln!(out, "{v}")?;
                    }
                }
            }
            Ok(if failed {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::CheckConfig => {
            let mut shown = serde_json::to_value(&config)?;
            mask_secrets(&mut shown);
            println!("{}", serde_json::to_string_pretty(&shown)?);
            eprintln!("configuration is valid");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Replace the values of keys that hold secrets.
fn mask_secrets(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                let secret = ["password", "secret", "token", "key"]
                    .iter()
                    .any(|s| k.contains(s));
                if secret && !val.is_null() && !val.is_object() {
                    *val = serde_json::Value::String("***".into());
                } else {
                    mask_secrets(val);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(mask_secrets),
        _ => {}
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GATEWAY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
