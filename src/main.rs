//! The `courserec` binary: parse the command line and hand over to the library.

use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = courserec::cli::Cli::parse();
    if let Err(e) = courserec::cli::run(cli).await {
        eprintln!("courserec: {}", courserec::cli::one_line(&e));
        std::process::exit(1);
    }
}
