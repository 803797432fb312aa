//! The `kafkatwin` binary: run the proxy, or check a config file.

use anyhow::Context;
use clap::{Parser, Subcommand};
use kafkatwin_config::{Config, LogFormat};
use std::path::PathBuf;
use std::process::ExitCode;

/// Large fetch and produce buffers come and go with every request; glibc's malloc returns
/// them to the kernel each time (mmap threshold), costing page faults. mimalloc reuses them.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// KafkaTwin: one Kafka endpoint in front of several Kafka clusters.
///
/// Run the proxy with `kafkatwin --config config.yaml` (also `-c FILE`, or the Go-style
/// `-config FILE`). Any config key can be overridden by an environment variable:
/// `KAFKATWIN_SERVER__PORT=19092` sets `server.port`. Check a config without starting
/// anything with `kafkatwin check-config FILE`: every problem is printed with its key path
/// and line. SIGTERM drains: the proxy stops accepting, finishes in-flight requests and exits 0.
#[derive(Parser, Debug)]
#[command(name = "kafkatwin", version, verbatim_doc_comment)]
struct Cli {
    /// The YAML config file to run with.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate a config file (with environment overrides applied) and print every problem.
    CheckConfig {
        /// The YAML config file.
        file: PathBuf,
    },
    /// Read a password from standard input and print salted SCRAM-SHA-256 and SCRAM-SHA-512
    /// credentials for it, to put in an `auth.users` entry instead of the password.
    ScramCredential,
    /// Compare the configured clusters' partitions without changing anything: for every
    /// topic and partition, whether the clusters agree, one is a prefix of another (and by
    /// how much), or they diverge (and where). Exits 1 when something diverges, 2 when a
    /// cluster cannot be read. Run it before putting the proxy in front of clusters that
    /// already hold data.
    Compare {
        /// The YAML config file.
        #[arg(short = 'c', long = "config", value_name = "FILE")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    // Go-style single-dash `-config config.yaml` is a common spelling; accept it too.
    let args = std::env::args().map(|a| {
        if a == "-config" {
            "--config".to_string()
        } else {
            a
        }
    });
    let cli = Cli::parse_from(args);
    match (cli.command, cli.config) {
        (Some(Command::CheckConfig { file }), _) => check(&file),
        (Some(Command::Compare { config }), _) => compare_clusters(&config),
        (Some(Command::ScramCredential), _) => scram_credential(),
        (None, Some(file)) => match run_proxy(&file) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("kafkatwin: {e:#}");
                ExitCode::FAILURE
            }
        },
        (None, None) => {
            eprintln!("kafkatwin: no config given; run `kafkatwin --config FILE` (see --help)");
            ExitCode::from(2)
        }
    }
}

fn scram_credential() -> ExitCode {
    use kafkatwin_core::base::scram::{Credential, ScramHash};
    let mut password = String::new();
    if let Err(e) = std::io::stdin().read_line(&mut password) {
        eprintln!("kafkatwin: cannot read the password from standard input: {e}");
        return ExitCode::FAILURE;
    }
    let password = password.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        eprintln!("kafkatwin: give the password on standard input");
        return ExitCode::from(2);
    }
    for (key, hash) in [
        ("scram_sha_256", ScramHash::Sha256),
        ("scram_sha_512", ScramHash::Sha512),
    ] {
        match Credential::derive(hash, password) {
            Ok(c) => {
                let s = c.to_stored();
                println!(
                    "{key}: {{ salt: \"{}\", iterations: {}, stored_key: \"{}\", server_key: \"{}\" }}",
                    s.salt, s.iterations, s.stored_key, s.server_key
                );
            }
            Err(e) => {
                eprintln!("kafkatwin: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

fn compare_clusters(file: &std::path::Path) -> ExitCode {
    let config = match kafkatwin_config::load_file(file) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{e}");
            return ExitCode::from(2);
        }
    };
    let clusters: kafkatwin_core::base::cluster_idx::PerCluster<
        std::sync::Arc<kafkatwin_core::backend::Cluster>,
    > = kafkatwin_core::control::topology::authority_order(&config)
        .iter()
        .map(|c| {
            std::sync::Arc::new(kafkatwin_core::backend::Cluster::new(
                c,
                &config.backend,
                config.circuit_breaker,
            ))
        })
        .collect();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kafkatwin compare: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(kafkatwin_core::replication::repair::compare::report(
        &clusters,
    )) {
        Ok((lines, diverged)) => {
            for l in lines {
                println!("{l}");
            }
            if diverged {
                eprintln!(
                    "kafkatwin compare: some partitions hold different histories on different \
                     clusters; the proxy would leave them alone there until reseeded"
                );
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("kafkatwin compare: {e}");
            ExitCode::from(2)
        }
    }
}

fn check(file: &std::path::Path) -> ExitCode {
    match kafkatwin_config::load_file(file) {
        Ok(c) => {
            let mut problems: Vec<String> = kafkatwin_core::hooks::Hooks::from_config(&c)
                .err()
                .unwrap_or_default()
                .iter()
                .map(ToString::to_string)
                .collect();
            problems.extend(security_problems(&c));
            if !problems.is_empty() {
                eprintln!(
                    "{}: {} problem{} in the configuration:",
                    file.display(),
                    problems.len(),
                    if problems.len() == 1 { "" } else { "s" }
                );
                for p in problems {
                    eprintln!("  - {p}");
                }
                return ExitCode::FAILURE;
            }
            println!(
                "{}: OK ({} cluster{}, listening on {}:{})",
                file.display(),
                c.clusters.len(),
                if c.clusters.len() == 1 { "" } else { "s" },
                c.server.listen_address,
                c.server.port
            );
            for w in kafkatwin_config::validate::warnings(&c) {
                println!("warning: {w}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprint!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// What the proxy would fail on at start: certificates and keys that do not load, secrets
/// that do not resolve (named by key, never shown).
fn security_problems(c: &Config) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(t) = &c.server.tls
        && let Err(e) = kafkatwin_core::base::tls::server_config(t)
    {
        out.push(e.to_string());
    }
    for cluster in &c.clusters {
        if let Err(e) = kafkatwin_core::backend::security::Security::from_config(cluster) {
            out.push(e.to_string());
        }
    }
    if let Err(e) = kafkatwin_core::control::users::Users::new(
        &c.auth.users,
        kafkatwin_core::control::control_log::Keeping::Memory,
    ) {
        out.push(e.to_string());
    }
    out
}

fn init_logging(c: &Config) -> anyhow::Result<()> {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => {
            EnvFilter::try_new(&v).context("RUST_LOG is not a valid filter")?
        }
        _ => EnvFilter::try_new(&c.logging.level).with_context(|| {
            format!("logging.level {:?} is not a valid filter", c.logging.level)
        })?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match c.logging.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    Ok(())
}

fn run_proxy(file: &std::path::Path) -> anyhow::Result<()> {
    let config = kafkatwin_config::load_file(file).map_err(|e| anyhow::anyhow!("{e}"))?;
    init_logging(&config)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(kafkatwin_core::app::server::run(
        config,
        kafkatwin_core::app::server::shutdown_signal(),
    ))?;
    Ok(())
}
