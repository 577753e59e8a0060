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
    #[command(
        long_about = "Normalise and validate submission files offline, storing nothing, \
and print one JSON object per file: what the live gateway would do with it.\n\n\
A file is an email (.eml), a Zalo OA conversation (a JSON array of webhook events) or one \
webhook event (a JSON object with event_name), or an app/portal report (the `report` JSON of \
POST /v1/reports, plus an optional \"media\" list of files relative to it).\n\n\
A report prints {\"verdict\": \"accepted\" | \"needs_review\" | \"rejected\", \"reasons\", \
\"flags\", …}; an email taken but not answered (mailing list, no-reply sender) adds \
\"unanswered\": <why>. Input the live gateway drops without a report prints \
{\"verdict\": \"ignored\", \"reason\": …, \"detail\": …}: an auto-reply (auto_submitted, \
precedence), a bounce (bounce), mail from the gateway's own address (own_address), a Zalo echo \
of the OA's own message (zalo_echo), a receipt (zalo_receipt), a follow or unfollow \
(zalo_follow, zalo_unfollow), another event (zalo_other_event), an OA not served \
(zalo_other_oa), or a conversation made only of these (zalo_no_citizen_message, with \
\"events\"). A file that cannot be read prints {\"file\", \"error\"}.\n\n\
Exit status: 0 when every file was checked, whatever its verdict (ignored included); 2 when \
a file could not be read or is not a submission; 1 when the configuration cannot be loaded."
    )]
    Check {
        /// Validate as if now were this instant (RFC 3339).
        #[arg(long)]
        now: Option<DateTime<Utc>>,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Load and validate the configuration; print it with secrets masked.
    CheckConfig,
    /// Read a console password from stdin (one line) and print its argon2id hash, to paste as
    /// `password_hash` of a `[[console.accounts]]` entry.
    ConsolePassword,
    /// Print what is read from media files: kind, media type, capture time with its source and
    /// offset, GPS (one JSON object per file).
    Inspect {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Ingest an old mailbox (Maildir, a folder of .eml files, or an mbox file) through the same
    /// pipeline as the live channel, without answering the senders; prints a summary.
    Import { path: PathBuf },
    /// Read lines on stdin; print one JSON object per line with the text checks' codes and the
    /// words behind them (`{"codes":[…],"words":[…]}`).
    CheckText,
    /// Print the gazetteer match of an address (old and new units) as JSON.
    Locate {
        /// The address, e.g. "ấp 3, xã Mỹ Yên, huyện Bến Lức".
        #[arg(required = true, num_args = 1..)]
        text: Vec<String>,
    },
    /// Rebuild the report indexes (tracking codes, running deadlines, published results,
    /// agencies' lists) from every stored report, so that reports stored before an index
    /// existed are found by it; prints `{"reindexed": <n>}`. `serve` does it once by itself.
    /// With the embedded store, run it while the gateway is stopped (the store file is locked).
    Reindex,
    /// The block list of senders (SENDER_BLOCKED, Đ13.1.e). With the embedded store, run it while
    /// the gateway is stopped (the store file is locked) or use `POST /v1/ioc/blocklist`.
    Block {
        #[command(subcommand)]
        action: BlockAction,
    },
    /// Monthly or yearly figures (R-REP-1, Đ13.4): counts by channel, field, commune, verdict
    /// and reason; time to forward and on-time share; overdue and backlog lists. Reads the
    /// store the gateway uses (with the embedded store, while the gateway is stopped, or use
    /// `GET /v1/stats`).
    #[command(group(clap::ArgGroup::new("period").required(true).args(["month", "year"])))]
    Stats {
        /// A month, YYYY-MM (Vietnam's time).
        #[arg(long)]
        month: Option<String>,
        /// A year, YYYY.
        #[arg(long)]
        year: Option<String>,
        /// `json` or `csv` (one table `section,key,value,detail`).
        #[arg(long, default_value = "json")]
        format: String,
        /// Also write the charts into this folder: by-channel, by-field and daily, each as
        /// .svg and .png.
        #[arg(long)]
        chart: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum BlockAction {
    /// Block a phone number, an email address, or an account (`zalo:<user id>`).
    Add {
        identity: String,
        /// Why (kept with the entry; no personal data).
        #[arg(long)]
        reason: String,
        /// End of the block (RFC 3339); none: until removed.
        #[arg(long)]
        until: Option<DateTime<Utc>>,
    },
    /// Unblock, by the digest that `list` prints or by the identity.
    Remove { key: String },
    /// Print the live entries, one JSON object per line (digest, masked hint, reason, dates).
    List,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", channels::intake::error_chain(e.as_ref()));
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
            let geo = gateway::server::load_geo(&config.geo)?;
            let channels = gateway::offline::CheckChannels {
                email: channels::email::email_options(&config.email.clone().unwrap_or_default()),
                zalo_oa_ids: config
                    .zalo
                    .as_ref()
                    .map(|z| z.oa_ids.clone())
                    .unwrap_or_default(),
            };
            let mut out = std::io::stdout().lock();
            let mut failed = false;
            for file in files {
                match gateway::offline::check_file(&file, now, &config.validation, geo, &channels) {
                    Ok(checked) => {
                        let v = gateway::offline::verdict_json(&file, &checked);
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
        Command::Inspect { files } => {
            let mut out = std::io::stdout().lock();
            let mut failed = false;
            for file in files {
                let v = match std::fs::File::open(&file) {
                    Ok(f) => {
                        let info =
                            normalizers::media::inspect(&mut std::io::BufReader::new(f), None);
                        let mut v = normalizers::media::inspect_json(&info);
                        if let Some(obj) = v.as_object_mut() {
                            obj.insert("file".into(), file.display().to_string().into());
                        }
                        v
                    }
                    Err(e) => {
                        failed = true;
                        serde_json::json!({"file": file.display().to_string(), "error": e.to_string()})
                    }
                };
                writeln!(out, "{v}")?;
            }
            Ok(if failed {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Reindex => {
            init_tracing(config.log_format);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            let n = runtime.block_on(async {
                let gw = gateway::server::build(config).await?;
                gw.state
                    .pipeline
                    .reindex()
                    .await
                    .context("rebuilding the report indexes")
            })?;
            println!("{}", serde_json::json!({ "reindexed": n }));
            Ok(ExitCode::SUCCESS)
        }
        Command::Import { path } => {
            init_tracing(config.log_format);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            let summary = runtime.block_on(import(config, &path))?;
            println!("{}", serde_json::to_string_pretty(&summary)?);
            Ok(if summary.failed + summary.unreadable > 0 {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::ConsolePassword => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("reading the password from stdin")?;
            let password = line.trim_end_matches(['\r', '\n']);
            anyhow::ensure!(
                password.chars().count() >= 12,
                "a console password has at least 12 characters"
            );
            println!("{}", gateway::http::console::hash_password(password)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckText => {
            use std::io::BufRead;
            let mut out = std::io::stdout().lock();
            for line in std::io::stdin().lock().lines() {
                let line = line.context("reading stdin")?;
                writeln!(out, "{}", normalizers::vietnamese::check_text_line(&line))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Block { action } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(block(config, action))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Stats {
            month,
            year,
            format,
            chart,
        } => {
            let period: gateway::stats::Period = month
                .or(year)
                .unwrap_or_default()
                .parse()
                .context("the period")?;
            let format: gateway::stats::Format =
                format.parse().map_err(|e: String| anyhow::anyhow!(e))?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(stats(config, period, format, chart))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Locate { text } => {
            let geo = gateway::server::load_geo(&config.geo)?;
            let v = normalizers::geo::locate_json(geo, &text.join(" "));
            println!("{}", serde_json::to_string_pretty(&v)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig => {
            // Secrets are `Secret`s: their serialisation is masked.
            println!("{}", serde_json::to_string_pretty(&config)?);
            let problems = config_problems(&config);
            for problem in &problems {
                eprintln!("{problem}");
            }
            if problems
                .iter()
                .any(|p| p.severity == channels::Severity::Error)
            {
                eprintln!("configuration has errors");
                return Ok(ExitCode::from(2));
            }
            eprintln!("configuration is valid");
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn import(
    mut config: Config,
    path: &std::path::Path,
) -> anyhow::Result<channels::email::ImportSummary> {
    // Reporter digests (duplicates, block list) are keyed as the serving gateway keys them.
    config.ensure_identity_pepper()?;
    let email = config.email.clone().unwrap_or_default();
    let reader = channels::email::open_mailbox(path)
        .with_context(|| format!("opening the mailbox {}", path.display()))?;
    let gw = gateway::server::build(config).await?;
    let store = gateway::server::channel_store(&gw.state);
    let processor = channels::email::Processor {
        intake: gw.state.pipeline.clone(),
        streams: store.clone(),
        state: store,
        options: channels::email::email_options(&email),
        reply_rate_per_hour: email.reply_rate_per_hour,
        reply_global_rate_per_hour: email.reply_global_rate_per_hour,
        send_replies: false,
        stats: Default::default(),
    };
    let bar = match reader.total {
        Some(n) => indicatif::ProgressBar::new(n as u64),
        None => indicatif::ProgressBar::new_spinner(),
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {pos}/{len} messages [{elapsed}] {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let summary = channels::email::import(reader, &processor, |n| bar.set_position(n))
        .await
        .map_err(|e| anyhow::anyhow!("import stopped: {e}"))?;
    bar.finish_and_clear();
    Ok(summary)
}

/// The problems of every configured channel, errors and warnings.
fn config_problems(config: &Config) -> Vec<channels::ConfigProblem> {
    use channels::ChannelConfig;
    fn of<C: ChannelConfig>(section: Option<&C>) -> Vec<channels::ConfigProblem> {
        section
            .filter(|c| c.configured())
            .map(C::problems)
            .unwrap_or_default()
    }
    let mut problems = of(config.email.as_ref());
    problems.extend(of(config.zalo.as_ref()));
    problems.extend(config.rate_limits.problems());
    if config.queue.channel_claim_timeout_secs == 0 {
        problems.push(channels::ConfigProblem::error(
            "queue.channel_claim_timeout_secs",
            channels::Problem::Invalid("must be at least 1".into()),
        ));
    }
    if let Some(zalo) = config.zalo.as_ref().filter(|z| z.configured()) {
        let held = zalo.lock_ttl_secs + 2 * config.queue.channel_claim_timeout_secs;
        if zalo.order_gap_secs < held {
            problems.push(channels::ConfigProblem::warning(
                "zalo.order_gap_secs",
                channels::Problem::Invalid(format!(
                    "below zalo.lock_ttl_secs plus twice queue.channel_claim_timeout_secs \
                     ({held}s): an event held by an instance that died may be skipped and \
                     applied out of order"
                )),
            ));
        }
    }
    for (i, account) in config.console.accounts.iter().enumerate() {
        if !gateway::http::console::is_password_hash(&account.password_hash) {
            problems.push(channels::ConfigProblem::error(
                format!("console.accounts[{i}].password_hash"),
                channels::Problem::Invalid(
                    "not an argon2id hash: paste what `gateway console-password` prints".into(),
                ),
            ));
        }
        if account.username.trim().is_empty() {
            problems.push(channels::ConfigProblem::error(
                format!("console.accounts[{i}].username"),
                channels::Problem::Invalid("empty".into()),
            ));
        }
    }
    match gateway::trail::load_calendar(&config.calendar) {
        Ok(cal) => {
            if let Some(date) =
                gateway::trail::uncovered_date(&cal, gateway::server::clock_for(config).now(), 60)
            {
                problems.push(channels::ConfigProblem::warning(
                    "calendar.holiday_files",
                    channels::Problem::Invalid(format!(
                        "no holiday file covers {date} (within 60 days): deadlines count Monday to Friday only there"
                    )),
                ));
            }
        }
        Err(e) => problems.push(channels::ConfigProblem::error(
            "calendar.holiday_files",
            channels::Problem::Invalid(e.to_string()),
        )),
    }
    if config.track.lookups_per_minute == 0 {
        problems.push(channels::ConfigProblem::error(
            "track.lookups_per_minute",
            channels::Problem::Invalid("must be at least 1".into()),
        ));
    }
    if config.uses_redis() {
        problems.extend(config.redis.problems());
    }
    problems.extend(config.heavy_work.problems());
    problems.extend(config.app_tokens.problems());
    problems.extend(config.messages.problems());
    problems.extend(config.portal_problems());
    if config.uses_redis() && config.duplicates.identity_pepper.is_empty() {
        // `serve` refuses this: every instance on one Redis must key digests alike.
        problems.push(channels::ConfigProblem::error(
            "duplicates.identity_pepper",
            channels::Problem::Missing(
                "the instances sharing Redis need one pepper (GATEWAY_DUPLICATES__IDENTITY_PEPPER)",
            ),
        ));
    }
    problems
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

async fn stats(
    config: Config,
    period: gateway::stats::Period,
    format: gateway::stats::Format,
    chart_dir: Option<PathBuf>,
) -> anyhow::Result<()> {
    use gateway::stats::chart::{self, Chart, ImageFormat};
    let gw = gateway::server::build(config).await?;
    let figures = gateway::stats::compute(&gw.state.pipeline, period).await?;
    if let Some(dir) = &chart_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the chart folder {}", dir.display()))?;
        for which in Chart::ALL {
            for image in [ImageFormat::Svg, ImageFormat::Png] {
                let bytes = chart::render(which, image, period, &figures)?;
                let path = dir.join(format!("{}.{}", which.name(), image.extension()));
                std::fs::write(&path, bytes)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
    }
    let mut out = std::io::stdout().lock();
    match format {
        gateway::stats::Format::Json => {
            writeln!(out, "{}", serde_json::to_string_pretty(&figures)?)?
        }
        gateway::stats::Format::Csv => write!(out, "{}", gateway::stats::to_csv(&figures))?,
    }
    Ok(())
}

async fn block(mut config: Config, action: BlockAction) -> anyhow::Result<()> {
    // Digests are keyed with the serving gateway's pepper (generated on first use).
    config.ensure_identity_pepper()?;
    let gw = gateway::server::build(config).await?;
    let pipeline = &gw.state.pipeline;
    match action {
        BlockAction::Add {
            identity,
            reason,
            until,
        } => {
            let request = gateway::blocklist::BlockRequest {
                identity,
                reason,
                expires_at: until,
                added_by: Some("cli".into()),
            };
            let entry = pipeline.block(&request).await?;
            println!("{}", serde_json::to_string(&entry)?);
        }
        BlockAction::Remove { key } => {
            if !pipeline.unblock(&key).await? {
                anyhow::bail!("this sender is not blocked");
            }
        }
        BlockAction::List => {
            for entry in pipeline.blocked().await? {
                println!("{}", serde_json::to_string(&entry)?);
            }
        }
    }
    Ok(())
}
