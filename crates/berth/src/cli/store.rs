//! `berth store ...`: backups, restores and moves of the control plane's store.

use berth_store::StoreSpec;
use clap::Subcommand;
use std::path::PathBuf;

/// `berth store ...`. Run them with the servers stopped: a copy reads one consistent revision, but writes made
/// after it are not carried over.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copies every key from one store to another (e.g. `--from sqlite:berth-data/state.db --to
    /// etcd:http://h1:2379`), then reads them back and compares. Refuses a destination that holds keys unless
    /// `--force`, which deletes them first.
    Migrate {
        /// The source: `sqlite:PATH` or `etcd:URLS[?prefix=...]`.
        #[arg(long, value_name = "SPEC")]
        from: StoreSpec,
        /// The destination.
        #[arg(long, value_name = "SPEC")]
        to: StoreSpec,
        /// Replace whatever the destination holds.
        #[arg(long)]
        force: bool,
    },
    /// Writes every key of a store, read at one revision, to a file (JSON lines: a header naming the format
    /// version and the source revision, then one key per line with its value in base64). The file holds the
    /// records as stored (secrets stay sealed under the master key, which is not in it); it is created 0600.
    Backup {
        /// The store: `sqlite:PATH` or `etcd:URLS[?prefix=...]`.
        #[arg(long, value_name = "SPEC")]
        store: StoreSpec,
        /// The backup file to write (replaced if it exists).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Writes the keys of a backup into an empty store (a new SQLite file is created), then reads them back and
    /// compares. Refuses a store that holds keys.
    Restore {
        /// The store: `sqlite:PATH` or `etcd:URLS[?prefix=...]`.
        #[arg(long, value_name = "SPEC")]
        store: StoreSpec,
        /// The backup file to read.
        #[arg(long = "in", value_name = "FILE")]
        input: PathBuf,
    },
}
